/**
 * fakeContext(): a ModuleContext DOUBLE with a miniature engine, for testing the imageset module before
 * (and independently of) the real daemon. It follows the engine semantics of the helper brief:
 * - a store of cfg and dsc per node, with STATE_CHANGE events per written URL;
 * - a breadth-first planner over the module's mutated URLs (requires, excludes, zero = don't care);
 * - knowability: imageset.state is reset to UNKNOWN when runState SYNC or physState POWER_ON stop holding;
 * - one step per node: the handler is called (SELF: only for the daemon's own node), the step completes
 *   when dsc shows every `to`; a throw or a timeout discovers failTo, interrupts, and backs off;
 * - a dsc change that makes another step first supersedes (aborts) the running one.
 * It is NOT the real engine: the integration test with the daemon replaces it once src/daemon exists.
 */
import {randomUUID} from 'node:crypto';
import type {EventFilter, JsonValue, LcEvent, ModuleContext, ModuleSpec, MutationHandler, MutationRequest, InterruptHandler, Node, NodeView} from '@layercake/sdk';
import {canonical, parseDuration} from '@layercake/sdk';

type Mutation = NonNullable<ModuleSpec['mutations']>[number] & {timeoutMs: number};

const ZERO: Record<string, string> = {'/runState': 'UNKNOWN', '/extensions/imageset/state': 'UNKNOWN', '/physState': 'PHYS_UNKNOWN', '/busy': 'FREE'};

