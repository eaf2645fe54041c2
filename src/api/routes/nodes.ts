/**
 * Node routes: read (cfg, dsc, both, merged), create, apply, update (PUT merges unless ?replace=true),
 * PATCH (merge), bulk assignment of URL values, delete, and the per-node path, why, history and retry.
 * Every write is validated whole by the store and is all-or-nothing.
 */
import type {FastifyInstance} from 'fastify';
import {ConflictError, NotFoundError, ValidationError} from '../../model/errors.js';
import type {JsonValue, Node, NodeView} from '../../model/node.js';
import {getAt, setAt} from '../../model/url.js';
import type {PowerExtension} from '../../model/power.js';
import type {ApiDaemon} from '../daemon-port.js';
import {sortParentFirst} from '../order.js';
import {type Redactor, SECRET} from '../redact.js';
import type {ApplyResult, PathResult, SetRequest, StepStatus, ViewName, WhyResult} from '../types.js';

const viewQuery = {
  type: 'object',
  properties: {view: {type: 'string', enum: ['both', 'cfg', 'dsc', 'merged']}},
  additionalProperties: false,
} as const;

const flagQuery = (...names: string[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, {type: 'boolean'}])),
  additionalProperties: false,
}) as const;

const nodeList = {type: 'array', items: {type: 'string', minLength: 1}, minItems: 1} as const;

/** dsc merged over cfg: what is known, with cfg filling in what nobody discovers. */
export function mergedView(view: NodeView): Node {
  const merge = (base: unknown, over: unknown): unknown => {
    if (over === undefined) return base;
    if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
      const out: Record<string, unknown> = {...(base as Record<string, unknown>)};
      for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
      return out;
    }
    return over;
  };
  return merge(view.cfg, view.dsc) as Node;
}

/** Resolve ids or nodenames; every unknown one is named in a single 404. */
export function resolveAll(daemon: ApiDaemon, names: readonly string[]): NodeView[] {
  const views: NodeView[] = [];
  const unknown: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const view = daemon.store.resolve(name);
    if (!view) unknown.push(name);
    else if (!seen.has(view.cfg.id)) {
      seen.add(view.cfg.id);
      views.push(view);
    }
  }
  if (unknown.length) {
    const shown = unknown.length > 10 ? `${unknown.slice(0, 10).join(', ')} and ${unknown.length - 10} more` : unknown.join(', ');
    throw new NotFoundError(`no node ${shown}`, {node: unknown[0], hint: 'layercake node list shows the nodes there are; nothing was changed'});
  }
  return views;
}

function mustResolve(daemon: ApiDaemon, idOrName: string): NodeView {
  return resolveAll(daemon, [idOrName])[0];
}

