/** UUIDs as the 16 bytes the wire carries. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

export function uuidToBytes(id: string): Buffer {
  if (!UUID.test(id)) throw new Error(`expected a UUID, got "${id}"`);
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

const cache = new Map<string, Buffer>();

/** Writes a UUID's 16 bytes (cached: a daemon talks to a bounded set of nodes). */
export function writeUuid(id: string, buf: Buffer, offset: number): void {
  let bytes = cache.get(id);
  if (!bytes) {
    bytes = uuidToBytes(id);
    if (cache.size > 200_000) cache.clear();
    cache.set(id, bytes);
  }
  bytes.copy(buf, offset);
}

const readCache = new Map<string, string>();

/** Reads a UUID (cached by its raw bytes: a daemon hears from a bounded set of nodes). */
export function readUuid(buf: Uint8Array, offset: number): string {
  const raw = Buffer.from(buf.buffer, buf.byteOffset + offset, 16);
  const key = raw.toString('latin1');
  let id = readCache.get(key);
  if (id === undefined) {
    const h = raw.toString('hex');
    id = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    if (readCache.size > 200_000) readCache.clear();
    readCache.set(key, id);
  }
  return id;
}