function segments(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

export function getAt(root: unknown, pointer: string): JsonValue | undefined {
  let cur: unknown = root;
  for (const seg of segments(pointer)) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur as JsonValue | undefined;
}

function setAt(root: Record<string, unknown>, pointer: string, value: JsonValue | undefined): void {
  const parts = segments(pointer);
  let cur = root;
  for (const seg of parts.slice(0, -1)) {
    if (typeof cur[seg] !== 'object' || cur[seg] === null) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  if (value === undefined) delete cur[parts.at(-1)!];
  else cur[parts.at(-1)!] = value;
}

function matches(pattern: string, pointer: string): boolean {
  const p = segments(pattern);
  const s = segments(pointer);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '**' && i === p.length - 1) return true;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

export interface StepRecord {
  nodeId: string;
  mutation: string;
  kind: 'MUTATE' | 'COMPLETE' | 'INTERRUPT';
  reason?: string;
  time: number;
}

interface Running {
  mutation: Mutation;
  abort: AbortController;
  timer?: NodeJS.Timeout;
  request: MutationRequest;
}

export interface FakeContextOptions {
  module: ModuleSpec;
  config?: Record<string, unknown>;
  /** Multiplies every mutation timeout (tests shorten them). */
  timeoutScale?: number;
  /** The engine's own backoff after a failed step (ms, doubled per failure). */
  failureBackoffMs?: number;
  maxFailures?: number;
  stateDir?: string;
}

export class FakeEngine {
  readonly selfId = randomUUID();
  readonly ctx: ModuleContext;
  readonly steps: StepRecord[] = [];
  readonly logs: string[] = [];
  /** The last failure reason per node (what `layercake node why` would show). */
  readonly why = new Map<string, string>();
  private readonly nodes = new Map<string, NodeView>();
  private readonly listeners = new Set<{filter: EventFilter; listener: (e: LcEvent) => void}>();
  private readonly mutations: Mutation[];
  private readonly urls: string[];
  private readonly discoverable: string[];
  private readonly running = new Map<string, Running>();
  private readonly failures = new Map<string, number>();
  private readonly backoffUntil = new Map<string, number>();
  private readonly held = new Set<string>();
  private readonly dirty = new Set<string>();
  private handler?: MutationHandler;
  private interruptHandler?: InterruptHandler;
  private seq = 0;
  private scheduled = false;
  private readonly abort = new AbortController();

  constructor(private readonly options: FakeContextOptions) {
    const spec = options.module;
    this.mutations = (spec.mutations ?? []).map((m) => ({...m, timeoutMs: parseDuration(m.timeout ?? 0) * (options.timeoutScale ?? 1)}))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    this.urls = [...new Set(this.mutations.flatMap((m) => Object.keys(m.mutates)))].sort();
    this.discoverable = [...(spec.discoverables ?? []), ...this.urls, ...this.mutations.flatMap((m) => (m.failTo ? [m.failTo.url] : []))];
    const config = spec.config ? spec.config.parse(options.config ?? {}) : {};
    const log = (level: string) => (...args: unknown[]) => this.logs.push(`${level}: ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`);
    this.ctx = {
      name: spec.name, selfId: this.selfId, config, stateDir: options.stateDir ?? '/nonexistent',
      log: {debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error')} as ModuleContext['log'],
      signal: this.abort.signal,
      discover: (nodeId, url, value) => this.discover(nodeId, url, value),
      onMutate: (h) => { this.handler = h; },
      onInterrupt: (h) => { this.interruptHandler = h; },
      nodes: {get: (id) => this.nodes.get(id), byName: (n) => [...this.nodes.values()].find((v) => v.cfg.nodename === n), list: () => [...this.nodes.values()]},
      subscribe: (filter, listener) => {
        const entry = {filter, listener};
        this.listeners.add(entry);
        return () => this.listeners.delete(entry);
      },
      fail: (error) => this.logs.push(`module failed: ${error.message}`),
    };
  }

  async start(): Promise<void> {
    await this.options.module.start(this.ctx as never);
  }

  stop(): void {
    this.abort.abort(new Error('the module is stopping'));
    for (const [id] of this.running) this.endStep(id, 'the daemon is stopping');
  }

  /** Adds a node (the daemon's own by default) with cfg; dsc starts with the given values. */
  addNode(cfg: Partial<Node> & {extensions?: Record<string, unknown>}, dsc: Partial<Node> = {}): string {
    const id = cfg.id ?? this.selfId;
    const base = (n: Partial<Node>): Node => ({
      id, nodename: n.nodename ?? '', parentId: '', arch: '', platform: '', physState: n.physState ?? 'PHYS_UNKNOWN', runState: n.runState ?? 'UNKNOWN',
      busy: n.busy ?? 'FREE', extensions: structuredClone((n.extensions ?? {}) as Node['extensions']), services: {},
    });
    const c = base(cfg);
    c.extensions = this.parseExtensions(c.extensions);
    this.nodes.set(id, {cfg: c, dsc: base(dsc)});
    this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'cfg', op: 'CREATE', url: ''} as LcEvent);
    this.markDirty(id);
    return id;
  }

  private parseExtensions(ext: Node['extensions']): Node['extensions'] {
    const out: Node['extensions'] = {};
    for (const [name, value] of Object.entries(ext)) {
      const spec = this.options.module.extensions?.find((e) => e.name === name);
      out[name] = (spec ? spec.schema.parse(value) : value) as Node['extensions'][string];
    }
    return out;
  }

  get(id = this.selfId): NodeView {
    return this.nodes.get(id)!;
  }

  /** An operator's cfg write (validated like the store does). */
  setCfg(id: string, url: string, value: JsonValue | undefined): void {
    const view = this.nodes.get(id)!;
    const next = structuredClone(view.cfg) as unknown as Record<string, unknown>;
    setAt(next, url, value);
    (next as unknown as Node).extensions = this.parseExtensions((next as unknown as Node).extensions);
    const previous = getAt(view.cfg, url);
    view.cfg = next as unknown as Node;
    this.failures.set(id, 0);
    this.held.delete(id);
    this.backoffUntil.delete(id);
    this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'cfg', op: 'UPDATE', url, value: getAt(view.cfg, url), previous} as LcEvent);
    this.markDirty(id);
  }

  /** A discovery by someone else (the operator's `busy`, another module's power state). */
  setDsc(id: string, url: string, value: JsonValue): void {
    this.write(id, url, value);
  }

  private discover(nodeId: string, url: string, value: JsonValue): void {
    if (!this.discoverable.some((p) => p === url || matches(p, url))) throw new Error(`module ${this.options.module.name} may not discover ${url}`);
    if (url === '/extensions/imageset/state' && !['UNKNOWN', 'IDLE', 'ACTIVE', 'UPDATE', 'ERROR', 'FATAL'].includes(value as string)) throw new Error(`bad imageset.state ${String(value)}`);
    if (url.startsWith('/extensions/imageset/images')) { // validate the whole extension, as the store does
      const candidate = structuredClone(this.nodes.get(nodeId)!.dsc.extensions.imageset ?? {});
      setAt(candidate as Record<string, unknown>, url.slice('/extensions/imageset'.length), value);
      this.options.module.extensions![0].schema.parse(candidate);
    }
    this.write(nodeId, url, value);
  }

  private write(nodeId: string, url: string, value: JsonValue): void {
    const view = this.nodes.get(nodeId);
    if (!view) throw new Error(`no node ${nodeId}`);
    const previous = getAt(view.dsc, url);
    if (canonical(previous) === canonical(value)) return;
    setAt(view.dsc as unknown as Record<string, unknown>, url, structuredClone(value));
    this.emit({type: 'STATE_CHANGE', nodeId, view: 'dsc', op: 'UPDATE', url, value, previous} as LcEvent);
    this.markDirty(nodeId);
  }

  private emit(event: LcEvent): void {
    const e = {...event, seq: ++this.seq, time: Date.now()} as LcEvent;
    for (const {filter, listener} of [...this.listeners]) {
      if (filter.types && !filter.types.includes(e.type)) continue;
      if (filter.nodes && !filter.nodes.includes(e.nodeId)) continue;
      listener(e);
    }
  }

  // ---- the miniature engine ----

  private markDirty(id: string): void {
    this.dirty.add(id);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const nodeId of [...this.dirty]) {
        this.dirty.delete(nodeId);
        this.evaluate(nodeId);
      }
    });
  }

  private value(view: NodeView, state: Record<string, string>, url: string): JsonValue | undefined {
    if (url in state) return state[url];
    if (url === '/busy') return view.dsc.busy === 'BUSY' || view.cfg.busy === 'BUSY' ? 'BUSY' : 'FREE';
    return getAt(view.dsc, url) ?? ZERO[url];
  }

  private project(node: Node): Record<string, string> {
    return Object.fromEntries(this.urls.map((u) => [u, (getAt(node, u) as string | undefined) ?? ZERO[u]]));
  }

  private applies(m: Mutation, view: NodeView, state: Record<string, string>): boolean {
    if (!Object.entries(m.mutates).every(([u, [from]]) => state[u] === from)) return false;
    if (!Object.entries(m.requires ?? {}).every(([u, v]) => canonical(this.value(view, state, u)) === canonical(v))) return false;
    return !Object.entries(m.excludes ?? {}).some(([u, v]) => canonical(this.value(view, state, u)) === canonical(v));
  }

  /** Knowability of imageset.state (the only URL here discovered from zero under conditions). */
  private forget(view: NodeView, state: Record<string, string>): void {
    if (state['/extensions/imageset/state'] !== 'UNKNOWN' && (this.value(view, state, '/runState') !== 'SYNC' || this.value(view, state, '/physState') !== 'POWER_ON')) {
      state['/extensions/imageset/state'] = 'UNKNOWN';
    }
  }

  private satisfies(state: Record<string, string>, goal: Record<string, string>): boolean {
    return Object.entries(goal).every(([u, g]) => g === ZERO[u] || state[u] === g);
  }

  plan(id: string): Mutation[] | undefined {
    const view = this.nodes.get(id)!;
    const start = this.project(view.dsc);
    const goal = this.project(view.cfg);
    if (this.satisfies(start, goal)) return [];
    const key = (s: Record<string, string>) => this.urls.map((u) => s[u]).join(',');
    const seen = new Map<string, {prev?: string; via?: Mutation}>([[key(start), {}]]);
    const queue = [start];
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head];
      for (const m of this.mutations) {
        if (!this.applies(m, view, s)) continue;
        const next = {...s};
        for (const [u, [, to]] of Object.entries(m.mutates)) next[u] = to;
        this.forget(view, next);
        const k = key(next);
        if (seen.has(k)) continue;
        seen.set(k, {prev: key(s), via: m});
        if (this.satisfies(next, goal)) {
          const steps: Mutation[] = [];
          for (let c: string | undefined = k; seen.get(c!)?.via; c = seen.get(c!)!.prev) steps.unshift(seen.get(c!)!.via!);
          return steps;
        }
        queue.push(next);
      }
    }
    return undefined;
  }

  private evaluate(id: string): void {
    const view = this.nodes.get(id);
    if (!view) return;
    const state = this.project(view.dsc);
    const before = state['/extensions/imageset/state'];
    this.forget(view, state);
    if (state['/extensions/imageset/state'] !== before) {
      this.write(id, '/extensions/imageset/state', state['/extensions/imageset/state']);
      return; // re-evaluated after the write
    }
    const run = this.running.get(id);
    if (run && Object.entries(run.mutation.mutates).every(([u, [, to]]) => state[u] === to)) {
      this.steps.push({nodeId: id, mutation: run.mutation.name, kind: 'COMPLETE', time: Date.now()});
      this.failures.set(id, 0);
      this.clear(id);
    }
    if (this.held.has(id) || (this.backoffUntil.get(id) ?? 0) > Date.now()) return;
    const plan = this.plan(id);
    const current = this.running.get(id);
    if (!plan || plan.length === 0) {
      if (current) this.endStep(id, plan ? 'the node already has its cfg' : 'no plan leads to the cfg any more');
      return;
    }
    if (current && current.mutation.name === plan[0].name) return;
    if (current) this.endStep(id, `superseded: the plan now starts with ${plan[0].name}`);
    const m = plan[0];
    if (m.context === 'SELF' && id !== this.selfId) return; // the node itself would do it
    this.fire(id, m, view);
  }

  private fire(id: string, m: Mutation, view: NodeView): void {
    const abort = new AbortController();
    const request: MutationRequest = {
      nodeId: id, module: this.options.module.name, mutation: m.name, mutates: m.mutates, cfg: structuredClone(view.cfg), dsc: structuredClone(view.dsc),
      attempt: (this.failures.get(id) ?? 0) + 1, signal: abort.signal,
    };
    const run: Running = {mutation: m, abort, request};
    this.running.set(id, run);
    this.steps.push({nodeId: id, mutation: m.name, kind: 'MUTATE', time: Date.now()});
    if (m.timeoutMs > 0) run.timer = setTimeout(() => this.fail(id, run, `timed out after ${m.timeoutMs} ms`), m.timeoutMs);
    queueMicrotask(async () => {
      try {
        await this.handler?.(request);
      } catch (error) {
        this.fail(id, run, (error as Error)?.message ?? String(error));
      }
    });
  }

  private clear(id: string): void {
    const run = this.running.get(id);
    if (!run) return;
    clearTimeout(run.timer);
    run.abort.abort(new Error('the step is over'));
    this.running.delete(id);
  }

  private endStep(id: string, reason: string): void {
    const run = this.running.get(id);
    if (!run) return;
    this.steps.push({nodeId: id, mutation: run.mutation.name, kind: 'INTERRUPT', reason, time: Date.now()});
    this.interruptHandler?.(run.request, reason);
    this.clear(id);
  }

  private fail(id: string, run: Running, reason: string): void {
    if (this.running.get(id) !== run) return;
    this.steps.push({nodeId: id, mutation: run.mutation.name, kind: 'INTERRUPT', reason, time: Date.now()});
    this.why.set(id, `${run.mutation.name}: ${reason}`);
    this.interruptHandler?.(run.request, reason);
    this.clear(id);
    const n = (this.failures.get(id) ?? 0) + 1;
    this.failures.set(id, n);
    if (n > (this.options.maxFailures ?? 5)) this.held.add(id);
    else {
      const delay = (this.options.failureBackoffMs ?? 20) * 2 ** (n - 1);
      this.backoffUntil.set(id, Date.now() + delay);
      setTimeout(() => {
        this.backoffUntil.delete(id);
        this.markDirty(id);
      }, delay).unref();
    }
    if (run.mutation.failTo) this.write(id, run.mutation.failTo.url, run.mutation.failTo.value);
  }

  /** Mutation names fired (MUTATE) for a node, in order. */
  fired(id = this.selfId): string[] {
    return this.steps.filter((s) => s.nodeId === id && s.kind === 'MUTATE').map((s) => s.mutation);
  }
}

export function fakeContext(options: FakeContextOptions): FakeEngine {
  return new FakeEngine(options);
}
