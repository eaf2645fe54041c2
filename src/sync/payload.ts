/**
 * Message payloads (JSON, except HELLO which is 8 binary bytes: see wire.ts).
 */
import type {JsonValue} from '../model/node.js';

export interface PhoneHome {
  /** The child's fresh nonce, 16 bytes hex. */
  nonce: string;
}

export interface Welcome {
  nonce: string;
  /** The parent's fresh nonce, 16 bytes hex. */
  pnonce: string;
  session: number;
  parent: string;
  hello: number;
  dead: number;
}

export interface Refuse {
  nonce: string;
  reason: string;
}

export interface Resync {
  /** The session and sequence number of the child's datagram that the parent could not place. */
  session: number;
  seq: number;
}

/** A state update: a delta since version `b`, or (f = 1) the sender's full state. */
export interface StateMsg {
  /** The node the state is about: the recipient (parent → child) or the sender (child → parent). */
  n: string;
  /** The sender's state version after this update. */
  v: number;
  /** The version the delta starts from (the recipient's last acknowledgement); 0 with f = 1. */
  b: number;
  /** The highest version of the recipient's state the sender has applied. */
  a: number;
  f: 0 | 1;
  /** cfg leaves (parent → child only) and deleted cfg leaves. */
  c?: Record<string, JsonValue>;
  cd?: string[];
  /** dsc leaves the sender owns, and deleted ones. */
  d?: Record<string, JsonValue>;
  dd?: string[];
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function parse(buf: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const HEX16 = /^[0-9a-f]{32}$/;
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isObj = (v: unknown): v is Record<string, JsonValue> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.startsWith('/'));
const ptrKeys = (o: Record<string, unknown>) => Object.keys(o).every((k) => k.startsWith('/'));

export function decodePhoneHome(buf: Buffer): PhoneHome | undefined {
  const o = parse(buf);
  return o && isStr(o.nonce) && HEX16.test(o.nonce) ? {nonce: o.nonce} : undefined;
}

export function decodeWelcome(buf: Buffer): Welcome | undefined {
  const o = parse(buf);
  if (!o || !isStr(o.nonce) || !isStr(o.pnonce) || !HEX16.test(o.pnonce) || !isUint(o.session) || o.session === 0) return undefined;
  if (!isStr(o.parent) || !isUint(o.hello) || !isUint(o.dead)) return undefined;
  return {nonce: o.nonce, pnonce: o.pnonce, session: o.session, parent: o.parent, hello: o.hello, dead: o.dead};
}

export function decodeRefuse(buf: Buffer): Refuse | undefined {
  const o = parse(buf);
  return o && isStr(o.nonce) && isStr(o.reason) ? {nonce: o.nonce, reason: o.reason.slice(0, 500)} : undefined;
}

export function decodeResync(buf: Buffer): Resync | undefined {
  const o = parse(buf);
  return o && isUint(o.session) && isUint(o.seq) ? {session: o.session, seq: o.seq} : undefined;
}

export function decodeState(buf: Buffer): StateMsg | undefined {
  const o = parse(buf);
  if (!o || !isStr(o.n) || !isUint(o.v) || !isUint(o.b) || !isUint(o.a) || (o.f !== 0 && o.f !== 1)) return undefined;
  if (o.c !== undefined && !(isObj(o.c) && ptrKeys(o.c))) return undefined;
  if (o.d !== undefined && !(isObj(o.d) && ptrKeys(o.d))) return undefined;
  if (o.cd !== undefined && !isStrArr(o.cd)) return undefined;
  if (o.dd !== undefined && !isStrArr(o.dd)) return undefined;
  return o as unknown as StateMsg;
}

/** NACK: the fragments `x` of message `m` did not arrive. */
export interface Nack {
  m: number;
  x: number[];
}

export function decodeNack(buf: Buffer): Nack | undefined {
  const o = parse(buf);
  if (!o || !isUint(o.m) || !Array.isArray(o.x) || o.x.length > 1000 || !o.x.every((i) => Number.isInteger(i) && i >= 0 && i < 0x10000)) return undefined;
  return {m: o.m, x: o.x as number[]};
}
