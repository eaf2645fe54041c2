/**
 * Fetching an image over HTTP into RAM for an `http` attachment: the size is checked against the node's
 * free RAM first, the body is hashed while it is written, a cut connection is resumed with a ranged GET
 * (`If-Range` on the ETag, so a changed file starts over), and the SHA-256 and size are checked before
 * the caller attaches anything. On any failure the partial file is removed: nothing is left behind.
 * node:http (or https) does the HTTP; what is written here is only the resume loop around it.
 *
 * Why not Node's fetch (undici): on a one-CPU VM without KVM, its web streams cost about twice the CPU
 * per image of node:http's plain streams, and loading it on first use took about 3 s (issue 16: the
 * fetch was the largest step of a roll on the node).
 */
import {createHash, type Hash} from 'node:crypto';
import {closeSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync} from 'node:fs';
import http, {type IncomingMessage} from 'node:http';
import https from 'node:https';
import {ApiError, failed} from '../api/errors.js';
import type {Debug} from './timing.js';

export interface HttpImage {
  url: string;
  sha256: string;
  size: number;
}

export interface FetchOptions {
  /** The node's free RAM in bytes (default: MemAvailable of /proc/meminfo). */
  memAvailable?: () => number;
  /** How many times a cut transfer is resumed (default 5). */
  resumes?: number;
  /** A transfer that receives nothing for this long is cut (and resumed) (default 30 s). */
  stallMs?: number;
  /** A debug log: each transfer's time to its response head, and its body's chunks and time. */
  debug?: Debug;
}

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** MemAvailable of /proc/meminfo, in bytes. */
export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  if (!m) throw new Error('/proc/meminfo has no MemAvailable line');
  return Number(m[1]) * 1024;
}

/** Why a request failed, the way an operator reads it: the socket error's code (ECONNREFUSED ...) when there is one. */
function reason(error: unknown): string {
  const e = error as Error & {code?: string};
  return e.name === 'AbortError' ? 'aborted' : (e.code && !e.code.startsWith('ERR_') ? e.code : e.message);
}

/** A GET: the response once its head arrived (its body is read by iterating it). */
function get(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? https : http).get(url, {headers, signal}, resolve);
    request.once('error', reject);
  });
}

/** Fetches `image` into `dest` (through `dest.part`), checked; throws an ApiError (500) with the reason. */
export async function fetchImage(image: HttpImage, dest: string, opts: FetchOptions = {}): Promise<void> {
  const free = (opts.memAvailable ?? memAvailable)();
  if (image.size > free) throw failed(`image ${image.url} is ${MiB(image.size)}, more than the node's free RAM (MemAvailable ${MiB(free)}): not fetched`);
  const part = `${dest}.part`;
  const fd = openSync(part, 'w', 0o600);
  try {
    const hash = await download(image, fd, opts.resumes ?? 5, opts.stallMs ?? 30_000, opts.debug);
    const digest = hash.digest('hex');
    if (digest !== image.sha256) throw failed(`checksum mismatch for ${image.url}: its sha256 is ${digest}, the cfg expects ${image.sha256} (nothing was attached)`);
    closeSync(fd);
    renameSync(part, dest);
  } catch (error) {
    try { closeSync(fd); } catch { /* closed already */ }
    rmSync(part, {force: true});
    throw error;
  }
}

/** The transfer itself: returns the hash of exactly `size` bytes written to `fd`. */
async function download(image: HttpImage, fd: number, resumes: number, stallMs: number, debug: Debug): Promise<Hash> {
  let hash = createHash('sha256');
  let received = 0;
  let etag: string | undefined;
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = received > 0 ? {range: `bytes=${received}-`, ...(etag ? {'if-range': etag} : {})} : {};
    // A server that stops sending (but keeps the connection) is cut after stallMs, like a dropped one.
    const stall = new AbortController();
    const timer = setTimeout(() => stall.abort(new Error(`nothing received for ${stallMs} ms`)), stallMs);
    let res: IncomingMessage;
    const asked = performance.now();
    try {
      res = await get(image.url, headers, stall.signal);
    } catch (error) {
      clearTimeout(timer);
      if (received > 0 && attempt < resumes) continue;
      throw failed(`cannot fetch ${image.url}: ${reason(error)}`);
    }
    const status = res.statusCode ?? 0;
    if (status === 200 && received > 0) { // the server ignored the range (or the file changed): start over
      hash = createHash('sha256');
      received = 0;
      ftruncateSync(fd, 0);
    } else if (status !== 200 && status !== 206) {
      clearTimeout(timer);
      res.destroy();
      throw failed(`cannot fetch ${image.url}: the server answered ${status} ${res.statusMessage ?? ''}`.trimEnd());
    }
    etag = res.headers.etag;
    const length = Number(res.headers['content-length'] ?? NaN);
    if (status === 200 && Number.isFinite(length) && length !== image.size) {
      clearTimeout(timer);
      res.destroy();
      throw failed(`size mismatch for ${image.url}: the server has ${length} bytes, the cfg expects ${image.size} (nothing was attached)`);
    }
    const head = performance.now();
    let chunks = 0;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        chunks++;
        timer.refresh();
        if (received + chunk.length > image.size) throw failed(`size mismatch for ${image.url}: the server sent more than the ${image.size} bytes the cfg expects (nothing was attached)`);
        writeSync(fd, chunk, 0, chunk.length, received);
        hash.update(chunk);
        received += chunk.length;
      }
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (attempt >= resumes) throw failed(`cannot fetch ${image.url}: ${stall.signal.aborted ? (stall.signal.reason as Error).message : reason(error)} after ${received} of ${image.size} bytes`);
      continue; // cut mid-body: resume from `received`
    } finally {
      clearTimeout(timer);
      res.destroy(); // read to its end, or given up: either way its socket goes
      debug?.(`fetch ${image.url}: response head in ${Math.round(head - asked)} ms, then ${chunks} chunks in ${Math.round(performance.now() - head)} ms`);
    }
    if (received === image.size) return hash;
    if (attempt >= resumes) throw failed(`size mismatch for ${image.url}: the server sent ${received} bytes, the cfg expects ${image.size} (nothing was attached)`);
  }
}
