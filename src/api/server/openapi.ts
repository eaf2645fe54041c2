/**
 * GET /api/v1/openapi.json: an OpenAPI 3.1 description generated from the zod schemas fastify validates
 * the requests with (src/api/schemas.ts) and the answers' schemas, plus the registry's node and extension
 * schemas (the plugins' own), so a node is described as this daemon accepts it. Nothing is written by
 * hand here but the route summaries' shape; `test/api/fuzz.real.test.ts` fuzzes a live daemon from it.
 */
import type {FastifyInstance} from 'fastify';
import {z} from 'zod';
import {coreNodeSchema, NODENAME} from '../../model/node.js';
import type {Registry} from '../../model/registry.js';
import {nodeInput, nodePatch} from './schemas.js';

interface RouteSchema {
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  response?: Record<string, z.ZodType>;
}

export interface CollectedRoute {
  method: string;
  url: string;
  schema?: RouteSchema;
  websocket: boolean;
}

/** Record every route as it is added (fastify's onRoute), for the description. */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({method, url: route.url, schema: route.schema as RouteSchema | undefined, websocket: Boolean((route as {websocket?: boolean}).websocket)});
    }
  });
  return routes;
}

type JsonSchema = Record<string, unknown>;

/** A node as this daemon accepts it: the core fields and every registered extension, each strict. */
function nodeSchema(registry: Registry, patch: boolean): JsonSchema {
  const core = z.toJSONSchema(coreNodeSchema, {io: 'input', unrepresentable: 'any'}) as JsonSchema & {properties: Record<string, JsonSchema>};
  delete core.$schema;
  const extensions: Record<string, JsonSchema> = {};
  for (const ext of registry.extensions()) {
    const schema = z.toJSONSchema(ext.schema, {io: 'input', unrepresentable: 'any'}) as JsonSchema;
    delete schema.$schema;
    extensions[ext.name] = schema;
  }
  return {
    ...core,
    properties: {
      ...core.properties,
      nodename: {type: 'string', minLength: 1, maxLength: 63, pattern: NODENAME.source},
      extensions: {type: 'object', properties: extensions, additionalProperties: false},
    },
    required: patch ? [] : ['nodename'],
  };
}

/** Routes whose answer is not JSON. */
const TEXT_ANSWERS: Record<string, {type: string; description: string}> = {
  '/metrics': {type: 'text/plain', description: 'Prometheus text'},
  '/api/v1/store/backup': {type: 'application/x-ndjson', description: 'The store as one checksummed snapshot record (docs/store.md)'},
};

export function openApiDocument(routes: CollectedRoute[], registry: Registry, version: string): JsonSchema {
  const toJson = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const out = z.toJSONSchema(schema, {
      io, unrepresentable: 'any',
      override: (ctx) => {
        if (ctx.zodSchema !== nodeInput && ctx.zodSchema !== nodePatch) return;
        for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as JsonSchema)[key];
        Object.assign(ctx.jsonSchema, nodeSchema(registry, ctx.zodSchema === nodePatch));
      },
    }) as JsonSchema;
    delete out.$schema;
    return out;
  };
  const error = {$ref: '#/components/schemas/Error'};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (route.websocket) continue;
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const s = route.schema ?? {};
    const parameters = [
      ...paramsOf(s.params && toJson(s.params, 'input'), 'path'),
      ...paramsOf(s.querystring && toJson(s.querystring, 'input'), 'query'),
    ];
    const responses: Record<string, unknown> = {'4XX': {description: 'The request was refused; the body says why.', content: {'application/json': {schema: error}}}};
    for (const [status, schema] of Object.entries(s.response ?? {})) {
      const content: Record<string, unknown> = {'application/json': {schema: toJson(schema, 'output')}};
      if (route.url.endsWith('/graph')) content['text/vnd.graphviz'] = {schema: {type: 'string'}};
      responses[status] = {description: 'Success', content};
    }
    const text = TEXT_ANSWERS[route.url];
    if (text) responses['200'] = {description: text.description, content: {[text.type]: {schema: {type: 'string'}}}};
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      operationId: `${route.method.toLowerCase()}${path.replace(/\{(\w+)\}/g, 'By$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(parameters.length ? {parameters} : {}),
      ...(s.body ? {requestBody: {required: !s.body.safeParse(undefined).success, content: {'application/json': {schema: toJson(s.body, 'input')}}}} : {}),
      ...(route.url === '/healthz' ? {security: []} : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {title: 'layercake daemon API', version, description: 'See docs/api.md. The event stream (WebSocket) is at /api/v1/events.'},
    paths,
    components: {
      schemas: {Error: toJson(z.object({error: z.object({code: z.string(), message: z.string(), node: z.string().optional(), url: z.string().optional(), value: z.unknown().optional(), expected: z.string().optional(), hint: z.string().optional()})}), 'output')},
      securitySchemes: {token: {type: 'http', scheme: 'bearer', description: 'Every request over TCP; the local Unix socket needs none.'}},
    },
    security: [{token: []}],
  };
}

/** An object schema's properties as OpenAPI parameters. */
function paramsOf(schema: JsonSchema | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({name, in: where, required: where === 'path' || required.has(name), schema: s}));
}
