/**
 * What every request passes before a route sees it (docs/api.md, "Limits" and "Cross-site requests"):
 *
 * - a web page of another origin gets 403 (a browser always sends Origin on cross-site requests), and
 *   on a loopback listener the Host header must name this machine (DNS rebinding: a page whose name
 *   resolves to 127.0.0.1 would otherwise be "same origin");
 * - a change (POST, PUT, PATCH, DELETE) must be `Content-Type: application/json` (415): a page can send
 *   text/plain or a form across sites without asking, never JSON;
 * - the JSON body is bounded before it is parsed: its size (`bodyLimit`, 413), its nesting depth
 *   (MAX_DEPTH, 400), every string in it (`maxFieldBytes`, 413), and keys that could reach an object's
 *   prototype (`__proto__`, `constructor`, 400).
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify';
import {LayercakeError, TooLargeError, ValidationError} from '../../model/errors.js';
import {joinPointer} from '../../model/url.js';
import type {ApiErrorBody} from '../types.js';

/** The deepest nesting a request body may have (a node needs about 6: extensions, images, source...). */
export const MAX_DEPTH = 32;

export interface ApiLimits {
  /** Largest request body, bytes. */
  bodyLimit: number;
  /** Largest node (its JSON), bytes. */
  maxNodeBytes: number;
  /** Largest string anywhere in a body, bytes. */
  maxFieldBytes: number;
  /** Host names, besides localhost, 127.0.0.1 and [::1], that a loopback listener answers to. */
  allowedHosts: string[];
}

export const DEFAULT_LIMITS: ApiLimits = {bodyLimit: 32 * 1024 * 1024, maxNodeBytes: 64 * 1024, maxFieldBytes: 16 * 1024, allowedHosts: []};

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor']);

function isLoopbackAddress(address: string | undefined): boolean {
  return Boolean(address) && (/^127\./.test(address!) || address === '::1' || /^::ffff:127\./.test(address!));
}

function deny(reply: FastifyReply, status: number, code: string, message: string, hint: string): FastifyReply {
  return reply.code(status).send({error: {code, message, hint}} satisfies ApiErrorBody);
}

/** The Host header's name and port; undefined when it cannot be parsed. */
function parseHost(host: string): {name: string; port?: number} | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  return m ? {name: m[1].toLowerCase(), port: m[2] === undefined ? undefined : Number(m[2])} : undefined;
}

/** Why the request's Origin or Host shows a cross-site or rebound request, if it does. */
export function crossSiteReason(req: FastifyRequest, limits: ApiLimits, local: boolean): {code: string; message: string} | undefined {
  const host = req.headers.host ?? '';
  const socket = req.raw.socket;
  if (!local && isLoopbackAddress(socket?.localAddress)) {
    const parsed = parseHost(host);
    const names = ['localhost', '127.0.0.1', '[::1]', ...limits.allowedHosts.map((h) => h.toLowerCase())];
    const port = socket.localPort;
    if (!parsed || !names.includes(parsed.name) || (parsed.port ?? 80) !== port) {
      return {code: 'LC_ERR_API_BAD_HOST', message: `Host "${host.slice(0, 100)}" is not this daemon (a loopback API answers to localhost, 127.0.0.1 or [::1] on port ${port}, or to api.allowedHosts)`};
    }
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
    return {code: 'LC_ERR_API_FOREIGN_ORIGIN', message: `requests from web pages of another origin (${origin.slice(0, 100)}) are refused`};
  }
  return undefined;
}

/** The onRequest checks; `isLocal` says whether the request came through the local socket. */
export function registerGate(app: FastifyInstance, limits: ApiLimits, isLocal: (req: FastifyRequest) => boolean): void {
  app.addHook('onRequest', async (req, reply) => {
    const crossSite = crossSiteReason(req, limits, isLocal(req));
    if (crossSite) return deny(reply, 403, crossSite.code, crossSite.message, 'use the CLI, curl or another client that is not a web page; see docs/api.md, "Cross-site requests"');
    if (CHANGES.has(req.method) && !/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
      return deny(reply, 415, 'LC_ERR_API_MEDIA_TYPE', `a change needs Content-Type: application/json (got ${req.headers['content-type'] ? JSON.stringify(req.headers['content-type'].slice(0, 100)) : 'none'})`,
        'send the body as JSON with Content-Type: application/json ({} when there is nothing to say)');
    }
    return undefined;
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', {parseAs: 'string', bodyLimit: limits.bodyLimit}, (_req, body, done) => {
    try {
      done(null, parseBody(body as string, limits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** Parse a request body within the limits (depth is checked on the text, before any recursion). */
export function parseBody(text: string, limits: Pick<ApiLimits, 'maxFieldBytes'>): unknown {
  if (text.trim() === '') return undefined;
  checkDepth(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LayercakeError(`the request body is not valid JSON: ${(error as Error).message}`, 'LC_ERR_API_BAD_JSON', {hint: 'send a JSON document'});
  }
  checkValues(value, [], limits.maxFieldBytes);
  return value;
}

/** Refuse nesting deeper than MAX_DEPTH, counting brackets outside strings. */
function checkDepth(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 || c === 123) {
      if (++depth > MAX_DEPTH) throw new LayercakeError(`the request body nests deeper than ${MAX_DEPTH} levels (at byte ${i})`, 'LC_ERR_API_TOO_DEEP', {hint: 'a node needs far fewer; see docs/api.md, "Limits"'});
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
}

/** Refuse prototype keys and strings over the field limit, naming where they are (never their value). */
function checkValues(value: unknown, path: string[], maxFieldBytes: number): void {
  if (typeof value === 'string') {
    const bytes = Buffer.byteLength(value);
    if (bytes > maxFieldBytes) {
      throw new TooLargeError(`${joinPointer(path) || 'the body'}: a string of ${bytes} bytes is over the limit of ${maxFieldBytes} bytes (api.maxFieldBytes)`, {url: joinPointer(path), hint: 'see docs/api.md, "Limits"'});
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkValues(v, [...path, String(i)], maxFieldBytes));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(key)) {
      throw new ValidationError(`${joinPointer([...path, key])}: the key "${key}" is not allowed (it could reach an object's prototype)`, {url: joinPointer([...path, key])});
    }
    checkValues(v, [...path, key], maxFieldBytes);
  }
}

/** Refuse a node whose JSON is over `maxNodeBytes`. */
export function checkNodeSize(node: unknown, maxNodeBytes: number, label?: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(node) ?? '');
  if (bytes > maxNodeBytes) {
    throw new TooLargeError(`${label ? `node ${label}: ` : ''}the node is ${bytes} bytes, over the limit of ${maxNodeBytes} bytes (api.maxNodeBytes)`, {node: label, hint: 'see docs/api.md, "Limits"'});
  }
}
