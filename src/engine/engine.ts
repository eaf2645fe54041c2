/**
 * The mutation engine: for every node, one active step at a time, driven by a single serial queue of
 * dirty nodes (no locks, no re-entrancy). A node is re-evaluated whenever a value the planner reads
 * changes; evaluation forgets unknowable values, plans from dsc to cfg and fires (or keeps) the first step.
 *
 * It is the one reconcile loop: every wait is its own (a handler's requeue, the backoff after a failure,
 * the restart of a crashed module), and the handlers of one node never overlap: a superseded handler is
 * aborted, and the node's next step is dispatched only once the previous handler has returned.
 */
import {isRequeue, isTerminal, type HandlerResult} from '../model/handler-result.js';
import type {MutationRequest} from '../model/contract.js';
import type {StateChangeEvent} from '../model/events.js';
import type {JsonValue, Node, NodeView} from '../model/node.js';
import type {Registry, RegisteredMutation} from '../model/registry.js';
import {formatDuration} from '../model/duration.js';
import {describe, LayercakeError, NotFoundError} from '../model/errors.js';
import {getAt, toShorthand} from '../model/url.js';
import type {Store} from '../store/store.js';
import {Planner, type State} from './planner.js';
import {Admission} from './admission.js';
import {EngineMetrics} from './metrics.js';

export interface RetryPolicy {
  /** Failures in a row (timeouts or handler errors) before a node is held. */
  max: number;
  baseMs: number;
  maxMs: number;
}

export interface EngineOptions {
  store: Store;
  registry: Registry;
  selfId: string;
  /** Deliver a MUTATE to the owning module; a rejection fails the step with its message, a requeue waits. */
  dispatch: (module: string, request: MutationRequest) => Promise<HandlerResult>;
  interrupt: (module: string, request: MutationRequest, reason: string) => void;
  /** Whether a module is RUN (its mutations wait until it is). */
  moduleRunning: (module: string) => boolean;
  /** A step waits for this module: start it if it is started on demand. */
  needModule?: (module: string) => void;
  retry?: Partial<RetryPolicy>;
  /** Per-module admission limits that override the modules' own maxConcurrent. */
  maxConcurrent?: Record<string, number>;
  frozen?: boolean;
}

type StepStatus = 'new' | 'running' | 'requeued' | 'waiting-module' | 'waiting-slot' | 'elsewhere';

interface Step {
  nodeId: string;
  mutation: RegisteredMutation;
  status: StepStatus;
  since: number;
  attempt: number;
  /** The handler's timeout while it runs; the wait before asking again while requeued. */
  timer?: NodeJS.Timeout;
  /** Created when the step fires; aborted only when the step ends without completing. */
  abort?: AbortController;
  request?: MutationRequest;
  /** How often the handler answered "not yet", and what it waits for. */
  requeues: number;
  requeued?: {reason: string; until: number};
  /** The previous handler of the node, not yet returned when this step fired (its dispatch waits for it). */
  behind?: string;
  /** The calls of the node's next handlers, waiting for this one to return. */
  next?: (() => void)[];
}

interface NodeRuntime {
  step?: Step;
  plan: RegisteredMutation[];
  failures: number;
  lastFailure?: {mutation: string; reason: string; time: number};
  backoffUntil?: number;
  backoffTimer?: NodeJS.Timeout;
  held?: {reason: string; since: number};
  blocked?: string;
  /** The step whose handler was dispatched last, until that handler returns. */
  handling?: Step;
}

export interface Why {
  nodeId: string;
  nodename: string;
  converged: boolean;
  summary: string;
  differences: {url: string; cfg?: JsonValue; dsc?: JsonValue}[];
  plan: string[];
  current?: {mutation: string; status: StepStatus; since: number; attempt: number; timeoutMs: number; waitingFor?: string};
  blocked?: string;
  held?: {reason: string; since: number; failures: number};
  lastFailure?: {mutation: string; reason: string; time: number};
  /** Errors the node reports in its dsc (reportedErrors). */
  reported: {url: string; error: string}[];
  frozen: boolean;
}

