/**
 * One HTTP exchange with the daemon, over node:http (node:https for an https address), through the local
 * socket when there is one. Not fetch: loading undici costs a CLI start 0.05-0.1 s of CPU, node:http
 * next to nothing (docs/cli.md, "Start-up").
 */
import {request as httpRequest} from 'node:http';
import {text} from 'node:stream/consumers';

export interface Reply {
  status: number;
  statusText: string;
  ok: boolean;
  body: string;
}

export interface ExchangeOptions {
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** Send to this Unix socket instead of the URL's host and port. */
  socketPath?: string;
  timeoutMs: number;
}

/** Send one request and read the whole answer; rejects with the socket's error, or an AbortError at the time limit. */
export async function exchange(url: URL, options: ExchangeOptions): Promise<Reply> {
  const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  const headers = {...options.headers};
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = send(url, {method: options.method, headers, socketPath: options.socketPath, signal: AbortSignal.timeout(options.timeoutMs)}, (res) => {
      text(res).then((body) => {
        const status = res.statusCode ?? 0;
        resolve({status, statusText: res.statusMessage ?? '', ok: status >= 200 && status < 300, body});
      }, reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
