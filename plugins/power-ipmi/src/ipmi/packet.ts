/**
 * RMCP datagrams: the IPMI v1.5 session wrapper (only used unauthenticated, for Get Channel
 * Authentication Capabilities before a session exists) and the IPMI v2.0 / RMCP+ session wrapper
 * with its integrity trailer (HMAC-SHA1-96, §13.28.4) and AES-CBC-128 confidentiality (§13.29).
 */
import {createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual} from 'node:crypto';
import {
  AUTHTYPE_NONE, AUTHTYPE_RMCP_PLUS, PAYLOAD_AUTHENTICATED, PAYLOAD_ENCRYPTED, RMCP_CLASS_IPMI, RMCP_HEADER,
} from './constants.js';

/** The keys of an active session; absent for the unauthenticated session set-up messages. */
export interface SessionKeys {
  /** Integrity key K1 (20 bytes), or undefined when the suite has no integrity algorithm. */
  integrity?: Buffer;
  /** AES-128 key (the first 16 bytes of K2), or undefined when the suite has no confidentiality. */
  confidentiality?: Buffer;
}

/** Length of the HMAC-SHA1-96 authentication code. */
export const AUTHCODE_LENGTH = 12;
/** Offset of the session header (authentication type byte) after the 4-byte RMCP header. */
const SESSION_OFFSET = RMCP_HEADER.length;

/** An IPMI v1.5 datagram with authentication type none, session id 0 and sequence 0. */
export function encodeV15(message: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header[0] = AUTHTYPE_NONE;
  // sequence (4) and session id (4) stay 0
  header[9] = message.length;
  return Buffer.concat([RMCP_HEADER, header, message]);
}

export interface V20Packet {
  payloadType: number;
  sessionId: number;
  sequence: number;
  payload: Buffer;
}

export function encryptPayload(key: Buffer, plain: Buffer, iv: Buffer = randomBytes(16)): Buffer {
  // Confidentiality trailer: pad bytes 1, 2, 3, ... then the pad length, to a multiple of 16.
  const padLength = (16 - ((plain.length + 1) % 16)) % 16;
  const pad = Buffer.alloc(padLength + 1);
  for (let i = 0; i < padLength; i++) pad[i] = i + 1;
  pad[padLength] = padLength;
  const cipher = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.concat([plain, pad])), cipher.final()]);
}

export function decryptPayload(key: Buffer, payload: Buffer): Buffer | undefined {
  if (payload.length < 32 || payload.length % 16 !== 0) return undefined;
  const decipher = createDecipheriv('aes-128-cbc', key, payload.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]);
  const padLength = plain[plain.length - 1];
  if (padLength >= 16 || padLength + 1 > plain.length) return undefined;
  return plain.subarray(0, plain.length - 1 - padLength);
}

export function authCode(integrityKey: Buffer, signed: Buffer): Buffer {
  return createHmac('sha1', integrityKey).update(signed).digest().subarray(0, AUTHCODE_LENGTH);
}

/**
 * An IPMI v2.0 datagram. With keys, the payload is encrypted (if the session has a confidentiality
 * key) and the packet carries the integrity trailer (if it has an integrity key).
 */
export function encodeV20(packet: V20Packet, keys: SessionKeys = {}, iv?: Buffer): Buffer {
  const payload = keys.confidentiality ? encryptPayload(keys.confidentiality, packet.payload, iv) : packet.payload;
  let typeByte = packet.payloadType & 0x3f;
  if (keys.confidentiality) typeByte |= PAYLOAD_ENCRYPTED;
  if (keys.integrity) typeByte |= PAYLOAD_AUTHENTICATED;
  const header = Buffer.alloc(12);
  header[0] = AUTHTYPE_RMCP_PLUS;
  header[1] = typeByte;
  header.writeUInt32LE(packet.sessionId >>> 0, 2);
  header.writeUInt32LE(packet.sequence >>> 0, 6);
  header.writeUInt16LE(payload.length, 10);
  if (!keys.integrity) return Buffer.concat([RMCP_HEADER, header, payload]);
  // Integrity pad: 0xFF bytes so that header + payload + pad + pad length + next header is a multiple of 4.
  const padLength = (4 - ((header.length + payload.length + 2) % 4)) % 4;
  const trailer = Buffer.alloc(padLength + 2, 0xff);
  trailer[padLength] = padLength;
  trailer[padLength + 1] = RMCP_CLASS_IPMI; // next header, always 0x07
  const signed = Buffer.concat([header, payload, trailer]);
  return Buffer.concat([RMCP_HEADER, signed, authCode(keys.integrity, signed)]);
}

