/**
 * Read-only TFTP server (RFC 1350) with the option extension (RFC 2347), blksize (RFC 2348), timeout and
 * tsize (RFC 2349) and windowsize (RFC 7440). Each transfer runs on its own socket (its TID), connected to
 * the client, so the kernel drops datagrams from any other TID (RFC 1350 asks for an error packet back;
 * silence is the safer answer to a stranger, and it keeps the per-packet path short). Lost
 * packets are recovered by retransmitting the unacknowledged window with exponential backoff; duplicate
 * ACKs are ignored (no Sorcerer's Apprentice). Block numbers roll over from 65535 to 0, as tftp-hpa,
 * curl and iPXE expect for files over 32 MB at 512-byte blocks.
 */
import dgram from 'node:dgram';
import type {AddressInfo} from 'node:net';
import type {Logger} from '@layercake/sdk';
import type {BootNode} from '../bootnode.js';
import {FileError} from '../files.js';
import {BufferSource, type Source} from '../source.js';
import {TemplateError} from '../template.js';
import {BadPacket, decodeRequest, encodeError, encodeOack, ErrorCode, Op, toNetascii} from './packet.js';

export interface TftpServerOptions {
  port: number;
  /** '' or '0.0.0.0' for every address. */
  bindAddress: string;
  retransmitMs: number;
  retries: number;
  maxBlksize: number;
  maxWindowsize: number;
  /** The registered node using this source address, if any. */
  lookup(ip: string): BootNode | undefined;
  /** Opens a node's file (throws FileError / TemplateError). */
  open(node: BootNode, filename: string): Promise<Source>;
  log: Logger;
  onTransfer?(event: TransferEvent): void;
}

export interface TransferEvent {
  node: BootNode | undefined;
  address: string;
  filename: string;
  ok: boolean;
  bytes: number;
  ms: number;
  error?: string;
  blksize: number;
  windowsize: number;
  retransmits: number;
}

const MAX_BACKOFF_FACTOR = 16;

class Transfer {
  private blocks = 0;
  private acked = 0;
  private sent = 0;
  private waitingOack: boolean;
  private timer: NodeJS.Timeout | undefined;
  /** When the current retransmission timer expires (ms, monotonic); re-armed lazily, not per packet. */
  private deadline = 0;
  private tries = 0;
  private retransmits = 0;
  private done = false;
  private reading = false;
  private readonly started = Date.now();

  constructor(
    private readonly server: TftpServer,
    /** Connected to the peer: the kernel drops datagrams from any other TID, and sends need no address. */
    private readonly sock: dgram.Socket,
    private readonly peer: {address: string; port: number},
    private readonly source: Source,
    private readonly blksize: number,
    private readonly windowsize: number,
    private readonly baseTimeout: number,
    private readonly oack: Map<string, string> | undefined,
    private readonly info: {node: BootNode; filename: string; key: string},
  ) {
    this.blocks = Math.floor(source.size / blksize) + 1;
    this.waitingOack = oack !== undefined;
    sock.on('message', (msg) => this.onMessage(msg));
    sock.on('error', (e) => this.finish(false, `socket error: ${e.message}`));
  }

  start(): void {
    if (this.oack) this.send(encodeOack(this.oack));
    else this.sendWindow();
    this.arm();
  }

  private timeout(): number {
    return this.baseTimeout * Math.min(MAX_BACKOFF_FACTOR, 2 ** this.tries);
  }

