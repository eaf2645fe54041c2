/**
 * One HTTP exchange with the daemon, over node:http (node:https for an https address), through the local
 * socket when there is one. Not fetch: loading undici costs a CLI start 0.05-0.1 s of CPU, node:http
 * next to nothing (docs/cli.md, "Start-up"); on a node's one-CPU VM without KVM, undici's first load took
 * about 3 s. Plugins use it too (the imageset module's ImageAPI client), through `@layercake/sdk`.
 */
import {request as httpRequest} from 'node:http';
import {text} from 'node:stream/consumers';

export interface Reply {
  status: number;
  statusText: string;
  ok: boolean;
  /** The content-type header ('' when there is none). */
  type: string;
  body: string;
}

export interface ExchangeOptions {
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** Send to this Unix socket instead of the URL's host and port. */
  socketPath?: string;
  timeoutMs: number;
  /** The caller's own abort, on top of the time limit. */
  signal?: AbortSignal;
}

/** Send one request and read the whole answer; rejects with the socket's error, or an AbortError at the time limit. */
export async function exchange(url: URL, options: ExchangeOptions): Promise<Reply> {
  const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  const headers = {...options.headers};
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const limit = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([limit, options.signal]) : limit;
    const req = send(url, {method: options.method, headers, socketPath: options.socketPath, signal}, (res) => {
      text(res).then((body) => {
        const status = res.statusCode ?? 0;
        resolve({status, statusText: res.statusMessage ?? '', ok: status >= 200 && status < 300, type: res.headers['content-type'] ?? '', body});
      }, reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
