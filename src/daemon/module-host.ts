/**
 * Runs the plugins' modules in the daemon's process under supervision: a module that throws (or calls
 * ctx.fail) goes to service state ERROR and is restarted with backoff; it never takes the daemon down.
 * Meanwhile its running steps fail with the reason and its next ones wait for it, saying why.
 * Service states are discovered on the daemon's own node (/services/<name>).
 *
 * A module's event listeners run after the change that made the event, never inside the engine's
 * evaluation: a listener that throws or takes its time cannot stall or abort it.
 */
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import type {Logger as Pino} from 'pino';
import type {Engine} from '../engine/engine.js';
import {formatDuration} from '../model/duration.js';
import type {LcEvent} from '../model/events.js';
import type {HandlerResult} from '../model/handler-result.js';
import type {JsonValue, ServiceState} from '../model/node.js';
import type {Registry} from '../model/registry.js';
import {ValidationError} from '../model/errors.js';
import type {InterruptHandler, ModuleContext, ModuleSpec, MutationHandler, MutationRequest} from '../model/contract.js';
import type {Store} from '../store/store.js';

interface Supervised {
  spec: ModuleSpec;
  config: unknown;
  state: ServiceState;
  error?: string;
  restarts: number;
  startedAt?: number;
  abort?: AbortController;
  restartTimer?: NodeJS.Timeout;
  onMutate?: MutationHandler;
  onInterrupt: InterruptHandler[];
}

export interface ModuleStatus {
  name: string;
  state: ServiceState;
  error?: string;
  restarts: number;
  startedAt?: number;
  mutations: number;
}

export interface ModuleHostOptions {
  store: Store;
  registry: Registry;
  selfId: string;
  stateDir: string;
  logger: Pino;
  /** Restart backoff: base and cap in ms. */
  backoff?: {baseMs: number; maxMs: number};
}

export class ModuleHost {
  private readonly modules = new Map<string, Supervised>();
  private engine?: Engine;
  private stopping = false;

  constructor(private readonly options: ModuleHostOptions) {}

  add(spec: ModuleSpec, config: unknown): void {
    this.modules.set(spec.name, {spec, config, state: 'INIT', restarts: 0, onInterrupt: []});
  }

  attach(engine: Engine): void {
    this.engine = engine;
  }

  /**
   * Starts every module, or (on demand) none: a child agent knows every module's mutations, to plan with
   * them, but runs a module only once one of its mutations must fire there (service auto-start).
   */
  async startAll(onDemand = false): Promise<void> {
    if (onDemand) return;
    await Promise.all([...this.modules.values()].map((m) => this.start(m)));
  }

