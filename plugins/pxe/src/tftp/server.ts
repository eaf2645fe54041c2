/**
 * Read-only TFTP server (RFC 1350) with the option extension (RFC 2347), blksize (RFC 2348), timeout and
 * tsize (RFC 2349) and windowsize (RFC 7440).
 *
 * The main thread answers read requests on the server port: it checks that the source address is a
 * registered booting node, resolves and opens the file (templates render here, per node), negotiates the
 * options, and hands the transfer to one of `workers` worker threads (transfer-worker: worker.ts), which
 * owns the transfer's socket (its TID, connected to the client) and runs the per-block loop. A worker
 * asks the main thread for the file's bytes in chunks as the transfer advances (views of shared memory). Spreading transfers over
 * threads is what lets many concurrent transfers use every core (tftpd-hpa forks a process per transfer).
 * Strangers to a transfer socket get silence (the kernel drops them), not RFC 1350's error packet.
 */
import dgram from 'node:dgram';
import type {AddressInfo} from 'node:net';
import {availableParallelism} from 'node:os';
import type {Worker} from 'node:worker_threads';
import {startWorker, type Logger} from '@layercake/sdk';
import type {BootNode} from '../bootnode.js';
import {FileError} from '../files.js';
import {BufferSource, type Source} from '../source.js';
import {TemplateError} from '../template.js';
import {BadPacket, decodeRequest, encodeError, ErrorCode, Op, toNetascii} from './packet.js';
import type {FromWorker, ToWorker, TransferSpec} from './worker.js';

export interface TftpServerOptions {
  port: number;
  /** '' or '0.0.0.0' for every address. */
  bindAddress: string;
  retransmitMs: number;
  retries: number;
  maxBlksize: number;
  maxWindowsize: number;
  /** Transfer worker threads, started as transfers come (default: the number of CPUs). */
  workers?: number;
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

/** Chunks of a file handed to a worker are at least this big (and at least one window). */
const CHUNK_BYTES = 1 << 20;

/** Shared-memory copies of the buffers holding file contents, made once per buffer. */
const sharedCopies = new WeakMap<ArrayBufferLike, SharedArrayBuffer>();

/**
 * b's bytes in memory a worker can see without a copy per transfer: b's own memory when it is shared
 * already; else a view of a copy of b's whole backing store, made once (a boot storm sends the same
 * cached file to every node), which relies on sources never rewriting bytes they have returned (true of
 * source.ts: cached files and read chunks are written once); else, for a buffer in Node's small-buffer
 * pool (whose slab later buffers are written into), a copy of b alone.
 */
function shared(b: Buffer): Uint8Array {
  const ab = b.buffer;
  let sab = ab instanceof SharedArrayBuffer ? ab : sharedCopies.get(ab);
  if (!sab && ab.byteLength <= Buffer.poolSize) {
    const copy = new Uint8Array(new SharedArrayBuffer(b.length));
    copy.set(b);
    return copy;
  }
  if (!sab) {
    sab = new SharedArrayBuffer(ab.byteLength);
    new Uint8Array(sab).set(new Uint8Array(ab));
    sharedCopies.set(ab, sab);
  }
  return new Uint8Array(sab, b.byteOffset, b.length);
}

interface Lane {
  worker: Worker;
  /** Transfers running on it. */
  load: number;
  stopped?: () => void;
}

interface Active {
  spec: TransferSpec;
  key: string;
  lane: Lane;
  source: Source;
  node: BootNode;
  filename: string;
  rinfo: dgram.RemoteInfo;
}

export class TftpServer {
  private sock: dgram.Socket | undefined;
  /** Requests being opened or transferred, by address:port:file (a retransmitted request is ignored). */
  private readonly keys = new Set<string>();
  private readonly active = new Map<number, Active>();
  private readonly lanes: Lane[] = [];
  private readonly maxWorkers: number;
  private nextId = 1;

  constructor(readonly opts: TftpServerOptions) {
    this.maxWorkers = Math.max(1, opts.workers ?? availableParallelism());
  }

