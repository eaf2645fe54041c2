/**
 * A small TFTP read client for tests and benchmarks: options, rollover, windowsize, and loss injection.
 */
import dgram from 'node:dgram';
import {createHash} from 'node:crypto';
import {encodeAck, encodeRequest, Op} from '../../src/tftp/packet.js';

export interface GetOptions {
  host: string;
  port: number;
  file: string;
  blksize?: number;
  windowsize?: number;
  tsize?: boolean;
  timeout?: number;
  /** Drop this many ACKs (by sending none) at the given block numbers, to test retransmission. */
  dropAckAt?: number[];
  /** Give up after this many ms. */
  deadline?: number;
  bind?: string;
  /** Keep the data (default: only hash it). */
  keep?: boolean;
}

export interface GetResult {
  ok: boolean;
  error?: string;
  bytes: number;
  sha256: string;
  oack?: Map<string, string>;
  data?: Buffer;
  ms: number;
}

export function tftpGet(o: GetOptions): Promise<GetResult> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    const started = Date.now();
    const blksize = o.blksize ?? 512;
    let win = o.windowsize ?? 1;
    let size = 512;
    let expected = 1; // absolute block number expected next
    let bytes = 0;
    let peer: {address: string; port: number} | undefined;
    let oack: Map<string, string> | undefined;
    let inWindow = 0;
    const drops = new Set(o.dropAckAt ?? []);
    let done = false;
    const finish = (ok: boolean, error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(retry);
      clearInterval(request);
      // Close after pending sends (the final ACK) have left.
      sock.send(Buffer.alloc(0), 9, '127.0.0.1', () => sock.close());
      resolve({ok, error, bytes, sha256: hash.digest('hex'), oack, data: o.keep ? Buffer.concat(chunks) : undefined, ms: Date.now() - started});
    };
    const deadline = setTimeout(() => finish(false, 'deadline'), o.deadline ?? 30_000);
    let retry: NodeJS.Timeout | undefined;
    /** Resends the request until the server answers, as every real client does (a burst can overflow the server port). */
    let request: NodeJS.Timeout | undefined;
    const ack = (n: number): void => {
      if (!peer) return;
      sock.send(encodeAck(n), peer.port, peer.address);
      clearTimeout(retry);
      // Receiver-side timeout: re-ACK the last in-order block (RFC 7440 §4).
      retry = setTimeout(() => ack(n), (o.timeout ?? 1) * 1000);
    };
    sock.on('message', (msg, rinfo) => {
      if (peer && (rinfo.port !== peer.port || rinfo.address !== peer.address)) return;
      peer ??= {address: rinfo.address, port: rinfo.port};
      clearInterval(request);
      const op = msg.readUInt16BE(0);
      if (op === Op.ERROR) return finish(false, `error ${msg.readUInt16BE(2)}: ${msg.subarray(4).toString('latin1').replace(/\0.*$/s, '')}`);
      if (op === Op.OACK) {
        oack = new Map();
        const f = msg.subarray(2).toString('latin1').split('\0');
        for (let i = 0; i + 1 < f.length; i += 2) oack.set(f[i]!, f[i + 1]!);
        size = Number(oack.get('blksize') ?? 512);
        win = Number(oack.get('windowsize') ?? 1);
        return ack(0);
      }
      if (op !== Op.DATA) return;
      if (!oack) { size = 512; win = 1; }
      const wire = msg.readUInt16BE(2);
      if (wire !== (expected & 0xffff)) {
        // Out of order or a duplicate (a loss): ACK the last in-order block so the sender resumes there.
        ack(expected - 1);
        return;
      }
      const data = msg.subarray(4);
      hash.update(data);
      if (o.keep) chunks.push(Buffer.from(data));
      bytes += data.length;
      const n = expected++;
      inWindow++;
      const last = data.length < size;
      if (drops.has(n)) { drops.delete(n); inWindow = 0; return; }
      if (last || inWindow >= win) {
        inWindow = 0;
        sock.send(encodeAck(n), peer.port, peer.address);
        clearTimeout(retry);
        if (last) return finish(true);
        retry = setTimeout(() => ack(expected - 1), (o.timeout ?? 1) * 1000);
      }
    });
    sock.bind(0, o.bind, () => {
      const options = new Map<string, string>();
      if (o.blksize) options.set('blksize', String(blksize));
      if (o.tsize) options.set('tsize', '0');
      if (o.timeout) options.set('timeout', String(o.timeout));
      if (o.windowsize) options.set('windowsize', String(o.windowsize));
      const rrq = encodeRequest({op: Op.RRQ, filename: o.file, mode: 'octet', options});
      sock.send(rrq, o.port, o.host);
      request = setInterval(() => sock.send(rrq, o.port, o.host), (o.timeout ?? 1) * 1000);
    });
  });
}