  /** (Re)starts the retransmission clock. The timer object is reused: when it fires early it re-sleeps. */
  private arm(): void {
    this.deadline = performance.now() + this.timeout();
    if (!this.timer) this.timer = setTimeout(() => this.onTimer(), this.timeout());
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.done) return;
    const left = this.deadline - performance.now();
    if (left > 1) { this.timer = setTimeout(() => this.onTimer(), left); return; }
    this.tries++;
    if (this.tries > this.server.opts.retries) {
      this.send(encodeError(ErrorCode.NOT_DEFINED, 'timed out'), true);
      this.finish(false, `no acknowledgement after ${this.server.opts.retries} retransmissions`);
      return;
    }
    this.retransmits++;
    if (this.waitingOack) this.send(encodeOack(this.oack!));
    else this.sendWindow();
    this.arm();
  }

  private closeAfterSend = false;

  private send(b: Buffer | Buffer[], last = false): void {
    if (last) this.closeAfterSend = true;
    this.sock.send(b as Buffer, last ? () => this.closeSocket() : undefined);
  }

  private closeSocket(): void {
    try { this.sock.close(); } catch { /* already closed */ }
  }

  /** Sends blocks acked+1 .. acked+windowsize; synchronous while the data is in memory. */
  private sendWindow(): void {
    const last = Math.min(this.acked + this.windowsize, this.blocks);
    for (let n = this.acked + 1; n <= last && !this.done; n++) {
      const data = this.source.read((n - 1) * this.blksize, this.blksize);
      if (data instanceof Promise) {
        // The next chunk of a large file is being read: send the rest of the window once it is in.
        if (this.reading) return;
        this.reading = true;
        data.then(() => { this.reading = false; if (!this.done) this.sendWindow(); },
          (e: Error) => { this.reading = false; this.send(encodeError(ErrorCode.NOT_DEFINED, 'read error'), true); this.finish(false, `read error: ${e.message}`); });
        return;
      }
      const h = Buffer.allocUnsafe(4);
      h.writeUInt16BE(Op.DATA, 0);
      h.writeUInt16BE(n & 0xffff, 2);
      this.send([h, data]);
      if (n > this.sent) this.sent = n;
    }
  }

  private onMessage(msg: Buffer): void {
    if (this.done) return;
    if (msg.length < 4) return;
    const op = msg.readUInt16BE(0);
    if (op === Op.ERROR) {
      const code = msg.readUInt16BE(2);
      const text = msg.subarray(4).toString('latin1').replace(/\0.*$/s, '');
      this.finish(false, `client error ${code}: ${text}`);
      return;
    }
    if (op !== Op.ACK) return;
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
    const base = this.acked;
    const delta = (wire - (base & 0xffff) + 0x10000) & 0xffff;
    const n = base + delta;
    if (delta === 0 || n > this.sent) return; // duplicate or stale ACK: the timer handles loss
    this.acked = n;
    this.tries = 0;
    if (n >= this.blocks) { this.finish(true); return; }
    this.sendWindow();
    this.arm();
  }

  finish(ok: boolean, error?: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.source.close();
    if (!this.closeAfterSend) this.closeSocket();
    this.server.ended(this.info.key, {
      node: this.info.node, address: this.peer.address, filename: this.info.filename, ok, error,
      bytes: ok ? this.source.size : Math.min(this.source.size, this.acked * this.blksize),
      ms: Date.now() - this.started, blksize: this.blksize, windowsize: this.windowsize, retransmits: this.retransmits,
    });
  }
}

export class TftpServer {
  private sock: dgram.Socket | undefined;
  private readonly active = new Map<string, Transfer>();
  constructor(readonly opts: TftpServerOptions) {}

  get address(): AddressInfo {
    if (!this.sock) throw new Error('TFTP server is not started');
    return this.sock.address();
  }

  get transfers(): number { return this.active.size; }

  async start(): Promise<void> {
    const sock = dgram.createSocket({type: 'udp4', reuseAddr: true});
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({port: this.opts.port, address: this.opts.bindAddress || '0.0.0.0'}, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (e) => this.opts.log.error({err: e.message}, 'TFTP socket error'));
    sock.on('message', (msg, rinfo) => void this.onRequest(msg, rinfo));
    this.sock = sock;
  }

