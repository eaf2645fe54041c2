/**
 * The HTTP face of the service (fastify): REST resources /attach, /mount, /container under
 * /imageapi/v1, a long-poll /watch, /info, and the OpenAPI description at /openapi.json.
 */
import Fastify, {type FastifyInstance, type FastifyReply} from 'fastify';
import type {z} from '@layercake/sdk';
import {ApiError, badRequest, fromZod} from '../api/errors.js';
import {attachQuery, containerCreateQuery, containerDeleteQuery, containerPatchQuery, containerQuery, deleteQuery, logQuery, mountQuery, watchQuery} from '../api/models.js';
import {openApiDocument} from '../api/openapi.js';
import {API_BASE, API_VERSION, type Created, type ImageApiService} from './service.js';

export interface ServerOptions {
  /** host:port ([v6]:port); default 127.0.0.1:8080. Port 0 picks a free one. */
  listen?: string;
  logger?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  /** The base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  close(): Promise<void>;
}

export function parseListen(listen: string): {host: string; port: number} {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen.trim());
  if (!m || Number(m[3]) > 65535) throw new Error(`--listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got "${listen}"`);
  return {host: m[1] ?? m[2], port: Number(m[3])};
}

function query<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw fromZod(result.error);
  return result.data;
}

let cachedDocument: Record<string, unknown> | undefined;
/** Built on first request: generating it takes milliseconds, and a node (or the simulator) runs many servers. */
const apiDocument = () => (cachedDocument ??= openApiDocument(API_BASE, API_VERSION));

export function buildApp(service: ImageApiService, options: {logger?: boolean} = {}): FastifyInstance {
  const app = Fastify({logger: options.logger ?? false, bodyLimit: 1 << 20, forceCloseConnections: true});

  app.setErrorHandler((error: Error & {statusCode?: number; code?: string}, _request, reply) => {
    if (error instanceof ApiError) return reply.status(error.status).send(error.toJSON());
    if (error.statusCode && error.statusCode < 500) {
      const field = error.code?.startsWith('FST_ERR_CTP') ? 'body' : undefined;
      return reply.status(error.statusCode).send({code: error.statusCode, message: error.message, ...(field ? {field} : {})});
    }
    return reply.status(500).send({code: 500, message: error.message});
  });
  const {debug} = service;
  if (debug) { // each request's time, so that a step's log shows what else the service served meanwhile
    const started = new WeakMap<object, number>();
    app.addHook('onRequest', async (request) => { started.set(request, performance.now()); });
    app.addHook('onResponse', async (request, reply) => {
      debug(`${request.method} ${request.url} ${reply.statusCode}: ${Math.round(performance.now() - (started.get(request) ?? 0))} ms`);
    });
  }
  app.setNotFoundHandler((request, reply) => reply.status(404).send({code: 404, message: `no route ${request.method} ${request.url} (see /openapi.json)`}));

  const created = <T>(reply: FastifyReply, result: Created<T>) => reply.status(result.created ? 201 : 200).send(result.value);
  const body = (value: unknown) => {
    if (value === undefined || value === null) throw badRequest('body', 'a JSON object is required');
    return value;
  };

  app.get('/openapi.json', async () => apiDocument());
  app.get(`${API_BASE}/openapi.json`, async () => apiDocument());
  app.get(`${API_BASE}/info`, async () => service.info());
  app.get(`${API_BASE}/watch`, async (request) => {
    const q = query(watchQuery, request.query);
    return {generation: await service.watch(q.since, q.timeout)};
  });

  app.get(`${API_BASE}/attach`, async (request) => service.listAttach(query(attachQuery, request.query)));
  app.post(`${API_BASE}/attach`, async (request, reply) => created(reply, await service.createAttach(body(request.body))));
  app.delete(`${API_BASE}/attach`, async (request) => {
    const q = query(deleteQuery, request.query);
    return service.deleteAttach(q.id, q.force);
  });

  app.get(`${API_BASE}/mount`, async (request) => service.listMount(query(mountQuery, request.query)));
  app.post(`${API_BASE}/mount`, async (request, reply) => created(reply, await service.createMount(body(request.body))));
  app.delete(`${API_BASE}/mount`, async (request) => {
    const q = query(deleteQuery, request.query);
    return service.deleteMount(q.id, q.force);
  });

  app.get(`${API_BASE}/container`, async (request) => service.listContainers(query(containerQuery, request.query)));
  app.post(`${API_BASE}/container`, async (request, reply) => {
    const q = query(containerCreateQuery, request.query);
    return created(reply, await service.createContainer(body(request.body), {replace: q.replace}));
  });
  app.patch(`${API_BASE}/container`, async (request) => service.setContainerState(query(containerPatchQuery, request.query)));
  app.delete(`${API_BASE}/container`, async (request) => service.deleteContainer(query(containerDeleteQuery, request.query)));
  app.get(`${API_BASE}/container/log`, async (request, reply) => reply.type('text/plain; charset=utf-8').send(service.logs(query(logQuery, request.query))));
  return app;
}

export async function startServer(service: ImageApiService, options: ServerOptions = {}): Promise<RunningServer> {
  const {host, port} = parseListen(options.listen ?? '127.0.0.1:8080');
  const app = buildApp(service, {logger: options.logger});
  await app.listen({host, port});
  const address = app.server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {app, url: `http://${shown}:${actual}`, close: () => app.close()};
}
