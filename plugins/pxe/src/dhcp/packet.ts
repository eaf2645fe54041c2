/**
 * DHCP/BOOTP messages (RFC 2131 §2, RFC 2132 options, RFC 3396 long options): decode and encode.
 */
import {intToIp, ipToInt, macFromBytes} from '../net.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** The fixed part before the options (236 bytes) plus the magic cookie. */
export const HEADER_LENGTH = 240;

export enum MessageType {
  DISCOVER = 1, OFFER = 2, REQUEST = 3, DECLINE = 4, ACK = 5, NAK = 6, RELEASE = 7, INFORM = 8,
}

/** Option codes used here (RFC 2132, 4578, 3004). */
export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN: 15,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE_ENCAP: 175,
  END: 255,
} as const;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, hlen bytes. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Options by code; repeated options are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export class MalformedPacket extends Error {}

function cstring(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('latin1');
}

function readOptions(b: Buffer, into: Map<number, Buffer>): void {
  let i = 0;
  while (i < b.length) {
    const code = b[i]!;
    if (code === Opt.PAD) { i++; continue; }
    if (code === Opt.END) return;
    if (i + 1 >= b.length) throw new MalformedPacket('option length missing');
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) throw new MalformedPacket(`option ${code} overruns the packet`);
    const value = b.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, value]) : Buffer.from(value));
    i += 2 + len;
  }
}

export function decode(buf: Buffer): DhcpMessage {
  if (buf.length < HEADER_LENGTH) throw new MalformedPacket(`too short (${buf.length} bytes)`);
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) throw new MalformedPacket('no DHCP magic cookie');
  const hlen = buf[2]!;
  if (hlen > 16) throw new MalformedPacket(`hardware address length ${hlen} > 16`);
  const options = new Map<number, Buffer>();
  readOptions(buf.subarray(HEADER_LENGTH), options);
  const overload = options.get(Opt.OVERLOAD)?.[0] ?? 0;
  // RFC 2132 §9.3: with option overload the file and/or sname fields carry options instead of names.
  if (overload & 1) readOptions(buf.subarray(108, 236), options);
  if (overload & 2) readOptions(buf.subarray(44, 108), options);
  return {
    op: buf[0]!, htype: buf[1]!, hlen, hops: buf[3]!,
    xid: buf.readUInt32BE(4), secs: buf.readUInt16BE(8), flags: buf.readUInt16BE(10),
    ciaddr: intToIp(buf.readUInt32BE(12)), yiaddr: intToIp(buf.readUInt32BE(16)),
    siaddr: intToIp(buf.readUInt32BE(20)), giaddr: intToIp(buf.readUInt32BE(24)),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: overload & 2 ? '' : cstring(buf.subarray(44, 108)),
    file: overload & 1 ? '' : cstring(buf.subarray(108, 236)),
    options,
  };
}

function writeOption(parts: Buffer[], code: number, value: Buffer): void {
  // Values longer than 255 bytes are split into several instances (RFC 3396).
  for (let off = 0; off < value.length || off === 0; off += 255) {
    const chunk = value.subarray(off, off + 255);
    parts.push(Buffer.from([code, chunk.length]), chunk);
    if (value.length === 0) break;
  }
}

/** Encodes a message; options are written in insertion order, then END, padded to the BOOTP minimum of 300 bytes. */
export function encode(m: DhcpMessage): Buffer {
  const head = Buffer.alloc(HEADER_LENGTH);
  head[0] = m.op; head[1] = m.htype; head[2] = m.hlen; head[3] = m.hops;
  head.writeUInt32BE(m.xid >>> 0, 4);
  head.writeUInt16BE(m.secs, 8);
  head.writeUInt16BE(m.flags, 10);
  head.writeUInt32BE(ipToInt(m.ciaddr), 12);
  head.writeUInt32BE(ipToInt(m.yiaddr), 16);
  head.writeUInt32BE(ipToInt(m.siaddr), 20);
  head.writeUInt32BE(ipToInt(m.giaddr), 24);
  m.chaddr.copy(head, 28, 0, Math.min(16, m.chaddr.length));
  if (Buffer.byteLength(m.sname, 'latin1') > 63) throw new Error(`server name too long for the sname field: ${m.sname}`);
  if (Buffer.byteLength(m.file, 'latin1') > 127) throw new Error(`boot file name too long for the file field: ${m.file}`);
  head.write(m.sname, 44, 'latin1');
  head.write(m.file, 108, 'latin1');
  head.writeUInt32BE(MAGIC_COOKIE, 236);
  const parts: Buffer[] = [head];
  for (const [code, value] of m.options) writeOption(parts, code, value);
  parts.push(Buffer.from([Opt.END]));
  const out = Buffer.concat(parts);
  return out.length >= 300 ? out : Buffer.concat([out, Buffer.alloc(300 - out.length)]);
}

// Option value helpers.
export const optIp = (...ips: string[]): Buffer => {
  const b = Buffer.alloc(4 * ips.length);
  ips.forEach((ip, i) => b.writeUInt32BE(ipToInt(ip), 4 * i));
  return b;
};
export const optU32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
export const optByte = (n: number): Buffer => Buffer.from([n]);
export const optString = (s: string): Buffer => Buffer.from(s, 'latin1');

export function messageType(m: DhcpMessage): MessageType | undefined {
  const t = m.options.get(Opt.MESSAGE_TYPE);
  return t && t.length === 1 ? (t[0] as MessageType) : undefined;
}

export function optionIp(m: DhcpMessage, code: number): string | undefined {
  const v = m.options.get(code);
  return v && v.length === 4 ? intToIp(v.readUInt32BE(0)) : undefined;
}

export function optionString(m: DhcpMessage, code: number): string | undefined {
  return m.options.get(code)?.toString('latin1');
}

/** Client MAC (Ethernet only), lower-case colon form. */
export function clientMac(m: DhcpMessage): string | undefined {
  return m.htype === 1 && m.hlen === 6 ? macFromBytes(m.chaddr) : undefined;
}

/** Client system architectures (RFC 4578 §2.1, IANA "Processor Architecture Types"). */
export type ClientArch = 'bios' | 'uefi' | 'arm64' | 'uefi-http' | 'arm64-http' | 'other';

export function clientArch(m: DhcpMessage): ClientArch {
  const v = m.options.get(Opt.CLIENT_ARCH);
  if (!v || v.length < 2) return 'bios';
  switch (v.readUInt16BE(0)) {
    case 0: return 'bios';
    case 6: case 7: case 9: return 'uefi';
    case 11: return 'arm64';
    case 15: case 16: return 'uefi-http';
    case 19: return 'arm64-http';
    default: return 'other';
  }
}

/** True for an iPXE client (user class "iPXE", RFC 3004 framing or the bare string, or iPXE's option 175). */
export function isIpxe(m: DhcpMessage): boolean {
  if (m.options.has(Opt.IPXE_ENCAP)) return true;
  const uc = m.options.get(Opt.USER_CLASS);
  if (!uc) return false;
  if (uc.toString('latin1') === 'iPXE') return true;
  // RFC 3004: a list of (length, data) pairs.
  for (let i = 0; i < uc.length;) {
    const len = uc[i]!;
    if (uc.subarray(i + 1, i + 1 + len).toString('latin1') === 'iPXE') return true;
    i += 1 + len;
  }
  return false;
}
