/**
 * Engine and registry routes: the mutation graph (whole or per node, JSON or DOT), engine status,
 * freeze and thaw, what plugins registered (mutations, extensions, enumerables, modules), and state sync.
 */
import type {FastifyInstance} from 'fastify';
import type {ApiDaemon} from '../daemon-port.js';
import {toDot} from '../dot.js';
import {answers, requests} from '../schemas.js';
import type {EngineStatus, GraphResult, MutationsResult, ModuleInfo, SyncStatusResult} from '../../types.js';
import {resolveAll} from './nodes.js';

const read = (answer: unknown) => ({schema: {response: {200: answer}}});
const change = (answer: unknown) => ({schema: {body: requests.emptyBody, response: {200: answer}}});

export function registerEngineRoutes(app: FastifyInstance, daemon: ApiDaemon): void {
  const {engine, registry} = daemon;

  app.get<{Querystring: {format?: 'json' | 'dot'}}>('/graph', {schema: {querystring: requests.formatQuery, response: {200: answers.graph}}}, async (req, reply) => {
    const graph: GraphResult = engine.graph();
    if (req.query.format === 'dot') return reply.type('text/vnd.graphviz; charset=utf-8').send(toDot(graph));
    return graph;
  });

  app.get<{Params: {id: string}; Querystring: {format?: 'json' | 'dot'}}>('/nodes/:id/graph', {schema: {params: requests.idParams, querystring: requests.formatQuery, response: {200: answers.graph}}}, async (req, reply) => {
    const view = resolveAll(daemon, [req.params.id])[0];
    const plan = engine.path(view.cfg.id).steps.map((s) => s.mutation);
    const graph: GraphResult = {...engine.graph(view.cfg.id), path: plan};
    if (req.query.format === 'dot') return reply.type('text/vnd.graphviz; charset=utf-8').send(toDot(graph, {name: view.cfg.nodename || view.cfg.id, plan}));
    return graph;
  });

  app.get('/engine', read(answers.engine), async (): Promise<EngineStatus> => engine.status());
  app.post('/engine/freeze', change(answers.engine), async () => {
    engine.freeze();
    return engine.status();
  });
  app.post('/engine/thaw', change(answers.engine), async () => {
    engine.thaw();
    return engine.status();
  });

  app.get('/mutations', read(answers.mutations), async (): Promise<MutationsResult> => ({mutations: registry.mutations()}));
  app.get('/extensions', read(answers.extensions), async () => ({
    extensions: registry.extensions().map(({name, module, description, jsonSchema, enums, secrets}) => ({name, module, description, jsonSchema, enums, secrets})),
  }));
  app.get('/enumerables', read(answers.enumerables), async () => ({enumerables: registry.enumerables()}));
  app.get('/modules', read(answers.modules), async () => {
    const specs = new Map(registry.modules().map((m) => [m.name, m]));
    const mutations = registry.mutations();
    const modules: ModuleInfo[] = daemon.modules.list().map((m) => ({
      name: m.name,
      description: specs.get(m.name)?.description ?? '',
      state: m.state,
      error: m.error,
      restarts: m.restarts,
      startedAt: m.startedAt,
      mutations: mutations.filter((x) => x.module === m.name).length,
      extensions: (specs.get(m.name)?.extensions ?? []).map((e) => e.name),
    }));
    return {modules};
  });
  app.get('/sync', read(answers.sync), async (): Promise<SyncStatusResult> => (daemon.sync ? {enabled: true, ...daemon.sync.status()} : {enabled: false}));
}
