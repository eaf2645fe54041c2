/**
 * IPMI LAN messages (the payload of type IPMI, §13.8): the request and response framing with the
 * two two's-complement checksums.
 */
import {BMC_ADDRESS, CONSOLE_SWID} from './constants.js';

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** 6-bit request sequence number; the response carries it back. */
  rqSeq: number;
  data: Buffer;
}

export interface IpmiResponse {
  netFn: number;
  cmd: number;
  rqSeq: number;
  completionCode: number;
  data: Buffer;
}

/** The byte that makes the sum of `bytes` (plus itself) zero modulo 256. */
export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

export function encodeRequest(req: IpmiRequest): Buffer {
  const head = Buffer.from([BMC_ADDRESS, (req.netFn << 2) & 0xfc]);
  const body = Buffer.concat([Buffer.from([CONSOLE_SWID, (req.rqSeq << 2) & 0xfc, req.cmd]), req.data]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

/** Parses a response message; returns undefined when it is not one (too short, bad checksums, not for us). */
export function decodeResponse(msg: Buffer): IpmiResponse | undefined {
  if (msg.length < 8) return undefined;
  if (checksum(msg.subarray(0, 2)) !== msg[2]) return undefined;
  if (checksum(msg.subarray(3, msg.length - 1)) !== msg[msg.length - 1]) return undefined;
  if (msg[0] !== CONSOLE_SWID) return undefined;
  return {
    netFn: msg[1] >> 2,
    rqSeq: msg[4] >> 2,
    cmd: msg[5],
    completionCode: msg[6],
    data: Buffer.from(msg.subarray(7, msg.length - 1)),
  };
}
