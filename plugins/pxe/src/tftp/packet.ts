/**
 * TFTP packets (RFC 1350) and option extension (RFC 2347).
 */
export enum Op { RRQ = 1, WRQ = 2, DATA = 3, ACK = 4, ERROR = 5, OACK = 6 }

export enum ErrorCode {
  NOT_DEFINED = 0, FILE_NOT_FOUND = 1, ACCESS_VIOLATION = 2, DISK_FULL = 3, ILLEGAL_OPERATION = 4,
  UNKNOWN_TID = 5, FILE_EXISTS = 6, NO_SUCH_USER = 7, OPTION_REFUSED = 8,
}

export interface Request {
  op: Op.RRQ | Op.WRQ;
  filename: string;
  mode: string;
  /** Lower-cased option names → values. */
  options: Map<string, string>;
}

export class BadPacket extends Error {}

export function decodeRequest(b: Buffer): Request {
  const op = b.readUInt16BE(0);
  if (op !== Op.RRQ && op !== Op.WRQ) throw new BadPacket(`not a request (opcode ${op})`);
  const fields = b.subarray(2).toString('latin1').split('\0');
  // A well-formed request ends with NUL, so the last split element is ''.
  if (fields.length < 3 || fields[fields.length - 1] !== '') throw new BadPacket('malformed request');
  fields.pop();
  const [filename, mode, ...rest] = fields;
  const options = new Map<string, string>();
  for (let i = 0; i + 1 < rest.length; i += 2) options.set(rest[i]!.toLowerCase(), rest[i + 1]!);
  return {op, filename: filename!, mode: mode!.toLowerCase(), options};
}

export function encodeError(code: ErrorCode, message: string): Buffer {
  const msg = Buffer.from(`${message}\0`, 'latin1');
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Op.ERROR, 0);
  b.writeUInt16BE(code, 2);
  return Buffer.concat([b, msg]);
}

export function encodeOack(options: Map<string, string>): Buffer {
  const parts = [Buffer.from([0, Op.OACK])];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'latin1'));
  return Buffer.concat(parts);
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Op.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeRequest(r: Request): Buffer {
  let s = `${r.filename}\0${r.mode}\0`;
  for (const [k, v] of r.options) s += `${k}\0${v}\0`;
  return Buffer.concat([Buffer.from([0, r.op]), Buffer.from(s, 'latin1')]);
}

/** netascii (RFC 764): LF → CR LF, CR → CR NUL. */
export function toNetascii(b: Buffer): Buffer {
  const out: number[] = [];
  for (const c of b) {
    if (c === 0x0a) out.push(0x0d, 0x0a);
    else if (c === 0x0d) out.push(0x0d, 0x00);
    else out.push(c);
  }
  return Buffer.from(out);
}