  async close(): Promise<void> {
    for (const t of [...this.active.values()]) t?.finish(false, 'server stopped');
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  ended(key: string, e: TransferEvent): void {
    this.active.delete(key);
    if (e.ok) this.opts.log.debug({node: e.node?.nodename, file: e.filename, bytes: e.bytes, ms: e.ms}, 'TFTP transfer done');
    else this.opts.log.warn({node: e.node?.nodename, file: e.filename, error: e.error}, 'TFTP transfer failed');
    this.opts.onTransfer?.(e);
  }

  private reply(rinfo: dgram.RemoteInfo, code: ErrorCode, message: string): void {
    this.sock?.send(encodeError(code, message), rinfo.port, rinfo.address);
  }

  private async onRequest(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    if (msg.length < 4) return;
    const op = msg.readUInt16BE(0);
    if (op === Op.WRQ) return this.reply(rinfo, ErrorCode.ACCESS_VIOLATION, 'read-only server');
    if (op !== Op.RRQ) {
      if (op !== Op.ERROR) this.reply(rinfo, ErrorCode.ILLEGAL_OPERATION, 'expected a read request');
      return;
    }
    let req;
    try { req = decodeRequest(msg); } catch (e) {
      if (e instanceof BadPacket) return this.reply(rinfo, ErrorCode.ILLEGAL_OPERATION, e.message);
      throw e;
    }
    const key = `${rinfo.address}:${rinfo.port}:${req.filename}`;
    if (this.active.has(key)) return; // a retransmitted request: the transfer's own timer answers it
    const node = this.opts.lookup(rinfo.address);
    if (!node) {
      this.opts.log.debug({from: rinfo.address, file: req.filename}, 'TFTP request from an address that is not booting; refused');
      return this.reply(rinfo, ErrorCode.ACCESS_VIOLATION, 'not a booting node');
    }
    if (req.mode !== 'octet' && req.mode !== 'netascii') return this.reply(rinfo, ErrorCode.ILLEGAL_OPERATION, `unsupported mode ${req.mode}`);
    this.active.set(key, undefined as unknown as Transfer); // reserve against duplicates while opening
    let source: Source;
    try {
      source = await this.opts.open(node, req.filename);
      if (req.mode === 'netascii') {
        const all = source.read(0, source.size);
        const data = all instanceof Promise ? await all : all;
        source.close();
        source = new BufferSource(toNetascii(data));
      }
    } catch (e) {
      this.active.delete(key);
      const err = e as Error;
      if (e instanceof FileError) {
        this.opts.log.info({node: node.nodename, file: req.filename, reason: err.message}, 'TFTP request refused');
        return this.reply(rinfo, e.code === 'ENOENT' ? ErrorCode.FILE_NOT_FOUND : ErrorCode.ACCESS_VIOLATION, err.message);
      }
      if (e instanceof TemplateError) {
        this.opts.log.error({node: node.nodename, file: req.filename, reason: err.message}, 'template failed to render');
        return this.reply(rinfo, ErrorCode.NOT_DEFINED, err.message);
      }
      this.opts.log.error({node: node.nodename, file: req.filename, reason: err.message}, 'TFTP open failed');
      return this.reply(rinfo, ErrorCode.NOT_DEFINED, 'cannot read file');
    }
    if (!this.sock) { source.close(); this.active.delete(key); return; }
    // Options (RFC 2347): answer those we understand, within our limits.
    const oack = new Map<string, string>();
    let blksize = 512, windowsize = 1, timeoutMs = this.opts.retransmitMs;
    const b = Number(req.options.get('blksize'));
    if (req.options.has('blksize') && Number.isInteger(b) && b >= 8) {
      blksize = Math.min(b, this.opts.maxBlksize);
      oack.set('blksize', String(blksize));
    }
    const t = Number(req.options.get('timeout'));
    if (req.options.has('timeout') && Number.isInteger(t) && t >= 1 && t <= 255) {
      timeoutMs = t * 1000;
      oack.set('timeout', String(t));
    }
    if (req.options.has('tsize')) oack.set('tsize', String(source.size));
    const w = Number(req.options.get('windowsize'));
    if (req.options.has('windowsize') && Number.isInteger(w) && w >= 1) {
      windowsize = Math.min(w, this.opts.maxWindowsize);
      oack.set('windowsize', String(windowsize));
    }
    const sock = dgram.createSocket('udp4');
    const local = this.sock.address().address;
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({port: 0, address: local === '0.0.0.0' ? undefined : local}, () => {
          sock.connect(rinfo.port, rinfo.address, () => { sock.off('error', reject); resolve(); });
        });
      });
    } catch (e) {
      source.close();
      this.active.delete(key);
      this.opts.log.error({err: (e as Error).message}, 'TFTP cannot open a transfer socket');
      return this.reply(rinfo, ErrorCode.NOT_DEFINED, 'server busy');
    }
    const transfer = new Transfer(this, sock, {address: rinfo.address, port: rinfo.port}, source, blksize, windowsize,
      timeoutMs, oack.size ? oack : undefined, {node, filename: req.filename, key});
    this.active.set(key, transfer);
    transfer.start();
  }
}
