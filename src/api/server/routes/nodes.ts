/**
 * Node routes: read (cfg, dsc, both, merged), create, apply, update (PUT merges unless ?replace=true),
 * PATCH (merge), bulk assignment of URL values, delete, and the per-node path, why, history and retry.
 * Every write is validated whole by the store and is all-or-nothing.
 */
import type {FastifyInstance} from 'fastify';
import {ConflictError, NotFoundError, ValidationError} from '../../../model/errors.js';
import type {JsonValue, Node, NodeView} from '../../../model/node.js';
import {getAt, setAt} from '../../../model/url.js';
import type {PowerExtension} from '../../../model/power.js';
import type {ApiDaemon} from '../daemon-port.js';
import {checkNodeSize, DEFAULT_LIMITS} from '../gate.js';
import {sortParentFirst} from '../../order.js';
import {type Redactor, SECRET} from '../redact.js';
import {answers, nodeInput, requests} from '../schemas.js';
import type {ApplyResult, PathResult, SetRequest, StepStatus, ViewName, WhyResult} from '../../types.js';

/** `over` merged into `base`, objects key by key (what a merging write and the merged view do). */
function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = {...(base as Record<string, unknown>)};
    for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
    return out;
  }
  return over;
}

/** dsc merged over cfg: what is known, with cfg filling in what nobody discovers. */
export function mergedView(view: NodeView): Node {
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
  const maxNodeBytes = daemon.apiLimits?.maxNodeBytes ?? DEFAULT_LIMITS.maxNodeBytes;
  const sized = <T>(node: T): T => {
    const raw = node as {nodename?: unknown; id?: unknown};
    checkNodeSize(node, maxNodeBytes, typeof raw?.nodename === 'string' && raw.nodename ? raw.nodename : typeof raw?.id === 'string' ? raw.id : undefined);
    return node;
  };
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
  /** The nodes of a validated body: a node, a list of nodes, or {nodes: [...]}; each within the size limit. */
  const nodesOf = (body: unknown): unknown[] => {
    const list = Array.isArray(body) ? body : 'nodes' in (body as object) ? (body as {nodes: unknown[]}).nodes : [body];
    return list.map(sized);
  };

  // The list is serialized once per store change and the same bytes go to every reader: a thousand
  // concurrent reads of a large store cost one copy, not a thousand (issue 14 point 4).
  const listCache = new Map<ViewName, Buffer>();
  const unsubscribe = store.events.subscribe({types: ['STATE_CHANGE']}, () => listCache.clear());
  app.addHook('onClose', async () => unsubscribe());
  app.get<{Querystring: {view?: ViewName}}>('/nodes', {schema: {querystring: requests.viewQuery, response: {200: answers.nodeViews}}}, async (req, reply) => {
    const view = req.query.view ?? 'both';
    let body = listCache.get(view);
    if (!body) {
      body = Buffer.from(JSON.stringify({nodes: sortParentFirst(store.list(), (v) => v.cfg).map((v) => viewOf(v, view))}));
      listCache.set(view, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  });

  app.get<{Params: {id: string}; Querystring: {view?: ViewName}}>('/nodes/:id', {schema: {params: requests.idParams, querystring: requests.viewQuery, response: {200: answers.nodeView}}}, async (req) =>
    viewOf(mustResolve(daemon, req.params.id), req.query.view ?? 'both'));

  /** The stored node an input names (by id, else by nodename), for restoring secrets sent back redacted. */
  const existingFor = (input: unknown): Node | undefined => {
    const raw = (input ?? {}) as {id?: unknown; nodename?: unknown};
    if (typeof raw.id === 'string') return store.get(raw.id)?.cfg;
    return typeof raw.nodename === 'string' && raw.nodename ? store.byName(raw.nodename)?.cfg : undefined;
  };

  app.post('/nodes', {schema: {body: requests.createBody, response: {201: answers.nodes}}}, async (req, reply) => {
    const created = store.create(nodesOf(req.body).map((n) => redact.restore(n, undefined)), 'api');
    reply.code(201);
    return {nodes: created.map((n) => redact.node(n))};
  });

  app.post<{Querystring: {dryRun?: boolean; prune?: boolean}}>('/apply', {schema: {querystring: requests.applyQuery, body: requests.applyBody, response: {200: answers.apply}}}, async (req) => {
    const dryRun = req.query.dryRun ?? false;
    const inputs = nodesOf(req.body).map((n, i) => {
      const existing = existingFor(n);
      if (!existing && !(n as {nodename?: string}).nodename) throw new ValidationError(`body/nodes/${i}/nodename: a new node needs a nodename (it may not be empty)`, {url: `/nodes/${i}/nodename`});
      return redact.restore(n, existing);
    });
    const result = store.apply(inputs, {source: 'api', mode: 'upsert', dryRun, prune: req.query.prune ?? false});
    return applyResult(result, dryRun);
  });

  /** A whole node (replace) or a part merged into the stored one, checked as the node it makes. */
  const updateNode = (idOrName: string, body: unknown, replace: boolean) => {
    const view = mustResolve(daemon, idOrName);
    if (replace) {
      const parsed = nodeInput.safeParse(body);
      if (!parsed.success) throw new ValidationError(`body/nodename: ${parsed.error.issues[0].message}`, {node: view.cfg.nodename, url: '/nodename'});
    }
    sized(replace ? body : merge(view.cfg, body));
    return redact.node(store.update(view.cfg.id, redact.restore(body, view.cfg), {merge: !replace, source: 'api'}));
  };
  app.put<{Params: {id: string}; Querystring: {replace?: boolean}}>('/nodes/:id', {schema: {params: requests.idParams, querystring: requests.replaceQuery, body: requests.nodePatch, response: {200: answers.node}}}, async (req) =>
    updateNode(req.params.id, req.body, req.query.replace ?? false));

  app.patch<{Params: {id: string}}>('/nodes/:id', {schema: {params: requests.idParams, body: requests.nodePatch, response: {200: answers.node}}}, async (req) =>
    updateNode(req.params.id, req.body, false));

  app.patch<{Body: SetRequest; Querystring: {dryRun?: boolean}}>('/nodes', {
    schema: {querystring: requests.dryRunQuery, body: requests.setBody, response: {200: answers.apply}},
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
    for (const [pointer, value] of assignments) {
      if (pointer === '/id') throw new ValidationError("cannot change a node's id", {url: '/id'});
      if (pointer === '/nodename' && !value) throw new ValidationError('a nodename may not be empty', {url: '/nodename'});
    }
    const candidates = views.map((view) => {
      const candidate = structuredClone(view.cfg) as unknown as Record<string, unknown>;
      for (const [pointer, value] of [...assignments, ...resets]) setAt(candidate, pointer, value === null ? undefined : (value as JsonValue));
      sized(candidate);
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
  app.delete<{Body: {nodes: string[]}}>('/nodes', {schema: {body: requests.deleteBody, response: {200: answers.deleted}}}, async (req) => deleteNodes(req.body.nodes));
  app.delete<{Params: {id: string}}>('/nodes/:id', {schema: {params: requests.idParams, body: requests.emptyBody, response: {200: answers.deleted}}}, async (req) => deleteNodes([req.params.id]));

  app.patch<{Params: {id: string}; Body: {set: Record<string, JsonValue>}}>('/nodes/:id/dsc', {
    schema: {params: requests.idParams, body: requests.discoverBody, response: {200: answers.node}},
  }, async (req) => {
    const view = mustResolve(daemon, req.params.id);
    // Validate every value before recording any, so a bad one leaves dsc unchanged.
    const pointers = Object.entries(req.body.set).map(([url, value]) => [registry.normalizeUrl(url), value] as const);
    const candidate = structuredClone(view.dsc) as unknown as Record<string, unknown>;
    for (const [pointer, value] of pointers) setAt(candidate, pointer, value);
    sized(candidate);
    registry.validateNode(candidate, {node: view.cfg.nodename || view.cfg.id});
    for (const [pointer, value] of pointers) store.discover(view.cfg.id, pointer, value, 'api');
    return redact.node(store.get(view.cfg.id)!.dsc);
  });

  const idOnly = (answer: unknown) => ({schema: {params: requests.idParams, response: {200: answer}}});
  app.get<{Params: {id: string}}>('/nodes/:id/why', idOnly(answers.why), async (req): Promise<WhyResult> => engine.why(mustResolve(daemon, req.params.id).cfg.id));

  app.get<{Params: {id: string}}>('/nodes/:id/path', idOnly(answers.path), async (req): Promise<PathResult> => {
    const view = mustResolve(daemon, req.params.id);
    const path = engine.path(view.cfg.id);
    return {...path, nodename: view.cfg.nodename, steps: path.steps.map((s) => ({mutation: s.mutation, status: s.status as StepStatus}))};
  });

  app.get<{Params: {id: string}}>('/nodes/:id/history', idOnly(answers.history), async (req) => {
    const view = mustResolve(daemon, req.params.id);
    return {nodeId: view.cfg.id, nodename: view.cfg.nodename, entries: store.history(view.cfg.id).map((e) => (e.url === undefined ? e : redact.change({...e, url: e.url})))};
  });

  app.post<{Params: {id: string}}>('/nodes/:id/retry', {schema: {params: requests.idParams, body: requests.emptyBody, response: {200: answers.why}}}, async (req): Promise<WhyResult> => {
    const view = mustResolve(daemon, req.params.id);
    engine.retryNode(view.cfg.id);
    return engine.why(view.cfg.id);
  });
}
