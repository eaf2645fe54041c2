/**
 * HTTP boot server: per-node iPXE scripts (rendered templates) and kernels/initrds, with single byte-range
 * requests (RFC 9110 §14) so iPXE and curl can resume. Only registered (booting) node addresses are served.
 */
import {createReadStream, statSync} from 'node:fs';
import {join} from 'node:path';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import type {Logger} from '@layercake/sdk';
import type {BootNode} from '../bootnode.js';
import {FileError, type ResolvedFile} from '../files.js';
import type {FileCache} from '../source.js';
import {TemplateError} from '../template.js';

export interface HttpServerOptions {
  port: number;
  bindAddress: string;
  lookup(ip: string): BootNode | undefined;
  resolve(node: BootNode, filename: string): Promise<ResolvedFile>;
  cache: FileCache;
  log: Logger;
  onRequest?(event: {node: BootNode; path: string; status: number; bytes: number}): void;
  /** The image catalogue served at /images/<sha256>.squashfs, to the addresses `allowed` accepts (the nodes). */
  images?: {dir: string; allowed(ip: string): boolean};
}

/** Catalogue images are content-addressed: the name is the checksum, so a URL never changes meaning. */
const IMAGE_PATH = /^\/images\/([0-9a-f]{64})\.squashfs$/;

/** Parses a Range header against a size: [start, end] inclusive, 'unsatisfiable', or undefined (serve all). */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined; // multiple or malformed ranges: a server may ignore Range
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  let start: number, end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

export class HttpBootServer {
  private server: http.Server | undefined;
  constructor(private readonly opts: HttpServerOptions) {}

  get address(): AddressInfo {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error('HTTP boot server is not started');
    return a;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A boot storm opens thousands of connections at once: a deep accept queue (capped by the kernel's
      // net.core.somaxconn) keeps them from being reset while the server catches up.
      server.listen({port: this.opts.port, host: this.opts.bindAddress || '0.0.0.0', backlog: 4096}, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (e) => this.opts.log.error({err: e.message}, 'HTTP boot server error'));
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const send = (status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void => {
      res.writeHead(status, {'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers});
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', {allow: 'GET, HEAD'});
    if (this.opts.images && (req.url ?? '').startsWith('/images/')) return this.serveImage(req, res, remote, send);
    const node = this.opts.lookup(remote);
    if (!node) {
      this.opts.log.debug({from: remote, url: req.url}, 'HTTP request from an address that is not booting; refused');
      return send(403, 'not a booting node\n');
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    } catch {
      return send(400, 'bad path\n');
    }
    let file: ResolvedFile;
    try {
      file = await this.opts.resolve(node, path);
    } catch (e) {
      const err = e as Error;
      if (e instanceof FileError) {
        this.opts.log.info({node: node.nodename, path, reason: err.message}, 'HTTP request refused');
        return send(e.code === 'ENOENT' ? 404 : 403, `${err.message}\n`);
      }
      if (e instanceof TemplateError) {
        this.opts.log.error({node: node.nodename, path, reason: err.message}, 'template failed to render');
        return send(500, `${err.message}\n`);
      }
      this.opts.log.error({node: node.nodename, path, reason: err.message}, 'HTTP open failed');
      return send(500, 'cannot read file\n');
    }
    const size = file.kind === 'rendered' ? file.data.length : file.size;
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') return send(416, 'range not satisfiable\n', {'content-range': `bytes */${size}`});
    const [start, end] = range ?? [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': file.kind === 'rendered' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
      'content-length': length,
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
    };
    if (file.kind === 'static') headers['last-modified'] = new Date(file.mtimeMs).toUTCString();
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    const status = range ? 206 : 200;
    res.writeHead(status, headers);
    this.opts.onRequest?.({node, path, status, bytes: length});
    if (req.method === 'HEAD' || length === 0) { res.end(); return; }
    if (file.kind === 'rendered') { res.end(file.data.subarray(start, end + 1)); return; }
    const source = await this.opts.cache.open(file).catch(() => undefined);
    if (source && source.size === size) {
      const data = source.read(start, length);
      if (!(data instanceof Promise)) { res.end(data); source.close(); return; }
      source.close();
    }
    this.stream(res, file.path, start, end);
  }

  private stream(res: http.ServerResponse, path: string, start: number, end: number): void {
    const stream = createReadStream(path, {start, end});
    stream.on('error', (e) => { this.opts.log.error({path, err: e.message}, 'HTTP read failed'); res.destroy(e); });
    stream.pipe(res);
  }

  /** GET/HEAD of a catalogue image, with single ranges and the sha256 as a strong ETag (for If-Range resumes). */
  private serveImage(req: http.IncomingMessage, res: http.ServerResponse, remote: string, send: (status: number, body: string, headers?: http.OutgoingHttpHeaders) => void): void {
    const images = this.opts.images!;
    if (!images.allowed(remote)) {
      this.opts.log.debug({from: remote, url: req.url}, 'image request from an address that is not a node; refused');
      return send(403, 'not a node of this parent\n');
    }
    const m = IMAGE_PATH.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (!m) return send(404, 'images are served as /images/<sha256>.squashfs\n');
    const path = join(images.dir, `${m[1]}.squashfs`);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return send(404, `no image with sha256 ${m[1]} in the catalogue\n`);
    }
    const etag = `"${m[1]}"`;
    const ifRange = req.headers['if-range'];
    const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') return send(416, 'range not satisfiable\n', {'content-range': `bytes */${size}`});
    const [start, end] = range ?? [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream', 'content-length': length, 'accept-ranges': 'bytes', etag,
      'cache-control': 'public, max-age=31536000, immutable', ...(range ? {'content-range': `bytes ${start}-${end}/${size}`} : {}),
    });
    if (req.method === 'HEAD' || length === 0) { res.end(); return; }
    this.stream(res, path, start, end);
  }
}
