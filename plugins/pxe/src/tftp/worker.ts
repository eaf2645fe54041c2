/**
 * A TFTP transfer worker (node:worker_threads). The main thread (server.ts) answers read requests on the
 * server port and hands each accepted transfer to a worker, which owns the transfer's socket (its TID)
 * and sends the file. The file's bytes come from the main thread in chunks (views of shared memory, a
 * multiple of the block size and at least one window), asked for one ahead of the window; a transfer
 * holds at most two chunks.
 *
 * Per block the path is: the ACK's datagram arrives → the next block is sent, synchronously, from the
 * chunk in memory. One timer per transfer, re-armed lazily (it re-sleeps when it fires early), carries
 * retransmission with exponential backoff; duplicate ACKs never trigger a resend (no Sorcerer's
 * Apprentice). The socket is connected to the client, so the kernel drops datagrams from any other TID.
 * Block numbers roll over from 65535 to 0.
 */
import dgram from 'node:dgram';
import {parentPort} from 'node:worker_threads';
import {encodeError, encodeOack, ErrorCode, Op} from './packet.js';

export interface TransferSpec {
  id: number;
  peer: {address: string; port: number};
  /** Local address for the transfer socket ('' = any). */
  local: string;
  size: number;
  blksize: number;
  windowsize: number;
  /** First retransmission timeout (ms), doubled on each retry up to 16×. */
  timeoutMs: number;
  retries: number;
  /** Options to acknowledge (RFC 2347) before DATA 1; undefined: the transfer starts with DATA 1. */
  oack: [string, string][] | undefined;
  /** Bytes per chunk asked from the main thread (a multiple of blksize, at least one window). */
  chunk: number;
}

export type ToWorker =
  | {t: 'start'; spec: TransferSpec}
  | {t: 'data'; id: number; offset: number; data: Uint8Array}
  | {t: 'fail'; id: number; error: string}
  | {t: 'stop'};

export type FromWorker =
  | {t: 'read'; id: number; offset: number}
  /** early: the transfer socket could not be opened, nothing was sent to the client. */
  | {t: 'end'; id: number; ok: boolean; error?: string; bytes: number; ms: number; retransmits: number; early?: boolean}
  | {t: 'stopped'};

const MAX_BACKOFF_FACTOR = 16;

interface Chunk { start: number; data: Buffer }

class Transfer {
  private readonly blocks: number;
  private acked = 0;
  private sent = 0;
  /** The encoded OACK (RFC 2347), if the transfer starts with one. */
  private readonly oack: Buffer | undefined;
  private waitingOack: boolean;
  /** The chunk holding block acked+1 (the oldest block that may be sent again), and the one after it. */
  private cur: Chunk | undefined;
  private next: Chunk | undefined;
  /** The start of the chunk asked from the main thread, if any (one at a time). */
  private pending: number | undefined;
  /** The start of the chunk holding the last block. */
  private readonly lastStart: number;
  /** sendWindow stopped at a block whose chunk has not arrived yet. */
  private stalled = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the retransmission timer expires (performance.now() ms). */
  private deadline = 0;
  private tries = 0;
  private retransmits = 0;
  private connected = false;
  private done = false;
  private closeAfterSend = false;
  private readonly started = performance.now();

  constructor(private readonly s: TransferSpec, private readonly sock: dgram.Socket) {
    this.blocks = Math.floor(s.size / s.blksize) + 1;
    this.lastStart = this.chunkOf(this.blocks);
    this.oack = s.oack && encodeOack(new Map(s.oack));
    this.waitingOack = this.oack !== undefined;
    sock.on('message', (msg) => this.onMessage(msg));
    sock.on('error', (e) => this.finish(false, `socket error: ${e.message}`));
  }

  start(): void {
    if (this.done) return;
    this.connected = true;
    this.ensure();
    if (this.oack) this.send(this.oack);
    else this.sendWindow();
    this.arm();
  }

  private chunkOf(block: number): number {
    const off = (block - 1) * this.s.blksize;
    return off - (off % this.s.chunk);
  }

  /** Drops the chunk the window has left behind and asks for the one it needs next. */
  private ensure(): void {
    const base = this.chunkOf(this.acked + 1);
    if (this.cur && this.cur.start !== base) {
      this.cur = this.next?.start === base ? this.next : undefined;
      this.next = undefined;
    }
    if (this.pending !== undefined) return;
    let want: number | undefined;
    if (!this.cur) want = base;
    else if (!this.next && base < this.lastStart) want = base + this.s.chunk;
    if (want === undefined) return;
    this.pending = want;
    post({t: 'read', id: this.s.id, offset: want});
  }

  onData(offset: number, data: Buffer): void {
    if (this.done || offset !== this.pending) return;
    this.pending = undefined;
    if (data.length !== Math.min(this.s.chunk, this.s.size - offset)) {
      this.fail('read error: the file changed during the transfer');
      return;
    }
    if (offset === this.chunkOf(this.acked + 1)) this.cur = {start: offset, data};
    else if (this.cur && offset === this.cur.start + this.s.chunk) this.next = {start: offset, data};
    this.ensure();
    if (this.stalled && this.connected && !this.waitingOack) {
      this.stalled = false;
      this.sendWindow();
    }
  }

