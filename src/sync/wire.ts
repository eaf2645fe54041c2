/**
 * The datagram format (docs/sync-protocol.md has the table). Every datagram carries a fixed 54-byte
 * header, a payload (one fragment of a message) and an HMAC-SHA256 over everything before it.
 */
import {MAC_BYTES, mac, macEqual, type MacKey} from './crypto.js';
import {readUuid, writeUuid} from './uuid.js';

export const MAGIC0 = 0x4c; // 'L'
export const MAGIC1 = 0x43; // 'C'
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 54;
export const OVERHEAD_BYTES = HEADER_BYTES + MAC_BYTES;

/** Message types. 1-15 are keyed with the join key, 16+ with the session key. */
export const MsgType = {
  PHONE_HOME: 1,
  WELCOME: 2,
  REFUSE: 3,
  RESYNC: 4,
  HELLO: 16,
  STATE: 17,
  BYE: 18,
  NACK: 19,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MsgType).map(([k, v]) => [v, k.toLowerCase()]));

export function isJoinKeyed(type: number): boolean {
  return type < 16;
}

/** HELLO flag: the sender asks for a HELLO back (the parent's periodic hello; the child's answer carries no flag). */
export const FLAG_REPLY = 1;
/** STATE flag: the recipient has this version already (a periodic full state): no acknowledgement needed. */
export const FLAG_NOACK = 4;
/** HELLO flag (parent → child): send your full state (the parent's copy of a child-owned value was reset here). */
export const FLAG_FULL = 2;

export interface Header {
  type: number;
  flags: number;
  sender: string;
  recipient: string;
  session: number;
  seq: number;
  msgId: number;
  fragIndex: number;
  fragCount: number;
}

export interface Datagram extends Header {
  payload: Buffer;
  /** The whole datagram, for verification. */
  raw: Buffer;
}

export function encodeDatagram(h: Header, payload: Uint8Array, key: MacKey): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length + MAC_BYTES);
  buf[0] = MAGIC0;
  buf[1] = MAGIC1;
  buf[2] = PROTOCOL_VERSION;
  buf[3] = h.type;
  buf[4] = h.flags;
  buf[5] = 0;
  writeUuid(h.sender, buf, 6);
  writeUuid(h.recipient, buf, 22);
  buf.writeUInt32BE(h.session >>> 0, 38);
  buf.writeUInt32BE(h.seq >>> 0, 42);
  buf.writeUInt32BE(h.msgId >>> 0, 46);
  buf.writeUInt16BE(h.fragIndex, 50);
  buf.writeUInt16BE(h.fragCount, 52);
  buf.set(payload, HEADER_BYTES);
  const end = HEADER_BYTES + payload.length;
  mac(key, buf.subarray(0, end)).copy(buf, end);
  return buf;
}

export type DecodeError = 'malformed' | 'bad_version';

/** Parses the header without verifying anything; the caller picks the key from it and then calls verify(). */
export function decodeDatagram(buf: Buffer): Datagram | DecodeError {
  if (buf.length < OVERHEAD_BYTES || buf[0] !== MAGIC0 || buf[1] !== MAGIC1) return 'malformed';
  if (buf[2] !== PROTOCOL_VERSION) return 'bad_version';
  const fragCount = buf.readUInt16BE(52);
  const fragIndex = buf.readUInt16BE(50);
  if (fragCount === 0 || fragIndex >= fragCount) return 'malformed';
  return {
    type: buf[3]!,
    flags: buf[4]!,
    sender: readUuid(buf, 6),
    recipient: readUuid(buf, 22),
    session: buf.readUInt32BE(38),
    seq: buf.readUInt32BE(42),
    msgId: buf.readUInt32BE(46),
    fragIndex,
    fragCount,
    payload: buf.subarray(HEADER_BYTES, buf.length - MAC_BYTES),
    raw: buf,
  };
}

export function verifyDatagram(d: Datagram, key: MacKey): boolean {
  const end = d.raw.length - MAC_BYTES;
  return macEqual(mac(key, d.raw.subarray(0, end)), d.raw.subarray(end));
}

/** Splits a message into fragments that fit in datagrams of at most maxDatagram bytes. */
export function fragment(payload: Buffer, maxDatagram: number): Buffer[] {
  const room = maxDatagram - OVERHEAD_BYTES;
  if (room <= 0) throw new Error(`maxDatagram ${maxDatagram} leaves no room for a payload`);
  if (payload.length <= room) return [payload];
  const parts: Buffer[] = [];
  for (let at = 0; at < payload.length; at += room) parts.push(payload.subarray(at, Math.min(payload.length, at + room)));
  if (parts.length > 0xffff) throw new Error(`message of ${payload.length} bytes needs more than 65535 fragments`);
  return parts;
}

/** HELLO payload: the sender's state version and its acknowledgement of the recipient's (two uint32). */
export function encodeHello(version: number, ack: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(version >>> 0, 0);
  b.writeUInt32BE(ack >>> 0, 4);
  return b;
}

export function decodeHello(p: Buffer): {version: number; ack: number} | undefined {
  if (p.length !== 8) return undefined;
  return {version: p.readUInt32BE(0), ack: p.readUInt32BE(4)};
}
