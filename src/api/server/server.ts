/**
 * The daemon's HTTP API (fastify 5): REST under /api/v1, the event stream WebSocket at /api/v1/events,
 * Prometheus text at /metrics and a health check at /healthz. See docs/api.md.
 *
 * - Two channels (docs/api.md, "Who may change state"): TCP, where every request but `GET /healthz`
 *   needs `Authorization: Bearer <token>` (loopback included: any local user can reach loopback), and
 *   the local Unix socket, where the socket file's permissions (0660, group `layercake`) are the access
 *   control and no token is asked for.
 * - Every body and query is validated; errors are `{error: {code, message, node?, url?, value?,
 *   expected?, hint?}}` with the matching status (400 invalid, 401 token, 404 unknown, 409 conflict).
 * - Secrets are redacted from every node, diff, history entry and event.
 */
import {timingSafeEqual} from 'node:crypto';
import {readFileSync, unlinkSync} from 'node:fs';
import {createServer, type Socket} from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, {type FastifyError, type FastifyInstance, type FastifyServerOptions} from 'fastify';
import {type ErrorCode, ERRORS} from '../../model/errors.js';
import type {ApiDaemon} from './daemon-port.js';
import {type ApiLimits, DEFAULT_LIMITS, registerGate} from './gate.js';
import {listenOnSocket} from '../local-socket.js';
import {collectRoutes, openApiDocument} from './openapi.js';
import {Redactor} from './redact.js';
import {registerEngineRoutes} from './routes/engine.js';
import {registerEventRoutes} from './routes/events.js';
import {registerNodeRoutes} from './routes/nodes.js';
import {registerStoreRoutes} from './routes/store.js';
import {answers, zodValidator} from './schemas.js';
import {API_PREFIX, type ApiErrorBody, type Health} from '../types.js';

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {version: string}).version;
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


/** Compares a given token with the expected one in constant time. */
function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const FASTIFY_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'LC_ERR_INPUT_INVALID', 401: 'LC_ERR_API_UNAUTHORIZED', 403: 'LC_ERR_API_FOREIGN_ORIGIN', 404: 'LC_ERR_API_NO_ROUTE',
  413: 'LC_ERR_API_TOO_LARGE', 415: 'LC_ERR_API_MEDIA_TYPE',
};

/** Map anything a route threw to a status and the error body. */
function errorBody(error: FastifyError & {status?: number; detail?: Record<string, unknown>; toJSON?: () => unknown}, limits: ApiLimits): {status: number; body: ApiErrorBody} {
  // LayercakeError (and anything shaped like it): a code, a status, a message naming node, URL and value.
  if (typeof error.status === 'number' && typeof error.code === 'string' && error.detail !== undefined) {
    return {status: error.status, body: {error: {code: error.code, message: error.message, ...error.detail} as ApiErrorBody['error']}};
  }
  if (error.validation) {
    const where = error.validationContext ?? 'request';
    return {status: 400, body: {error: {code: 'LC_ERR_INPUT_INVALID', message: `${where}: ${error.message.replace(/^(body|querystring|params)\/?/, '')}`.trim(), hint: 'see docs/api.md for the request shapes'}}};
  }
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return {status: 400, body: {error: {code: 'LC_ERR_API_BAD_JSON', message: `the request body is not valid JSON: ${error.message}`}}};
  }
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {status: 415, body: {error: {code: 'LC_ERR_API_MEDIA_TYPE', message: error.message, hint: 'send Content-Type: application/json'}}};
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {status: 413, body: {error: {code: 'LC_ERR_API_TOO_LARGE', message: `the request body is over the limit of ${limits.bodyLimit} bytes (api.bodyLimit)`, hint: 'send fewer nodes per request; see docs/api.md, "Limits"'}}};
  }
  if (error.code === 'ENOSPC') { // a disk that filled up under a route (the store has its own, LC_ERR_STORE_FULL)
    return {status: 507, body: {error: {code: 'LC_ERR_DISK_FULL', message: `no space left on device: ${error.message}`, hint: ERRORS.LC_ERR_DISK_FULL.next}}};
  }
  if (error.statusCode && error.statusCode < 500) {
    // fastify's own 4xx (a body over bodyLimit, ...): the catalogue's code for that status.
    const code = FASTIFY_STATUS_CODES[error.statusCode] ?? 'LC_ERR_INPUT_INVALID';
    return {status: error.statusCode, body: {error: {code, message: error.message, hint: ERRORS[code].next}}};
  }
  return {status: 500, body: {error: {code: 'LC_ERR_INTERNAL', message: error.message || 'internal error', hint: 'the daemon log has the details'}}};
}

/**
 * Requests are validated by their zod schemas (src/api/schemas.ts); answers are plain JSON. Given as the
 * compilers' factories (not through setValidatorCompiler), fastify never loads its own: ajv and
 * fast-json-stringify, ~0.03 s of CPU at every daemon start. (fastify types the factories after ajv's
 * compile; at run time it uses what they return exactly as a setValidatorCompiler/setSerializerCompiler
 * compiler.)
 */