export function registerNodeRoutes(app: FastifyInstance, daemon: ApiDaemon, redact: Redactor): void {
  const {store, registry, engine} = daemon;
  const viewOf = (view: NodeView, name: ViewName): NodeView | Node => {
    if (name === 'cfg') return redact.node(view.cfg);
    if (name === 'dsc') return redact.node(view.dsc);
    if (name === 'merged') return redact.node(mergedView(view));
    return {cfg: redact.node(view.cfg), dsc: redact.node(view.dsc)};
  };
  const applyResult = (r: Omit<ApplyResult, 'dryRun'>, dryRun: boolean): ApplyResult => ({
    dryRun,
    created: r.created.map((n) => redact.node(n)),
    updated: r.updated.map((n) => redact.node(n)),
    unchanged: r.unchanged.map((n) => redact.node(n)),
    deleted: r.deleted.map((n) => redact.node(n)),
    changes: r.changes.map((c) => redact.change(c)),
  });
  const nodesOf = (body: unknown): unknown[] => {
    if (Array.isArray(body)) return body;
    if (body && typeof body === 'object' && Array.isArray((body as {nodes?: unknown}).nodes)) return (body as {nodes: unknown[]}).nodes;
    if (body && typeof body === 'object' && !('nodes' in body)) return [body];
    throw new ValidationError('expected a node, a list of nodes, or {"nodes": [...]}', {expected: '{"nodes": [...]}'});
  };

  app.get<{Querystring: {view?: ViewName}}>('/nodes', {schema: {querystring: viewQuery}}, async (req) => {
    const view = req.query.view ?? 'both';
    return {nodes: sortParentFirst(store.list(), (v) => v.cfg).map((v) => viewOf(v, view))};
  });

  app.get<{Params: {id: string}; Querystring: {view?: ViewName}}>('/nodes/:id', {schema: {querystring: viewQuery}}, async (req) =>
    viewOf(mustResolve(daemon, req.params.id), req.query.view ?? 'both'));

  /** The stored node an input names (by id, else by nodename), for restoring secrets sent back redacted. */
  const existingFor = (input: unknown): Node | undefined => {
    const raw = (input ?? {}) as {id?: unknown; nodename?: unknown};
    if (typeof raw.id === 'string') return store.get(raw.id)?.cfg;
    return typeof raw.nodename === 'string' && raw.nodename ? store.byName(raw.nodename)?.cfg : undefined;
  };

  app.post('/nodes', async (req, reply) => {
    const created = store.create(nodesOf(req.body).map((n) => redact.restore(n, undefined)), 'api');
    reply.code(201);
    return {nodes: created.map((n) => redact.node(n))};
  });

  app.post<{Querystring: {dryRun?: boolean; prune?: boolean}}>('/apply', {schema: {querystring: flagQuery('dryRun', 'prune')}}, async (req) => {
    const dryRun = req.query.dryRun ?? false;
    const inputs = nodesOf(req.body).map((n) => redact.restore(n, existingFor(n)));
    const result = store.apply(inputs, {source: 'api', mode: 'upsert', dryRun, prune: req.query.prune ?? false});
    return applyResult(result, dryRun);
  });

  app.put<{Params: {id: string}; Querystring: {replace?: boolean}}>('/nodes/:id', {schema: {querystring: flagQuery('replace'), body: {type: 'object'}}}, async (req) => {
    const view = mustResolve(daemon, req.params.id);
    return redact.node(store.update(view.cfg.id, redact.restore(req.body, view.cfg), {merge: !req.query.replace, source: 'api'}));
  });

  app.patch<{Params: {id: string}}>('/nodes/:id', {schema: {body: {type: 'object'}}}, async (req) => {
    const view = mustResolve(daemon, req.params.id);
    return redact.node(store.update(view.cfg.id, redact.restore(req.body, view.cfg), {merge: true, source: 'api'}));
  });

  app.patch<{Body: SetRequest; Querystring: {dryRun?: boolean}}>('/nodes', {
    schema: {
      querystring: flagQuery('dryRun'),
      body: {
        type: 'object', required: ['nodes'], additionalProperties: false,
        properties: {nodes: nodeList, set: {type: 'object'}, reset: {type: 'array', items: {type: 'string'}}, resetUnknowable: {type: 'boolean'}},
      },
    },
  }, async (req) => {
    const {set = {}, reset = [], resetUnknowable = false} = req.body;
    if (Object.keys(set).length === 0 && reset.length === 0 && !resetUnknowable) {
      throw new ValidationError('nothing to set: give "set" (URL → value) or "reset" (URLs)', {expected: '{"set": {"physState": "POWER_ON"}}'});
    }
    const views = resolveAll(daemon, req.body.nodes);
    // A secret "set" to its own placeholder is left as it is (the value was read redacted).
    const assignments = Object.entries(set).map(([url, value]) => [registry.normalizeUrl(url), value] as const)
      .filter(([pointer, value]) => !(value === SECRET && redact.isSecret(pointer)));
    const resets = reset.map((url) => {
      const pointer = registry.normalizeUrl(url);
      const zero = registry.zeroOf(pointer);
      if (zero === undefined) throw new ValidationError(`cannot reset ${url}: only enum values have a zero to reset to`, {url: pointer});
      return [pointer, zero] as const;
    });
    for (const [pointer] of assignments) {
      if (pointer === '/id') throw new ValidationError("cannot change a node's id", {url: '/id'});
    }
    const candidates = views.map((view) => {
      const candidate = structuredClone(view.cfg) as unknown as Record<string, unknown>;
      for (const [pointer, value] of [...assignments, ...resets]) setAt(candidate, pointer, value === null ? undefined : (value as JsonValue));
      if (!resetUnknowable) return candidate;
      const valid = registry.validateNode(candidate);
      // What is reset is set aside in the power extension, for power on to put back.
      const resume: Record<string, string> = {...(valid.extensions.power as unknown as PowerExtension | undefined)?.resume};
      const assigned = new Set(assignments.map(([pointer]) => pointer));
      for (const pointer of engine.unknowableUnder(valid)) {
        const zero = registry.zeroOf(pointer);
        // What the request sets explicitly is kept: an impossible combination is refused, not silently undone.
        if (zero === undefined || assigned.has(pointer)) continue;
        const previous = getAt(valid, pointer);
        if (typeof previous === 'string' && previous !== zero) resume[pointer] = previous;
        setAt(candidate, pointer, zero);
      }
      if (Object.keys(resume).length) setAt(candidate, '/extensions/power', {resume});
      return candidate;
    });
    const dryRun = req.query.dryRun ?? false;
    return applyResult(store.apply(candidates, {source: 'api', mode: 'replace', dryRun}), dryRun);
  });

  const deleteNodes = (names: string[]) => {
    const views = resolveAll(daemon, names);
    const self = views.find((v) => v.cfg.id === daemon.selfId);
    if (self) throw new ConflictError(`cannot delete ${self.cfg.nodename || self.cfg.id}: it is this daemon's own node`, {node: self.cfg.nodename || self.cfg.id});
    return {deleted: store.delete(views.map((v) => v.cfg.id), 'api').map((n) => redact.node(n))};
  };
  app.delete<{Body: {nodes: string[]}}>('/nodes', {
    schema: {body: {type: 'object', required: ['nodes'], additionalProperties: false, properties: {nodes: nodeList}}},
  }, async (req) => deleteNodes(req.body.nodes));
  app.delete<{Params: {id: string}}>('/nodes/:id', async (req) => deleteNodes([req.params.id]));

  app.patch<{Params: {id: string}; Body: {set: Record<string, JsonValue>}}>('/nodes/:id/dsc', {
    schema: {body: {type: 'object', required: ['set'], additionalProperties: false, properties: {set: {type: 'object', minProperties: 1}}}},
  }, async (req) => {
    const view = mustResolve(daemon, req.params.id);
    // Validate every value before recording any, so a bad one leaves dsc unchanged.
    const pointers = Object.entries(req.body.set).map(([url, value]) => [registry.normalizeUrl(url), value] as const);
    const candidate = structuredClone(view.dsc) as unknown as Record<string, unknown>;
    for (const [pointer, value] of pointers) setAt(candidate, pointer, value);
    registry.validateNode(candidate, {node: view.cfg.nodename || view.cfg.id});
    for (const [pointer, value] of pointers) store.discover(view.cfg.id, pointer, value, 'api');
    return redact.node(store.get(view.cfg.id)!.dsc);
  });

  app.get<{Params: {id: string}}>('/nodes/:id/why', async (req): Promise<WhyResult> => engine.why(mustResolve(daemon, req.params.id).cfg.id));

  app.get<{Params: {id: string}}>('/nodes/:id/path', async (req): Promise<PathResult> => {
    const view = mustResolve(daemon, req.params.id);
    const path = engine.path(view.cfg.id);
    return {...path, nodename: view.cfg.nodename, steps: path.steps.map((s) => ({mutation: s.mutation, status: s.status as StepStatus}))};
  });

  app.get<{Params: {id: string}}>('/nodes/:id/history', async (req) => {
    const view = mustResolve(daemon, req.params.id);
    return {nodeId: view.cfg.id, nodename: view.cfg.nodename, entries: store.history(view.cfg.id).map((e) => (e.url === undefined ? e : redact.change({...e, url: e.url})))};
  });

  app.post<{Params: {id: string}}>('/nodes/:id/retry', async (req): Promise<WhyResult> => {
    const view = mustResolve(daemon, req.params.id);
    engine.retryNode(view.cfg.id);
    return engine.why(view.cfg.id);
  });
}