export type Decoded =
  | {version: '1.5'; sessionId: number; sequence: number; message: Buffer}
  | {version: '2.0'; payloadType: number; encrypted: boolean; authenticated: boolean; sessionId: number; sequence: number; payload: Buffer};

/**
 * Parses a datagram from the BMC. Returns undefined for anything that is not an IPMI datagram we
 * can read; throws (with a reason) when an authenticated packet fails its integrity check or an
 * encrypted payload cannot be decrypted, since that means the session keys disagree.
 */
export function decodeDatagram(buf: Buffer, keys: SessionKeys = {}): Decoded | undefined {
  if (buf.length < SESSION_OFFSET + 10 || buf[0] !== 0x06 || (buf[3] & 0x1f) !== RMCP_CLASS_IPMI) return undefined;
  const authType = buf[SESSION_OFFSET] & 0x0f;
  if (authType === AUTHTYPE_NONE) {
    const length = buf[SESSION_OFFSET + 9];
    const start = SESSION_OFFSET + 10;
    if (buf.length < start + length) return undefined;
    return {
      version: '1.5',
      sequence: buf.readUInt32LE(SESSION_OFFSET + 1),
      sessionId: buf.readUInt32LE(SESSION_OFFSET + 5),
      message: Buffer.from(buf.subarray(start, start + length)),
    };
  }
  if (authType !== AUTHTYPE_RMCP_PLUS || buf.length < SESSION_OFFSET + 12) return undefined;
  const typeByte = buf[SESSION_OFFSET + 1];
  const encrypted = (typeByte & PAYLOAD_ENCRYPTED) !== 0;
  const authenticated = (typeByte & PAYLOAD_AUTHENTICATED) !== 0;
  const payloadType = typeByte & 0x3f;
  if (payloadType === 0x02) return undefined; // OEM explicit payloads carry 6 more header bytes; never used here
  const length = buf.readUInt16LE(SESSION_OFFSET + 10);
  const start = SESSION_OFFSET + 12;
  if (buf.length < start + length) return undefined;
  if (authenticated) {
    if (!keys.integrity) throw new Error('authenticated packet received outside an integrity-protected session');
    if (buf.length < start + length + 2 + AUTHCODE_LENGTH) throw new Error('authenticated packet too short');
    const signed = buf.subarray(SESSION_OFFSET, buf.length - AUTHCODE_LENGTH);
    const expected = authCode(keys.integrity, signed);
    if (!timingSafeEqual(expected, buf.subarray(buf.length - AUTHCODE_LENGTH))) throw new Error('integrity check failed (authentication code mismatch)');
  }
  let payload = buf.subarray(start, start + length);
  if (encrypted) {
    if (!keys.confidentiality) throw new Error('encrypted packet received outside an encrypted session');
    const plain = decryptPayload(keys.confidentiality, payload);
    if (!plain) throw new Error('encrypted payload could not be decrypted (bad padding)');
    payload = plain;
  }
  return {
    version: '2.0', payloadType, encrypted, authenticated,
    sessionId: buf.readUInt32LE(SESSION_OFFSET + 2),
    sequence: buf.readUInt32LE(SESSION_OFFSET + 6),
    payload: Buffer.from(payload),
  };
}