  /** Starts a module that has not been started yet (a step is waiting for it). */
  need = (name: string): void => {
    const m = this.modules.get(name);
    if (m && m.state === 'INIT' && !m.abort && !this.stopping) void this.start(m);
  };

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const m of this.modules.values()) {
      clearTimeout(m.restartTimer);
      m.abort?.abort();
      this.setState(m, 'STOP');
    }
  }

  list(): ModuleStatus[] {
    return [...this.modules.values()].map((m) => ({
      name: m.spec.name, state: m.state, error: m.error, restarts: m.restarts, startedAt: m.startedAt,
      mutations: m.spec.mutations?.length ?? 0,
    }));
  }

  isRunning = (name: string): boolean => this.modules.get(name)?.state === 'RUN';

  dispatch = async (name: string, request: MutationRequest): Promise<HandlerResult> => {
    const m = this.modules.get(name);
    if (!m || m.state !== 'RUN') throw new Error(`module ${name} is not running${m?.error ? ` (${m.error})` : ''}`);
    if (!m.onMutate) throw new Error(`module ${name} registered no mutation handler`);
    return await m.onMutate(request);
  };

  interrupt = (name: string, request: MutationRequest, reason: string): void => {
    for (const handler of this.modules.get(name)?.onInterrupt ?? []) {
      try {
        handler(request, reason);
      } catch (error) {
        this.options.logger.warn({module: name, err: error}, 'interrupt handler failed');
      }
    }
  };

  private async start(m: Supervised): Promise<void> {
    const abort = new AbortController();
    m.abort = abort;
    m.onMutate = undefined;
    m.onInterrupt = [];
    const ctx = this.context(m, abort);
    try {
      await m.spec.start(ctx);
      if (abort.signal.aborted) return;
      m.startedAt = Date.now();
      m.error = undefined;
      this.setState(m, 'RUN');
    } catch (error) {
      this.crashed(m, abort, error as Error);
    }
  }

  private crashed(m: Supervised, abort: AbortController, error: Error): void {
    if (abort.signal.aborted || this.stopping) return;
    abort.abort();
    m.error = error?.message ?? String(error);
    this.options.logger.error({module: m.spec.name, err: error}, `module ${m.spec.name} failed: ${m.error}`);
    const base = this.options.backoff?.baseMs ?? 1000;
    const delay = Math.min(base * 2 ** m.restarts, this.options.backoff?.maxMs ?? 60_000);
    m.restarts++;
    m.restartTimer = setTimeout(() => void this.start(m), delay);
    this.setState(m, 'ERROR', `${m.error}; restart ${m.restarts} in ${formatDuration(delay)}`);
  }

  private setState(m: Supervised, state: ServiceState, trouble?: string): void {
    m.state = state;
    const {store, selfId} = this.options;
    if (store.get(selfId)) {
      const value = m.error && state === 'ERROR' ? {state, error: m.error} : {state};
      store.discover(selfId, `/services/${m.spec.name}`, value as JsonValue, 'daemon');
    }
    this.engine?.moduleStateChanged(m.spec.name, trouble);
  }

  private context(m: Supervised, abort: AbortController): ModuleContext {
    const {store, registry, selfId, stateDir} = this.options;
    const name = m.spec.name;
    const log = this.options.logger.child({module: name});
    const moduleDir = join(stateDir, name);
    mkdirSync(moduleDir, {recursive: true, mode: 0o700});
    return {
      name, selfId, config: m.config, stateDir, log, signal: abort.signal,
      discover: (nodeId, url, value) => {
        const pointer = registry.normalizeUrl(url);
        if (!registry.isDiscoverable(name, pointer)) {
          throw new ValidationError(`module ${name} may not discover ${pointer} (declare it in the module's discoverables)`, {node: nodeId, url: pointer});
        }
        store.discover(nodeId, pointer, value, name);
      },
      onMutate: (handler) => { m.onMutate = handler; },
      onInterrupt: (handler) => { m.onInterrupt.push(handler); },
      nodes: {get: (id) => store.get(id), byName: (n) => store.byName(n), list: () => store.list()},
      subscribe: (filter, listener) => {
        const later = deferred(listener, (error) => log.error({err: error}, `an event listener of module ${name} failed: ${(error as Error)?.message ?? String(error)}`));
        const off = store.events.subscribe(filter, later.push);
        const stop = () => {
          off();
          later.stop();
        };
        abort.signal.addEventListener('abort', stop, {once: true});
        return stop;
      },
      fail: (error) => this.crashed(m, abort, error),
    };
  }
}

/**
 * A listener fed in a later turn of the event loop (setImmediate), in order: the engine's evaluation that
 * emitted the events, and the dispatches it made, are over before the listener sees them.
 */
function deferred(listener: (event: LcEvent) => void, onError: (error: unknown) => void) {
  let queue: LcEvent[] = [];
  let active = true;
  const flush = () => {
    const batch = queue;
    queue = [];
    for (const event of batch) {
      if (!active) return;
      try {
        listener(event);
      } catch (error) {
        onError(error);
      }
    }
  };
  return {
    push: (event: LcEvent) => {
      if (active && queue.push(event) === 1) setImmediate(flush);
    },
    stop: () => {
      active = false;
      queue = [];
    },
  };
}
