/**
 * RMCP+ session establishment (§13.17-13.20, §13.31-13.32): the Open Session Request/Response and
 * RAKP messages 1-4, and the key derivations of RAKP-HMAC-SHA1. Pure functions over buffers, so
 * they can be checked against a recorded exchange.
 */
import {createHmac, timingSafeEqual} from 'node:crypto';
import {CIPHER_SUITES, type CipherSuiteId} from './constants.js';

const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => createHmac('sha1', key).update(Buffer.concat(parts)).digest();
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };

/** The user key Kuid: the password, zero-padded to 20 bytes (IPMI v2.0 passwords are at most 20 bytes). */
export function userKey(password: string): Buffer {
  const key = Buffer.alloc(20);
  Buffer.from(password, 'utf8').copy(key, 0, 0, 20);
  return key;
}

export function encodeOpenSessionRequest(tag: number, privilege: number, consoleSessionId: number, suite: CipherSuiteId): Buffer {
  const s = CIPHER_SUITES[suite];
  const b = Buffer.alloc(32);
  b[0] = tag;
  b[1] = privilege;
  b.writeUInt32LE(consoleSessionId >>> 0, 4);
  // Three algorithm payloads, 8 bytes each: type, 2 reserved, length 8, algorithm, 3 reserved.
  [s.auth, s.integrity, s.confidentiality].forEach((alg, i) => {
    b[8 + i * 8] = i;
    b[8 + i * 8 + 3] = 0x08;
    b[8 + i * 8 + 4] = alg;
  });
  return b;
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  privilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
  auth?: number;
  integrity?: number;
  confidentiality?: number;
}

export function decodeOpenSessionResponse(p: Buffer): OpenSessionResponse | undefined {
  if (p.length < 8) return undefined;
  const r: OpenSessionResponse = {tag: p[0], status: p[1], privilege: p[2], consoleSessionId: p.readUInt32LE(4), bmcSessionId: 0};
  if (r.status !== 0) return r; // error responses may stop after the console session id
  if (p.length < 36) return undefined;
  r.bmcSessionId = p.readUInt32LE(8);
  r.auth = p[16];
  r.integrity = p[24];
  r.confidentiality = p[32];
  return r;
}

export interface RakpUser {
  /** Requested maximum privilege level with the lookup bit (the "role" byte, ROLEm). */
  role: number;
  username: Buffer;
}

const userBytes = (u: RakpUser): Buffer => Buffer.concat([Buffer.from([u.role, u.username.length]), u.username]);

export function encodeRakp1(tag: number, bmcSessionId: number, consoleRandom: Buffer, user: RakpUser): Buffer {
  const b = Buffer.alloc(28 + user.username.length);
  b[0] = tag;
  b.writeUInt32LE(bmcSessionId >>> 0, 4);
  consoleRandom.copy(b, 8);
  b[24] = user.role;
  b[27] = user.username.length;
  user.username.copy(b, 28);
  return b;
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  keyExchangeCode: Buffer;
}

export function decodeRakp2(p: Buffer): Rakp2 | undefined {
  if (p.length < 8) return undefined;
  const base = {tag: p[0], status: p[1], consoleSessionId: p.readUInt32LE(4)};
  if (base.status !== 0) return {...base, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), keyExchangeCode: Buffer.alloc(0)};
  if (p.length < 40) return undefined;
  return {...base, bmcRandom: Buffer.from(p.subarray(8, 24)), bmcGuid: Buffer.from(p.subarray(24, 40)), keyExchangeCode: Buffer.from(p.subarray(40))};
}

export interface Handshake {
  consoleSessionId: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  user: RakpUser;
  /** Kuid, the user key. */
  kuid: Buffer;
  /** Kg, the BMC key; when the BMC has none, Kuid is used (§13.31). */
  kg?: Buffer;
}

/** The code the BMC must have put in RAKP 2: HMAC(Kuid, SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm). */
export function rakp2Code(h: Handshake): Buffer {
  return hmac(h.kuid, u32(h.consoleSessionId), u32(h.bmcSessionId), h.consoleRandom, h.bmcRandom, h.bmcGuid, userBytes(h.user));
}

export function verifyRakp2(h: Handshake, code: Buffer): boolean {
  const expected = rakp2Code(h);
  return code.length === expected.length && timingSafeEqual(code, expected);
}

/** The code the console sends in RAKP 3: HMAC(Kuid, Rc, SIDm, ROLEm, ULENGTHm, UNAMEm). */
export function rakp3Code(h: Handshake): Buffer {
  return hmac(h.kuid, h.bmcRandom, u32(h.consoleSessionId), userBytes(h.user));
}

export function encodeRakp3(tag: number, status: number, bmcSessionId: number, code: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b[0] = tag;
  b[1] = status;
  b.writeUInt32LE(bmcSessionId >>> 0, 4);
  return status === 0 ? Buffer.concat([b, code]) : b;
}

/** The session integrity key: SIK = HMAC(Kg or Kuid, Rm, Rc, ROLEm, ULENGTHm, UNAMEm). */
export function sessionIntegrityKey(h: Handshake): Buffer {
  return hmac(h.kg ?? h.kuid, h.consoleRandom, h.bmcRandom, userBytes(h.user));
}

/** K1 (integrity) and K2 (confidentiality): HMAC(SIK, twenty bytes of 0x01 / 0x02). */
export function additionalKeys(sik: Buffer): {k1: Buffer; k2: Buffer} {
  return {k1: hmac(sik, Buffer.alloc(20, 0x01)), k2: hmac(sik, Buffer.alloc(20, 0x02))};
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  integrityCheck: Buffer;
}

export function decodeRakp4(p: Buffer): Rakp4 | undefined {
  if (p.length < 8) return undefined;
  return {tag: p[0], status: p[1], consoleSessionId: p.readUInt32LE(4), integrityCheck: Buffer.from(p.subarray(8))};
}

/** The check value the BMC puts in RAKP 4: HMAC(SIK, Rm, SIDc, GUIDc), truncated to 96 bits for HMAC-SHA1. */
export function rakp4Check(h: Handshake, sik: Buffer): Buffer {
  return hmac(sik, h.consoleRandom, u32(h.bmcSessionId), h.bmcGuid).subarray(0, 12);
}

export function verifyRakp4(h: Handshake, sik: Buffer, check: Buffer): boolean {
  const expected = rakp4Check(h, sik);
  return check.length >= expected.length && timingSafeEqual(check.subarray(0, expected.length), expected);
}
