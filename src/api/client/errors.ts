/**
 * Errors the API client throws. An ApiError carries the server's error body (code, message, and the
 * node, URL, value and expectation when the server named them); DaemonUnreachableError says where the
 * client tried and how to start a daemon.
 */
import type {ApiErrorBody} from '../types.js';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: string;
  readonly node?: string;
  readonly url?: string;
  readonly value?: unknown;
  readonly expected?: string;
  readonly hint?: string;

  constructor(readonly status: number, body: ApiErrorBody['error']) {
    super(body.message);
    this.code = body.code;
    this.node = body.node;
    this.url = body.url;
    this.value = body.value;
    this.expected = body.expected;
    this.hint = body.hint;
  }
}

export class DaemonUnreachableError extends Error {
  override name = 'DaemonUnreachableError';
  readonly hint: string;

  constructor(readonly address: string, readonly reason: string, source?: string) {
    super(`cannot reach the layercake daemon at ${address} (${reason})${source ? `; the address is from ${source}` : ''}`);
    this.hint = 'start one with `layercake daemon` (or `npm start` for the demo cluster), or point --url / LAYERCAKE_URL at a running daemon';
  }
}

/** A short reason for a network failure of a request or of ws: "connection refused", "timed out after 10 s". */
export function networkReason(error: unknown, timeoutMs?: number): string {
  const e = error as {name?: string; code?: string; cause?: {code?: string; message?: string}; message?: string};
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return timeoutMs ? `no answer within ${timeoutMs / 1000} s` : 'no answer';
  const code = e?.cause?.code ?? e?.code;
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused: nothing listens there';
    case 'ENOENT': return 'no socket there';
    case 'EACCES': case 'EPERM': return 'permission denied: only the daemon\'s user and members of group layercake may use the socket';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host name not found';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    case 'ECONNRESET': return 'connection reset';
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': return 'connection timed out';
    default: return e?.cause?.message ?? e?.message ?? String(error);
  }
}

/**
 * Whether a request's error means the daemon could not be reached, or dropped the connection (as opposed
 * to an HTTP error or a request node:http refuses to send): the time limit, or a system error (ECONNREFUSED,
 * ENOENT for a socket, ECONNRESET, ENOTFOUND...), or an answer cut short.
 */
export function isNetworkError(error: unknown): boolean {
  const e = error as {name?: string; code?: unknown};
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  return typeof e?.code === 'string' && (!e.code.startsWith('ERR_') || e.code === 'ERR_STREAM_PREMATURE_CLOSE');
}
