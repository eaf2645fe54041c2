/**
 * The daemon's HTTP API (fastify 5): REST under /api/v1, the event stream WebSocket at /api/v1/events,
 * Prometheus text at /metrics and a health check at /healthz. See docs/api.md.
 *
 * - Changing operations (anything but GET/HEAD) need `Authorization: Bearer <token>` unless the API
 *   listens on loopback only.
 * - Every body and query is validated; errors are `{error: {code, message, node?, url?, value?,
 *   expected?, hint?}}` with the matching status (400 invalid, 401 token, 404 unknown, 409 conflict).
 * - Secrets are redacted from every node, diff, history entry and event.
 */
import {timingSafeEqual} from 'node:crypto';
import {readFileSync} from 'node:fs';
import websocket from '@fastify/websocket';
import Fastify, {type FastifyError, type FastifyInstance} from 'fastify';
import type {ApiDaemon} from './daemon-port.js';
import {Redactor} from './redact.js';
import {registerEngineRoutes} from './routes/engine.js';
import {registerEventRoutes} from './routes/events.js';
import {registerNodeRoutes} from './routes/nodes.js';
import {API_PREFIX, type ApiErrorBody, type Health} from './types.js';

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version: string}).version;
  } catch {
    return '0.0.0';
  }
})();

/** Split `host:port` (IPv6 hosts in brackets). */
export function parseListen(listen: string): {host: string; port: number} {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  if (!m) throw new Error(`listen address "${listen}" is not HOST:PORT`);
  return {host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3])};
}

/** Whether a host only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || /^::ffff:127\./.test(h);
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Map anything a route threw to a status and the error body. */
function errorBody(error: FastifyError & {status?: number; detail?: Record<string, unknown>; toJSON?: () => unknown}): {status: number; body: ApiErrorBody} {
  // LayercakeError (and anything shaped like it): a code, a status, a message naming node, URL and value.
  if (typeof error.status === 'number' && typeof error.code === 'string' && error.detail !== undefined) {
    return {status: error.status, body: {error: {code: error.code, message: error.message, ...error.detail} as ApiErrorBody['error']}};
  }
  if (error.validation) {
    const where = error.validationContext ?? 'request';
    return {status: 400, body: {error: {code: 'INVALID', message: `${where}: ${error.message.replace(/^(body|querystring|params)\/?/, '')}`.trim(), hint: 'see docs/api.md for the request shapes'}}};
  }
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return {status: 400, body: {error: {code: 'BAD_JSON', message: `the request body is not valid JSON: ${error.message}`}}};
  }
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {status: 415, body: {error: {code: 'UNSUPPORTED_MEDIA_TYPE', message: error.message, hint: 'send Content-Type: application/json'}}};
  }
  if (error.statusCode && error.statusCode < 500) {
    return {status: error.statusCode, body: {error: {code: error.code ?? `HTTP_${error.statusCode}`, message: error.message}}};
  }
  return {status: 500, body: {error: {code: 'INTERNAL', message: error.message || 'internal error', hint: 'the daemon log has the details'}}};
}

/** The fastify instance with every route, not listening (tests use `inject`). */
export async function buildApiServer(daemon: ApiDaemon, opts: {tokenRequired?: boolean} = {}): Promise<FastifyInstance> {
  const tokenRequired = opts.tokenRequired ?? !isLoopback(parseListen(daemon.listenAddress).host);
  const started = Date.now();
  const app = Fastify({logger: false, bodyLimit: 64 * 1024 * 1024, forceCloseConnections: true, ajv: {customOptions: {coerceTypes: 'array', removeAdditional: false}}});
  const redact = new Redactor(daemon.registry);

  app.setErrorHandler((error: FastifyError, req, reply) => {
    const {status, body} = errorBody(error);
    if (status >= 500) daemon.logger?.error({err: error, method: req.method, url: req.url}, 'API request failed');
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({error: {code: 'NO_ROUTE', message: `no route ${req.method} ${req.url.split('?')[0]}`, hint: 'see docs/api.md for the routes'}} satisfies ApiErrorBody);
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!tokenRequired || req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m || !sameToken(m[1], daemon.token)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({error: {
        code: 'UNAUTHORIZED',
        message: m ? 'the API token is wrong' : 'this operation needs the API token (the daemon listens on a non-loopback address)',
        hint: 'pass --token or set LAYERCAKE_TOKEN; the daemon keeps it in <stateDir>/token',
      }} satisfies ApiErrorBody);
    }
  });

  await app.register(websocket, {options: {maxPayload: 1024 * 1024}});

  app.get('/healthz', async (): Promise<Health> => ({
    ok: true, id: daemon.selfId, version: VERSION, uptimeSeconds: Math.round((Date.now() - started) / 1000),
    nodes: daemon.store.size, frozen: daemon.engine.frozen, tokenRequired,
  }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await daemon.metrics.render()));

  await app.register(async (api) => {
    registerNodeRoutes(api, daemon, redact);
    registerEngineRoutes(api, daemon);
    registerEventRoutes(api, daemon, redact, VERSION);
  }, {prefix: API_PREFIX});
  return app;
}

/**
 * Start the API on `daemon.listenAddress`. Resolves once listening; `address` is the actual `host:port`
 * (an ephemeral port resolved, IPv6 hosts in brackets); `close()` stops it and ends open event streams.
 */
export async function createApiServer(daemon: ApiDaemon): Promise<{address: string; close(): Promise<void>}> {
  const app = await buildApiServer(daemon);
  const {host, port} = parseListen(daemon.listenAddress);
  await app.listen({host, port});
  const addr = app.server.address();
  const actualPort = addr && typeof addr === 'object' ? addr.port : port;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
    close: async () => {
      for (const client of app.websocketServer?.clients ?? []) client.terminate();
      await app.close();
    },
  };
}
