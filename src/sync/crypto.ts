/**
 * Keys of the sync protocol. Nothing secret travels on the wire: both sides derive their keys with
 * HKDF-SHA256 (RFC 5869) from the per-node join secret they already share.
 *
 *   joinKey    = HKDF(secret, salt "layercake-sync/1",     info "join"    | childId)                       32 bytes
 *   sessionKey = HKDF(secret, salt childNonce | parentNonce, info "session" | childId | parentId | sessionId) 32 bytes
 *
 * The join key authenticates the phone-home exchange; the session key (fresh nonces from both sides)
 * authenticates every datagram of one session.
 */
import {createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject} from 'node:crypto';
import {uuidToBytes} from './uuid.js';

export const MAC_BYTES = 32;
export const NONCE_BYTES = 16;
export const SECRET_BYTES = 32;

const JOIN_SALT = Buffer.from('layercake-sync/1');

/** A join secret as stored and typed: 64 hex digits (32 bytes). */
export function parseJoinSecret(text: string, where = 'join secret'): Buffer {
  const t = text.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(t)) throw new Error(`${where}: expected 64 hex digits (32 bytes), got ${t.length} characters`);
  return Buffer.from(t, 'hex');
}

export function newJoinSecret(): string {
  return randomBytes(SECRET_BYTES).toString('hex');
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

function hkdf(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

export function deriveJoinKey(secret: Buffer, childId: string): Buffer {
  return hkdf(secret, JOIN_SALT, Buffer.concat([Buffer.from('join'), uuidToBytes(childId)]));
}

export function deriveSessionKey(secret: Buffer, childId: string, parentId: string, sessionId: number, childNonce: Buffer, parentNonce: Buffer): Buffer {
  const sid = Buffer.alloc(4);
  sid.writeUInt32BE(sessionId >>> 0);
  const info = Buffer.concat([Buffer.from('session'), uuidToBytes(childId), uuidToBytes(parentId), sid]);
  return hkdf(secret, Buffer.concat([childNonce, parentNonce]), info);
}

/** A MAC key: raw bytes, or (cheaper per datagram) a KeyObject made once with macKey(). */
export type MacKey = Buffer | KeyObject;

export function macKey(bytes: Buffer): KeyObject {
  return createSecretKey(bytes);
}

export function mac(key: MacKey, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
