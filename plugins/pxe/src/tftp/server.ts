/**
 * Read-only TFTP server (RFC 1350) with the option extension (RFC 2347), blksize (RFC 2348), timeout and
 * tsize (RFC 2349) and windowsize (RFC 7440).
 *
 * This answers read requests on the server port: it checks that the source address is a registered
 * booting node, resolves and opens the file (templates render here, per node), negotiates the options,
 * and hands the transfer to the native sender (sender.ts), which runs it on a thread of its own from a
 * socket of its own (the transfer's TID, connected to the client) and reports how it ended. A thread
 * per transfer is what lets concurrent transfers use every core (tftpd-hpa forks a process per transfer).
 * Strangers to a transfer socket get silence (the kernel drops them), not RFC 1350's error packet.
 */
import dgram from 'node:dgram';
import type {AddressInfo} from 'node:net';
import type {Logger} from '@layercake/sdk';
import type {BootNode} from '../bootnode.js';
import {FileError} from '../files.js';
import {BufferSource, type Source} from '../source.js';
import {TemplateError} from '../template.js';
import {BadPacket, decodeRequest, encodeError, encodeOack, ErrorCode, Op, toNetascii} from './packet.js';
import {abort, checkSender, send, type Sending, type SendResult} from './sender.js';

export interface TftpServerOptions {
  port: number;
  /** '' or '0.0.0.0' for every address. */
  bindAddress: string;
  retransmitMs: number;
  retries: number;
  maxBlksize: number;
  maxWindowsize: number;
  /** Microseconds a transfer busy-polls for an ACK before it sleeps, while cores are idle (0: never). */
  busyPollUs?: number;
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

interface Active {
  sending: Sending;
  key: string;
  source: Source;
  node: BootNode;
  filename: string;
  rinfo: dgram.RemoteInfo;
  blksize: number;
  windowsize: number;
}

export class TftpServer {
  private sock: dgram.Socket | undefined;
  /** Requests being opened or transferred, by address:port:file (a retransmitted request is ignored). */
  private readonly keys = new Set<string>();
  private readonly active = new Set<Active>();

  constructor(readonly opts: TftpServerOptions) {}

  get address(): AddressInfo {
    if (!this.sock) throw new Error('TFTP server is not started');
    return this.sock.address();
  }

  get transfers(): number { return this.keys.size; }

  async start(): Promise<void> {
    checkSender();
    const sock = dgram.createSocket({type: 'udp4', reuseAddr: true});
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({port: this.opts.port, address: this.opts.bindAddress || '0.0.0.0'}, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    // A boot storm's burst of requests waits in the socket instead of being dropped (the kernel caps this
    // at net.core.rmem_max, which operators of large clusters raise).
    try { sock.setRecvBufferSize(4 * 1024 * 1024); } catch { /* keep the default */ }
    sock.on('error', (e) => this.opts.log.error({err: e.message}, 'TFTP socket error'));
    sock.on('message', (msg, rinfo) => void this.onRequest(msg, rinfo));
    this.sock = sock;
  }

  /** Stops answering and ends the running transfers ('server stopped': an ERROR to each client, reported as usual). */
  async close(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    const running = [...this.active];
    for (const a of running) abort(a.sending);
    // A transfer's end does not keep the process alive (like the server's socket, unref'ed): without this
    // timer a process with nothing else to do would exit before the aborted transfers report.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await Promise.all(running.map((a) => a.sending.done));
    } finally {
      clearInterval(keepAlive);
    }
  }

  private ended(a: Active, r: SendResult): void {
    this.active.delete(a);
    this.keys.delete(a.key);
    a.source.close();
    if (r.early) this.reply(a.rinfo, ErrorCode.NOT_DEFINED, 'server busy');
    const e: TransferEvent = {
      node: a.node, address: a.rinfo.address, filename: a.filename, ok: r.ok, error: r.error, bytes: r.bytes, ms: r.ms,
      blksize: a.blksize, windowsize: a.windowsize, retransmits: r.retransmits,
    };
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
    if (this.keys.has(key)) return; // a retransmitted request: the transfer's own timer answers it
    const node = this.opts.lookup(rinfo.address);
    if (!node) {
      this.opts.log.debug({from: rinfo.address, file: req.filename}, 'TFTP request from an address that is not booting; refused');
      return this.reply(rinfo, ErrorCode.ACCESS_VIOLATION, 'not a booting node');
    }
    if (req.mode !== 'octet' && req.mode !== 'netascii') return this.reply(rinfo, ErrorCode.ILLEGAL_OPERATION, `unsupported mode ${req.mode}`);
    this.keys.add(key); // reserved against duplicates while opening
    let source: Source | undefined;
    let content: {data: Buffer} | {fd: number};
    try {
      source = await this.opts.open(node, req.filename);
      if (req.mode === 'netascii') {
        const all = source.read(0, source.size);
        const data = all instanceof Promise ? await all : all;
        source.close();
        source = new BufferSource(toNetascii(data));
      }
      content = await source.content();
    } catch (e) {
      source?.close();
      this.keys.delete(key);
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
    if (!this.sock) { source.close(); this.keys.delete(key); return; }
    // Options (RFC 2347): answer those we understand, within our limits.
    const oack: [string, string][] = [];
    let blksize = 512, windowsize = 1, timeoutMs = this.opts.retransmitMs;
    const b = Number(req.options.get('blksize'));
    if (req.options.has('blksize') && Number.isInteger(b) && b >= 8) {
      blksize = Math.min(b, this.opts.maxBlksize);
      oack.push(['blksize', String(blksize)]);
    }
    const t = Number(req.options.get('timeout'));
    if (req.options.has('timeout') && Number.isInteger(t) && t >= 1 && t <= 255) {
      timeoutMs = t * 1000;
      oack.push(['timeout', String(t)]);
    }
    if (req.options.has('tsize')) oack.push(['tsize', String(source.size)]);
    const w = Number(req.options.get('windowsize'));
    if (req.options.has('windowsize') && Number.isInteger(w) && w >= 1) {
      windowsize = Math.min(w, this.opts.maxWindowsize);
      oack.push(['windowsize', String(windowsize)]);
    }
    const local = this.sock.address().address;
    let sending: Sending;
    try {
      sending = send({
        local: local === '0.0.0.0' ? '' : local, address: rinfo.address, port: rinfo.port, ...content, size: source.size,
        blksize, windowsize, timeoutMs, retries: this.opts.retries, busyPollUs: this.opts.busyPollUs ?? 0, ...(oack.length ? {oack: encodeOack(new Map(oack))} : {}),
      });
    } catch (e) {
      source.close();
      this.keys.delete(key);
      this.opts.log.error({node: node.nodename, file: req.filename, reason: (e as Error).message}, 'TFTP transfer could not start');
      return this.reply(rinfo, ErrorCode.NOT_DEFINED, 'server error');
    }
    const a: Active = {sending, key, source, node, filename: req.filename, rinfo, blksize, windowsize};
    this.active.add(a);
    void sending.done.then((r) => this.ended(a, r));
  }
}