const compilers = {
  buildValidator: () => zodValidator,
  buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
} as unknown as NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * The fastify instance with every route, not listening (tests use `inject`). Connections in
 * `localSockets` came through the Unix socket and need no token; every other one does.
 */
export async function buildApiServer(daemon: ApiDaemon, opts: {localSockets?: WeakSet<object>} = {}): Promise<FastifyInstance> {
  const localSockets = opts.localSockets ?? new WeakSet();
  const isLocal = (socket: object) => localSockets.has(socket);
  const limits: ApiLimits = {...DEFAULT_LIMITS, ...daemon.apiLimits};
  const started = Date.now();
  const app = Fastify({logger: false, bodyLimit: limits.bodyLimit, forceCloseConnections: true, schemaController: {compilersFactory: compilers}});
  const redact = new Redactor(daemon.registry);
  const routes = collectRoutes(app);

  app.setErrorHandler((error: FastifyError, req, reply) => {
    const {status, body} = errorBody(error, limits);
    if (status >= 500) daemon.logger?.error({err: error, method: req.method, url: req.url}, 'API request failed');
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({error: {code: 'LC_ERR_API_NO_ROUTE', message: `no route ${req.method} ${req.url.split('?')[0]}`, hint: 'see docs/api.md for the routes'}} satisfies ApiErrorBody);
  });

  app.addHook('onRequest', async (req, reply) => {
    if (isLocal(req.raw.socket) || (req.method === 'GET' && req.url === '/healthz')) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m || !sameToken(m[1], daemon.token)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({error: {
        code: 'LC_ERR_API_UNAUTHORIZED',
        message: m ? 'the API token is wrong' : 'the API over TCP needs the token (loopback included)',
        hint: 'use the local socket (--url unix:PATH; members of group layercake may), or pass --token / set LAYERCAKE_TOKEN; the daemon keeps the token in <stateDir>/token',
      }} satisfies ApiErrorBody);
    }
  });

  registerGate(app, limits, (req) => isLocal(req.raw.socket));
  await app.register(websocket, {options: {maxPayload: 1024 * 1024}});

  app.get('/healthz', {schema: {response: {200: answers.health}}}, async (req): Promise<Health> => ({
    ok: true, id: daemon.selfId, version: VERSION, uptimeSeconds: Math.round((Date.now() - started) / 1000),
    nodes: daemon.store.size, frozen: daemon.engine.frozen, tokenRequired: !isLocal(req.raw.socket),
  }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await daemon.metrics.render()));

  await app.register(async (api) => {
    registerNodeRoutes(api, daemon, redact);
    registerEngineRoutes(api, daemon);
    registerEventRoutes(api, daemon, redact, VERSION);
    registerStoreRoutes(api, daemon);
    api.get('/openapi.json', {schema: {response: {200: answers.openapi}}}, async () => openApiDocument(routes, daemon.registry, VERSION));
  }, {prefix: API_PREFIX});
  return app;
}

/** Where the API listens: `address` is the TCP `host:port` (an ephemeral port resolved) or 'none'. */
export interface ApiServer {
  address: string;
  /** The Unix socket's path, when there is one. */
  socket?: string;
  /** Set when the socket could not be given to the operators' group. */
  socketWarning?: string;
  close(): Promise<void>;
}

/**
 * Start the API on `daemon.listenAddress` (unless 'none') and on the Unix socket `daemon.socketPath`
 * (unless absent). The socket's connections are handed to the same HTTP server, marked as local.
 */
export async function createApiServer(daemon: ApiDaemon): Promise<ApiServer> {
  const localSockets = new WeakSet<Socket>();
  const app = await buildApiServer(daemon, {localSockets});
  const local = createServer((conn) => {
    localSockets.add(conn);
    app.server.emit('connection', conn);
  });
  let address = 'none';
  let socketWarning: string | undefined;
  const socket = daemon.socketPath;
  // Every connection, upgraded ones included (fastify's forceCloseConnections only knows HTTP ones): a
  // refused WebSocket upgrade a client leaves open must not keep the daemon from stopping.
  const connections = new Set<Socket>();
  app.server.on('connection', (conn: Socket) => {
    connections.add(conn);
    conn.once('close', () => connections.delete(conn));
  });
  const close = async () => {
    for (const client of app.websocketServer?.clients ?? []) client.terminate();
    for (const conn of connections) conn.destroy();
    if (local.listening) {
      await new Promise((resolve) => local.close(resolve));
      if (socket) try { unlinkSync(socket); } catch { /* gone already */ }
    }
    await app.close();
  };
  try {
    if (daemon.listenAddress !== 'none') {
      const {host, port} = parseListen(daemon.listenAddress);
      await app.listen({host, port});
      const addr = app.server.address();
      address = `${host.includes(':') ? `[${host}]` : host}:${addr && typeof addr === 'object' ? addr.port : port}`;
    } else {
      await app.ready();
    }
    if (socket) socketWarning = await listenOnSocket(local, socket);
  } catch (error) {
    await close();
    throw error;
  }
  return {address, socket, socketWarning, close};
}