  fail(error: string): void {
    if (this.done) return;
    if (this.connected) this.send(encodeError(ErrorCode.NOT_DEFINED, 'read error'), true);
    this.finish(false, error);
  }

  /** Block n's payload, or undefined while its chunk is on its way. */
  private payload(n: number): Buffer | undefined {
    const start = this.chunkOf(n);
    const c = this.cur?.start === start ? this.cur : this.next?.start === start ? this.next : undefined;
    if (!c) return undefined;
    const from = (n - 1) * this.s.blksize - start;
    return c.data.subarray(from, from + this.s.blksize);
  }

  private timeout(): number {
    return this.s.timeoutMs * Math.min(MAX_BACKOFF_FACTOR, 2 ** this.tries);
  }

  /** (Re)starts the retransmission clock; the timer object lives on and re-sleeps when it fires early. */
  private arm(): void {
    this.deadline = performance.now() + this.timeout();
    this.timer ??= setTimeout(() => this.onTimer(), this.timeout());
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.done) return;
    const left = this.deadline - performance.now();
    if (left > 1) { this.timer = setTimeout(() => this.onTimer(), left); return; }
    this.tries++;
    if (this.tries > this.s.retries) {
      this.send(encodeError(ErrorCode.NOT_DEFINED, 'timed out'), true);
      this.finish(false, `no acknowledgement after ${this.s.retries} retransmissions`);
      return;
    }
    this.retransmits++;
    if (this.waitingOack) this.send(this.oack!);
    else this.sendWindow();
    this.arm();
  }

  private send(b: Buffer | Buffer[], last = false): void {
    if (last) this.closeAfterSend = true;
    this.sock.send(b as Buffer, last ? () => this.closeSocket() : undefined);
  }

  private closeSocket(): void {
    try { this.sock.close(); } catch { /* already closed */ }
  }

  /** Sends blocks acked+1 .. acked+windowsize from the chunks in memory. */
  private sendWindow(): void {
    const last = Math.min(this.acked + this.s.windowsize, this.blocks);
    for (let n = this.acked + 1; n <= last; n++) {
      const data = this.payload(n);
      if (!data) { this.stalled = true; return; }
      const h = Buffer.allocUnsafe(4);
      h.writeUInt16BE(Op.DATA, 0);
      h.writeUInt16BE(n & 0xffff, 2);
      this.sock.send([h, data] as unknown as Buffer);
      if (n > this.sent) this.sent = n;
    }
  }

  private onMessage(msg: Buffer): void {
    if (this.done || msg.length < 4) return;
    const op = msg.readUInt16BE(0);
    if (op === Op.ACK) {
      const wire = msg.readUInt16BE(2);
      if (this.waitingOack) {
        if (wire !== 0) return;
        this.waitingOack = false;
        this.tries = 0;
        this.sendWindow();
        this.arm();
        return;
      }
      // Map the 16-bit block number onto the blocks in flight (acked .. sent).
      const delta = (wire - (this.acked & 0xffff) + 0x10000) & 0xffff;
      const n = this.acked + delta;
      if (delta === 0 || n > this.sent) return; // duplicate or stale: the timer handles loss
      this.acked = n;
      this.tries = 0;
      if (n >= this.blocks) { this.finish(true); return; }
      this.ensure();
      this.sendWindow();
      this.arm();
    } else if (op === Op.ERROR) {
      const text = msg.subarray(4).toString('latin1').replace(/\0.*$/s, '');
      this.finish(false, `client error ${msg.readUInt16BE(2)}: ${text}`);
    }
  }

  finish(ok: boolean, error?: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.cur = this.next = undefined;
    if (!this.closeAfterSend) this.closeSocket();
    transfers.delete(this.s.id);
    post({t: 'end', id: this.s.id, ok, error, early: !this.connected || undefined, retransmits: this.retransmits,
      bytes: ok ? this.s.size : Math.min(this.s.size, this.acked * this.s.blksize), ms: Math.round(performance.now() - this.started)});
  }
}

const transfers = new Map<number, Transfer>();
const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);

function begin(s: TransferSpec): void {
  const sock = dgram.createSocket('udp4');
  const t = new Transfer(s, sock);
  transfers.set(s.id, t);
  sock.bind({port: 0, address: s.local || undefined}, () => {
    sock.connect(s.peer.port, s.peer.address, () => t.start());
  });
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'start': begin(m.spec); break;
    case 'data': transfers.get(m.id)?.onData(m.offset, Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length)); break;
    case 'fail': transfers.get(m.id)?.fail(m.error); break;
    case 'stop':
      for (const t of [...transfers.values()]) t.finish(false, 'server stopped');
      post({t: 'stopped'});
      break;
  }
});
