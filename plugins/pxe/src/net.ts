/**
 * IPv4 and MAC helpers (no dependencies).
 */
import {networkInterfaces} from 'node:os';

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function isIpv4(s: string): boolean {
  try { ipToInt(s); return true; } catch { return false; }
}

export function prefixToMask(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/** Lower-case colon form aa:bb:cc:dd:ee:ff, or throws. Accepts '-' or ':' separators. */
export function normalizeMac(mac: string): string {
  const m = mac.trim().toLowerCase().replace(/-/g, ':');
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m)) throw new Error(`not a MAC address: ${mac}`);
  return m;
}

export function macFromBytes(b: Buffer): string {
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function macToBytes(mac: string): Buffer {
  return Buffer.from(normalizeMac(mac).split(':').map((h) => parseInt(h, 16)));
}

export function sameSubnet(a: string, b: string, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((ipToInt(a) & mask) >>> 0) === ((ipToInt(b) & mask) >>> 0);
}

/** The first IPv4 address (and prefix) of a local interface, or undefined if it has none / does not exist. */
export function interfaceAddress(name: string): {address: string; prefix: number; mac: string} | undefined {
  const list = networkInterfaces()[name];
  const a = list?.find((x) => x.family === 'IPv4');
  if (!a) return undefined;
  const prefix = a.cidr ? Number(a.cidr.split('/')[1]) : 24;
  return {address: a.address, prefix, mac: a.mac};
}