  get address(): AddressInfo {
    if (!this.sock) throw new Error('TFTP server is not started');
    return this.sock.address();
  }

  get transfers(): number { return this.keys.size; }

  /** Worker threads running. */
  get threads(): number { return this.lanes.length; }

  async start(): Promise<void> {
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

  async close(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    // Each worker ends its transfers ('server stopped', reported as usual), then is terminated.
    await Promise.all(this.lanes.map(async (lane) => {
      lane.worker.ref(); // the answer keeps the process alive
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        lane.stopped = () => { clearTimeout(timer); resolve(); };
        this.post(lane, {t: 'stop'});
      });
      await lane.worker.terminate();
    }));
  }

  private post(lane: Lane, m: ToWorker): void {
    lane.worker.postMessage(m);
  }

  /** An idle worker, else a new one while below the limit, else the least loaded. */
  private lane(): Lane {
    let best = this.lanes[0];
    for (const l of this.lanes) if (l.load < best!.load) best = l;
    if (best && (best.load === 0 || this.lanes.length >= this.maxWorkers)) return best;
    const lane: Lane = {worker: startWorker(new URL('./worker.js', import.meta.url)), load: 0};
    lane.worker.unref();
    lane.worker.on('message', (m: FromWorker) => this.onWorker(lane, m));
    lane.worker.on('error', (e) => this.opts.log.error({err: e.message}, 'TFTP transfer worker failed'));
    lane.worker.on('exit', () => {
      const i = this.lanes.indexOf(lane);
      if (i >= 0) this.lanes.splice(i, 1);
      for (const a of [...this.active.values()]) {
        if (a.lane === lane) this.ended(a, {t: 'end', id: a.spec.id, ok: false, error: 'transfer worker exited', bytes: 0, ms: 0, retransmits: 0});
      }
      lane.stopped?.();
    });
    this.lanes.push(lane);
    return lane;
  }

  private onWorker(lane: Lane, m: FromWorker): void {
    if (m.t === 'stopped') { lane.stopped?.(); return; }
    const a = this.active.get(m.id);
    if (!a) return;
    if (m.t === 'read') void this.read(a, m.offset);
    else this.ended(a, m);
  }

  /** Sends the worker the chunk at offset, as a view of shared memory. */
  private async read(a: Active, offset: number): Promise<void> {
    let m: ToWorker;
    try {
      const r = a.source.read(offset, a.spec.chunk);
      m = {t: 'data', id: a.spec.id, offset, data: shared(r instanceof Promise ? await r : r)};
    } catch (e) {
      m = {t: 'fail', id: a.spec.id, error: `read error: ${(e as Error).message}`};
    }
    if (this.active.get(a.spec.id) === a) this.post(a.lane, m);
  }

  private ended(a: Active, m: Extract<FromWorker, {t: 'end'}>): void {
    this.active.delete(a.spec.id);
    this.keys.delete(a.key);
    a.lane.load--;
    a.source.close();
    if (m.early) this.reply(a.rinfo, ErrorCode.NOT_DEFINED, 'server busy');
    const e: TransferEvent = {
      node: a.node, address: a.rinfo.address, filename: a.filename, ok: m.ok, error: m.error, bytes: m.bytes, ms: m.ms,
      blksize: a.spec.blksize, windowsize: a.spec.windowsize, retransmits: m.retransmits,
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
    const spec: TransferSpec = {
      id: this.nextId++, peer: {address: rinfo.address, port: rinfo.port}, local: local === '0.0.0.0' ? '' : local,
      size: source.size, blksize, windowsize, timeoutMs, retries: this.opts.retries, oack: oack.length ? oack : undefined,
      chunk: blksize * Math.max(windowsize, Math.ceil(CHUNK_BYTES / blksize)),
    };
    const lane = this.lane();
    lane.load++;
    this.active.set(spec.id, {spec, key, lane, source, node, filename: req.filename, rinfo});
    this.post(lane, {t: 'start', spec});
  }
}