export class Engine {
  readonly planner: Planner;
  readonly metrics = new EngineMetrics();
  private readonly store: Store;
  private readonly registry: Registry;
  private readonly selfId: string;
  private readonly retry: RetryPolicy;
  private readonly admission: Admission<string>;
  private readonly runtimes = new Map<string, NodeRuntime>();
  private readonly dirty = new Set<string>();
  private readonly relevant: Set<string>;
  /** Why a module is not running (it crashed and is being restarted), for the steps that wait for it. */
  private readonly moduleTrouble = new Map<string, string>();
  private scheduled = false;
  private evaluating?: string;
  private unsubscribe?: () => void;
  private isFrozen: boolean;

  constructor(private readonly options: EngineOptions) {
    this.store = options.store;
    this.registry = options.registry;
    this.selfId = options.selfId;
    this.planner = new Planner(options.registry);
    this.retry = {max: 5, baseMs: 1000, maxMs: 60_000, ...options.retry};
    this.isFrozen = options.frozen ?? false;
    // The URLs the planner reads, and every object above them (a whole extension written at once).
    this.relevant = new Set([...this.planner.urls, ...this.planner.factUrls].flatMap((u) => u.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/')).filter(Boolean)));
    const limits: Record<string, number> = {};
    for (const spec of this.registry.modules()) if (spec.maxConcurrent) limits[spec.name] = spec.maxConcurrent;
    this.admission = new Admission({...limits, ...options.maxConcurrent}, (nodeId) => this.markDirty(nodeId));
    this.store.setCfgCheck((node) => this.checkReachable(node));
  }

  /**
   * Refuses a cfg that can never converge whatever the start (values that cannot hold given the rest
   * of the cfg, e.g. runState SYNC with physState POWER_OFF), so it is never stored nor shown as
   * converging. Whether a plan exists from the current dsc is another matter: `why` explains that.
   */
  checkReachable(cfg: Node): void {
    if (cfg.id === this.selfId) return; // a daemon's own state is first-hand, not planned by rules
    const problems = this.planner.inconsistencies(this.planner.project(cfg), this.planner.facts(cfg, cfg));
    if (problems.length === 0) return;
    const node = cfg.nodename || cfg.id;
    throw new LayercakeError(describe({node}, `this cfg can never converge: ${problems.join('; ')}`), 'LC_ERR_CFG_UNREACHABLE', {
      node, hint: 'nothing was changed; to power a node off use `layercake power off NODES` (it resets what cannot hold while off), or set the values named to ones that can hold together',
    });
  }

  start(): void {
    this.unsubscribe = this.store.events.subscribe({types: ['STATE_CHANGE']}, (e) => this.onChange(e as StateChangeEvent));
    for (const id of this.store.ids()) this.markDirty(id);
  }

  stop(): void {
    this.unsubscribe?.();
    for (const id of [...this.runtimes.keys()]) this.dropRuntime(id, 'the daemon is stopping');
    this.dirty.clear();
  }

  // ---- operator controls ----

  get frozen(): boolean {
    return this.isFrozen;
  }

  /** Stops planning and firing; in-flight steps are let go (their timers cleared); state is still recorded. */
  freeze(): void {
    if (this.isFrozen) return;
    this.isFrozen = true;
    for (const rt of this.runtimes.values()) {
      this.endStep(rt, 'the engine was frozen');
      this.clearBackoff(rt);
    }
  }

  thaw(): void {
    if (!this.isFrozen) return;
    this.isFrozen = false;
    for (const id of this.store.ids()) this.markDirty(id);
  }

  /** Releases a node held after too many failures and plans it again. */
  retryNode(nodeId: string): void {
    const rt = this.runtime(nodeId);
    rt.held = undefined;
    rt.failures = 0;
    this.clearBackoff(rt);
    this.markDirty(nodeId);
  }

  /**
   * A module's service state changed: steps waiting for it may go. `trouble` says why it stopped when it
   * crashed: its running steps fail with that reason (their handlers went with it), and steps that wait
   * for it show it.
   */
  moduleStateChanged(module: string, trouble?: string): void {
    if (trouble) this.moduleTrouble.set(module, trouble);
    else this.moduleTrouble.delete(module);
    for (const [id, rt] of this.runtimes) {
      const step = rt.step;
      if (step?.mutation.module !== module) continue;
      if (trouble && step.status === 'running') this.fail(id, step, `module ${module} failed: ${trouble}`);
      else if (step.status === 'waiting-module') this.markDirty(id);
    }
  }

  // ---- the serial queue ----

  private onChange(e: StateChangeEvent): void {
    if (e.nodeId === this.evaluating) return; // the evaluation in progress already sees its own writes
    if (e.op === 'DELETE') {
      this.dropRuntime(e.nodeId, 'the node was deleted');
      return;
    }
    const rt = e.view === 'cfg' ? this.runtimes.get(e.nodeId) : undefined;
    if (rt && (rt.failures || rt.held || rt.backoffTimer)) { // new operator intent (any value): a fresh start
      rt.failures = 0;
      rt.held = undefined;
      this.clearBackoff(rt);
      this.markDirty(e.nodeId);
    }
    if (e.op === 'UPDATE' && !this.relevant.has(e.url)) return;
    this.markDirty(e.nodeId);
  }

  private markDirty(nodeId: string): void {
    this.dirty.add(nodeId);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    for (const id of this.dirty) {
      this.dirty.delete(id);
      this.evaluating = id;
      try {
        this.evaluate(id);
      } catch (error) {
        this.log(id, 'error', `evaluation failed: ${(error as Error).message}`);
      } finally {
        this.evaluating = undefined;
      }
    }
  }

  // ---- evaluation ----

  private evaluate(id: string): void {
    const view = this.store.get(id);
    if (!view) return;
    const facts = this.planner.facts(view.cfg, view.dsc);
    // A daemon knows its own state first-hand; knowability rules are for what it learns of others.
    if (id !== this.selfId) this.forgetUnknowable(view, facts);
    if (this.isFrozen) return;
    const rt = this.runtime(id);
    if (rt.held || (rt.backoffUntil && rt.backoffUntil > Date.now())) return;
    const start = this.planner.project(view.dsc);
    const goal = this.planner.project(view.cfg);
    const step = rt.step;
    if (step && this.completed(step.mutation, start)) this.complete(id, rt);
    const plan = this.planner.plan(start, goal, facts);
    if (!plan.ok) {
      if (rt.blocked !== plan.reason) this.log(id, 'warn', plan.reason);
      rt.blocked = plan.reason;
      rt.plan = [];
      if (rt.step && !this.inProgress(rt.step.mutation, start)) this.endStep(rt, 'no plan leads to the cfg any more', true);
      return;
    }
    rt.blocked = undefined;
    rt.plan = plan.steps;
    if (plan.steps.length === 0) {
      if (rt.step) this.endStep(rt, 'the node already has its cfg', true);
      rt.failures = 0;
      return;
    }
    if (rt.step && (rt.step.mutation.id === plan.steps[0].id || this.inProgress(rt.step.mutation, start))) {
      this.advance(rt.step, rt, view); // the same step goes on (or may now leave its wait)
      return;
    }
    // The module has not acted on a step the plan no longer wants: tell it to stop.
    if (rt.step) this.endStep(rt, `superseded: the plan now starts with ${plan.steps[0].id}`, this.untouched(rt.step.mutation, start));
    rt.step = {nodeId: id, mutation: plan.steps[0], status: 'new', since: Date.now(), attempt: rt.failures + 1, timer: undefined, abort: undefined,
      request: undefined, requeues: 0, requeued: undefined, behind: undefined, next: undefined};
    this.advance(rt.step, rt, view);
  }

  /** Resets discovered values that are no longer knowable, as discoveries with events. */
  private forgetUnknowable(view: NodeView, facts: Record<string, JsonValue>): void {
    const state = this.planner.project(view.dsc);
    for (const i of this.planner.forget(state, facts)) {
      this.store.discover(view.cfg.id, this.planner.urls[i], this.planner.zeroAt(i), 'engine');
    }
  }

  private completed(m: RegisteredMutation, state: State): boolean {
    return Object.entries(m.mutates).every(([u, [, to]]) => state[this.planner.urls.indexOf(u)] === to);
  }

  /** Some mutated URLs already show `to`, the rest still `from`: a multi-URL step under way. */
  private inProgress(m: RegisteredMutation, state: State): boolean {
    const values = Object.entries(m.mutates).map(([u, ft]) => [state[this.planner.urls.indexOf(u)], ft] as const);
    return values.every(([v, [from, to]]) => v === from || v === to) && values.some(([v, [, to]]) => v === to) && !values.every(([v, [, to]]) => v === to);
  }

  private untouched(m: RegisteredMutation, state: State): boolean {
    return Object.entries(m.mutates).every(([u, [from]]) => state[this.planner.urls.indexOf(u)] === from);
  }

  private inContext(m: RegisteredMutation, cfg: Node): boolean {
    if (m.context === 'ALL') return true;
    if (m.context === 'SELF') return cfg.id === this.selfId;
    return cfg.parentId === this.selfId;
  }

  /** Moves a step as far as it can go: context, then its module running, then a slot, then fire. */
  private advance(step: Step, rt: NodeRuntime, view: NodeView): void {
    const m = step.mutation;
    const id = step.nodeId;
    if (step.status === 'running' || step.status === 'requeued' || step.status === 'elsewhere') return;
    if (!this.inContext(m, view.cfg)) {
      step.status = 'elsewhere'; // another daemon fires it; its discoveries move us on
      return;
    }
    if (!this.options.moduleRunning(m.module)) {
      if (step.status !== 'waiting-module') {
        this.mutationEvent(id, m, 'WAIT', `waiting for ${this.moduleWait(m.module)}`);
        this.options.needModule?.(m.module);
      }
      step.status = 'waiting-module';
      return;
    }
    const hasSlot = step.status === 'waiting-slot' ? this.admission.takeGrant(m.module, id) : this.admission.acquire(m.module, id);
    if (!hasSlot) {
      if (step.status !== 'waiting-slot') this.mutationEvent(id, m, 'WAIT', `waiting for a slot (${this.admission.running(m.module)} ${m.module} mutations running)`);
      step.status = 'waiting-slot';
      return;
    }
    this.fire(id, rt, step, view);
  }

  /** Fires a step (or asks again a step that was requeued); its handler runs once the node's previous one has returned. */
  private fire(id: string, rt: NodeRuntime, step: Step, view: NodeView): void {
    const m = step.mutation;
    const again = step.requeues > 0;
    step.status = 'running';
    step.requeued = undefined;
    if (!again) {
      step.since = Date.now();
      this.metrics.started(m.module);
    }
    const store = this.store;
    // cfg objects are frozen by the store and replaced, never changed, so the request can share them;
    // dsc and the abort signal are made only if the module asks (most never do).
    let dsc: Node | undefined;
    const request: MutationRequest = {
      nodeId: id, module: m.module, mutation: m.name, mutates: m.mutates, cfg: view.cfg, attempt: step.attempt,
      get dsc() { return (dsc ??= structuredClone(store.get(id)?.dsc ?? view.dsc)); },
      get signal() { return (step.abort ??= new AbortController()).signal; },
    };
    step.request = request;
    if (m.timeoutMs > 0) step.timer = setTimeout(() => this.fail(id, step, `timed out after ${formatDuration(m.timeoutMs)}${this.behindText(step)}`), m.timeoutMs);
    this.mutationEvent(id, m, 'MUTATE', again ? `asked again after ${step.requeues} requeue(s)` : undefined);
    this.handle(rt, step);
  }

  /**
   * Runs the handler after the evaluation that fired it, and after the node's previous handler has
   * returned (a superseded one was aborted already): handlers of one node never overlap. Plain callbacks
   * and methods, no promise chain: this is on the path of every mutation.
   */
  private handle(rt: NodeRuntime, step: Step): void {
    const previous = rt.handling;
    rt.handling = step;
    step.behind = previous?.mutation.id;
    if (previous) (previous.next ??= []).push(() => this.call(rt, step));
    else queueMicrotask(() => this.call(rt, step)); // never inside the evaluation that fired it
  }

  private call(rt: NodeRuntime, step: Step): void {
    step.behind = undefined;
    if (rt.step !== step || step.status !== 'running') return this.returned(rt, step); // over while it waited
    this.options.dispatch(step.mutation.module, step.request!).then(
      (result) => this.returned(rt, step, () => this.answered(step.nodeId, step, result)),
      (error: Error) => this.returned(rt, step, () => this.fail(step.nodeId, step, error?.message ?? String(error), isTerminal(error))),
    );
  }

  /** The step's handler has returned: act on its answer, then let the node's next handler go. */
  private returned(rt: NodeRuntime, step: Step, answer?: () => void): void {
    try {
      answer?.();
    } catch (error) {
      this.log(step.nodeId, 'error', `handling ${step.mutation.id} failed: ${(error as Error)?.message ?? String(error)}`);
    } finally {
      if (rt.handling === step) rt.handling = undefined;
      for (const go of step.next ?? []) go();
    }
  }

  private behindText(step: Step): string {
    return step.behind ? ` (still waiting for the previous handler, ${step.behind}, to return after its abort)` : '';
  }

  /** The handler returned: done (completion comes with the discoveries), or "not yet" (requeue). */
  private answered(id: string, step: Step, result: HandlerResult): void {
    if (!isRequeue(result) || this.runtimes.get(id)?.step !== step || step.status !== 'running') return;
    const m = step.mutation;
    const delay = result.afterMs ?? Math.min(this.retry.baseMs * 2 ** step.requeues, this.retry.maxMs);
    clearTimeout(step.timer);
    this.admission.release(m.module); // a step that waits holds no slot
    step.status = 'requeued';
    step.requeues++;
    step.requeued = {reason: result.reason, until: Date.now() + delay};
    this.mutationEvent(id, m, 'WAIT', `not yet: ${result.reason}; asking again in ${formatDuration(delay)}`);
    step.timer = setTimeout(() => {
      step.timer = undefined;
      step.status = 'new';
      this.markDirty(id);
    }, delay);
  }

  private complete(id: string, rt: NodeRuntime): void {
    const step = rt.step!;
    if (step.request) this.metrics.completed(step.mutation.module, Date.now() - step.since);
    this.mutationEvent(id, step.mutation, 'COMPLETE');
    this.releaseStep(rt, true);
    rt.failures = 0;
  }

  /** Ends the active step without completing it; `interrupt` tells the module to stop if it was running. */
  private endStep(rt: NodeRuntime, reason: string, interrupt = false): void {
    const step = rt.step;
    if (!step) return;
    if (interrupt && step.status === 'running' && step.request) {
      this.mutationEvent(step.request.nodeId, step.mutation, 'INTERRUPT', reason);
      this.options.interrupt(step.mutation.module, step.request, reason);
    }
    this.releaseStep(rt);
  }

  private releaseStep(rt: NodeRuntime, completed = false): void {
    const step = rt.step!;
    clearTimeout(step.timer);
    if (!completed) (step.abort ??= new AbortController()).abort(); // a handler that reads its signal later sees it aborted
    if (step.status === 'running') this.admission.release(step.mutation.module);
    if (step.status === 'waiting-slot') this.admission.cancel(step.mutation.module, step.nodeId);
    rt.step = undefined;
  }

  /**
   * A step failed (timeout, handler error, its module crashed): discover failTo, interrupt the module,
   * back off and re-plan; a terminal failure (TerminalError) holds the node instead of retrying.
   */
  private fail(id: string, step: Step, reason: string, terminal = false): void {
    const rt = this.runtimes.get(id);
    if (!rt || rt.step !== step) return; // a late failure of a step already over
    const m = step.mutation;
    this.metrics.failed(m.module);
    this.mutationEvent(id, m, 'INTERRUPT', reason);
    if (step.request) this.options.interrupt(m.module, step.request, reason);
    this.releaseStep(rt);
    rt.failures++;
    rt.lastFailure = {mutation: m.id, reason, time: Date.now()};
    this.store.record(id, {kind: 'failure', mutation: m.id, message: reason});
    if (terminal || rt.failures > this.retry.max) {
      const why = terminal ? `${m.id} failed for good (not retried): ${reason}` : `gave up after ${rt.failures} failures in a row; last: ${m.id} ${reason}`;
      rt.held = {reason: why, since: Date.now()};
      this.log(id, 'error', `${why} (a cfg change or layercake node retry releases it)`);
    } else {
      const delay = Math.min(this.retry.baseMs * 2 ** (rt.failures - 1), this.retry.maxMs);
      rt.backoffUntil = Date.now() + delay;
      rt.backoffTimer = setTimeout(() => {
        rt.backoffUntil = undefined;
        rt.backoffTimer = undefined;
        this.markDirty(id);
      }, delay);
    }
    if (m.failTo && this.store.get(id)) this.store.discover(id, m.failTo.url, m.failTo.value, m.module);
  }

  private clearBackoff(rt: NodeRuntime): void {
    clearTimeout(rt.backoffTimer);
    rt.backoffTimer = undefined;
    rt.backoffUntil = undefined;
  }

  private runtime(id: string): NodeRuntime {
    let rt = this.runtimes.get(id);
    if (!rt) this.runtimes.set(id, (rt = {step: undefined, plan: [], failures: 0, handling: undefined}));
    return rt;
  }

  private dropRuntime(id: string, reason: string): void {
    const rt = this.runtimes.get(id);
    if (!rt) return;
    this.endStep(rt, reason, true);
    this.clearBackoff(rt);
    this.runtimes.delete(id);
    this.dirty.delete(id);
  }

  private moduleWait(module: string): string {
    const trouble = this.moduleTrouble.get(module);
    return `module ${module} to run${trouble ? ` (it failed: ${trouble})` : ''}`;
  }

  private mutationEvent(nodeId: string, m: RegisteredMutation, kind: 'MUTATE' | 'INTERRUPT' | 'COMPLETE' | 'WAIT', reason?: string): void {
    const history = {MUTATE: 'mutate', COMPLETE: 'complete', INTERRUPT: 'interrupt', WAIT: 'log'} as const;
    this.store.record(nodeId, {kind: history[kind], mutation: m.id, message: reason});
    this.store.events.emit({type: 'MUTATION', nodeId, kind, module: m.module, mutation: m.name, reason});
  }

  private log(nodeId: string, level: 'info' | 'warn' | 'error', message: string): void {
    this.store.record(nodeId, {kind: 'log', message});
    this.store.events.emit({type: 'LOG', nodeId, level, message, module: 'engine'});
  }

  // ---- queries ----

  status() {
    let converged = 0, active = 0, waiting = 0, held = 0, blocked = 0;
    for (const view of this.store.list()) {
      if (view.cfg.id === this.selfId) continue;
      const rt = this.runtimes.get(view.cfg.id);
      if (rt?.held) held++;
      else if (rt?.blocked) blocked++;
      else if (rt?.step?.status === 'waiting-module' || rt?.step?.status === 'waiting-slot') waiting++;
      else if (rt?.step || rt?.backoffUntil) active++;
      else if (this.planner.satisfies(this.planner.project(view.dsc), this.planner.project(view.cfg))) converged++;
      else active++;
    }
    return {frozen: this.isFrozen, nodes: this.store.size - (this.store.get(this.selfId) ? 1 : 0), converged, active, waiting, blocked, held,
      inFlight: this.admission.runningByModule(), queued: this.admission.queuedByModule()};
  }

  why(idOrName: string): Why {
    const view = this.store.resolve(idOrName);
    if (!view) throw new NotFoundError(`no node "${idOrName}"`, {node: idOrName});
    const {cfg, dsc} = view;
    const rt = this.runtimes.get(cfg.id);
    const differences = this.planner.urls
      .map((u, i) => ({url: u, cfg: getAt(cfg, u) ?? this.planner.zeroAt(i), dsc: getAt(dsc, u) ?? this.planner.zeroAt(i), zero: this.planner.zeroAt(i)}))
      .filter((d) => d.cfg !== d.zero && d.cfg !== d.dsc)
      .map(({url, cfg: c, dsc: d}) => ({url, cfg: c, dsc: d}));
    const step = rt?.step;
    const waitingFor = step && {new: undefined, running: step.behind && `the previous handler, ${step.behind}, to return after its abort`,
      requeued: step.requeued && `${step.requeued.reason} (asking ${step.mutation.id} again in ${formatDuration(Math.max(0, step.requeued.until - Date.now()))})`,
      'waiting-module': this.moduleWait(step.mutation.module), 'waiting-slot': `a ${step.mutation.module} slot`,
      elsewhere: step.mutation.context === 'SELF' ? 'the node itself to perform it' : 'the node\'s parent to perform it'}[step.status];
    const converged = differences.length === 0 && !rt?.blocked;
    const summary = this.summary(cfg, rt, converged, differences.length, waitingFor);
    return {
      nodeId: cfg.id, nodename: cfg.nodename, converged, summary, differences, frozen: this.isFrozen,
      plan: (rt?.plan ?? []).map((m) => m.id),
      current: step && {mutation: step.mutation.id, status: step.status, since: step.since, attempt: step.attempt, timeoutMs: step.mutation.timeoutMs, waitingFor},
      blocked: rt?.blocked, held: rt?.held && {...rt.held, failures: rt.failures}, lastFailure: rt?.lastFailure,
      reported: reportedErrors(dsc.extensions),
    };
  }

  private summary(cfg: Node, rt: NodeRuntime | undefined, converged: boolean, differences: number, waitingFor?: string): string {
    const name = cfg.nodename || cfg.id;
    if (rt?.held) return `${name} is held: ${rt.held.reason}`;
    if (rt?.blocked) return `${name} cannot converge: ${rt.blocked}`;
    if (converged) return `${name} has converged: its discovered state matches its cfg`;
    if (this.isFrozen) return `${name} differs from its cfg in ${differences} value(s), but the engine is frozen (layercake engine thaw)`;
    if (rt?.backoffUntil) return `${name} is backing off after a failure (${rt.lastFailure?.mutation}: ${rt.lastFailure?.reason}); retrying in ${formatDuration(rt.backoffUntil - Date.now())}`;
    if (rt?.step) {
      const s = rt.step;
      const running = `${s.mutation.id} (attempt ${s.attempt}, for ${formatDuration(Date.now() - s.since)}${s.mutation.timeoutMs ? ` of ${formatDuration(s.mutation.timeoutMs)}` : ''})`;
      if (s.status === 'requeued') return `${name} is waiting: ${waitingFor}`;
      return s.status === 'running' && !s.behind ? `${name} is running ${running}` : `${name} is waiting for ${waitingFor} before ${s.mutation.id}`;
    }
    return `${name} is about to be planned`;
  }

  path(idOrName: string) {
    const view = this.store.resolve(idOrName);
    if (!view) throw new NotFoundError(`no node "${idOrName}"`, {node: idOrName});
    const rt = this.runtimes.get(view.cfg.id);
    const steps = (rt?.plan ?? []).map((m, i) => ({mutation: m.id, status: i === 0 && rt?.step ? rt.step.status : 'pending'}));
    return {nodeId: view.cfg.id, steps, blocked: rt?.blocked, held: rt?.held?.reason};
  }

  /** The pointers whose cfg values cannot hold given the rest of this cfg (e.g. runState SYNC when powering off). */
  unknowableUnder(cfg: Node): string[] {
    return this.planner.unknowable(this.planner.project(cfg), this.planner.facts(cfg, cfg));
  }

  consistency(cfg: Node): string[] {
    return this.planner.inconsistencies(this.planner.project(cfg), this.planner.facts(cfg, this.store.get(cfg.id)?.dsc ?? cfg));
  }

  graph(nodeIdOrName?: string) {
    let start: State | undefined;
    let facts: Record<string, JsonValue> | undefined;
    if (nodeIdOrName) {
      const view = this.store.resolve(nodeIdOrName);
      if (!view) throw new NotFoundError(`no node "${nodeIdOrName}"`, {node: nodeIdOrName});
      start = this.planner.project(view.dsc);
      facts = this.planner.facts(view.cfg, view.dsc);
    }
    const {states, edges} = this.planner.explore(start, facts);
    const id = (s: State) => s.map((v, i) => (v === this.planner.zeroAt(i) ? '' : `${toShorthand(this.planner.urls[i])}=${v}`)).filter(Boolean).join(',') || 'unknown';
    return {
      nodes: states.map((s) => ({id: id(s), label: this.planner.describe(s), spec: Object.fromEntries(s.map((v, i) => [this.planner.urls[i], v]))})),
      edges: edges.map((e) => ({id: `${e.mutation.id}:${id(states[e.from])}->${id(states[e.to])}`, from: id(states[e.from]), to: id(states[e.to]), mutation: e.mutation.id})),
    };
  }
}

/**
 * The errors a node reports in its dsc: every non-empty `lastError` string under its extensions (the
 * convention a module follows for the last error of a part it runs, e.g. an image of the image set),
 * with the URL where it is. A mutation the node performs itself fails on the node, so its parent's engine
 * has no lastFailure for it: this is how the reason reaches the parent's `node why`.
 */
export function reportedErrors(extensions: Record<string, unknown>): {url: string; error: string}[] {
  const found: {url: string; error: string}[] = [];
  const walk = (value: unknown, url: string) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'lastError' && typeof child === 'string' && child) found.push({url: `${url}/lastError`, error: child});
      else walk(child, `${url}/${key}`);
    }
  };
  walk(extensions, '/extensions');
  return found;
}
