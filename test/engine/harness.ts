/** Builds a registry + store + engine over a temp dir, with a recording module host (a test double). */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Engine, type EngineOptions} from '../../src/engine/engine.js';
import type {LcEvent, MutationEvent} from '../../src/model/events.js';
import type {HandlerResult} from '../../src/model/handler-result.js';
import {Registry} from '../../src/model/registry.js';
import type {ModuleSpec, MutationRequest, MutationSpec} from '../../src/model/contract.js';
import {Store} from '../../src/store/store.js';

export const SELF = '00000000-0000-4000-8000-000000000001';
export const NODE = '00000000-0000-4000-8000-000000000002';

const mod = (name: string, mutations: MutationSpec[]): ModuleSpec => ({name, mutations, start() {}});

/** The original's "power + boot" set (kraken-engine.md §5.3), in three modules. */
export function powerBootModules(timeout = 0): ModuleSpec[] {
  const fail = {url: 'physState', value: 'PHYS_HANG'};
  return [
    mod('power', [
      {name: 'pwrDisc', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_OFF']}, timeout, failTo: fail},
      {name: 'pwrOn', mutates: {physState: ['POWER_OFF', 'POWER_ON']}, timeout, failTo: {url: 'physState', value: 'POWER_OFF'}},
      {name: 'pwrOff', mutates: {physState: ['POWER_ON', 'POWER_OFF']}, timeout, failTo: fail},
    ]),
    mod('boot', [
      {name: 'pxeBoot', mutates: {runState: ['UNKNOWN', 'INIT']}, requires: {physState: 'POWER_ON'}, timeout, failTo: fail},
      {name: 'syncToUnknown', mutates: {runState: ['SYNC', 'UNKNOWN']}, requires: {physState: 'POWER_ON'}},
    ]),
    mod('sync', [
      {name: 'INITtoSYNC', mutates: {runState: ['INIT', 'SYNC']}, requires: {physState: 'POWER_ON'}, timeout, failTo: fail},
    ]),
  ];
}

export function registryOf(modules: ModuleSpec[]): Registry {
  const registry = new Registry();
  for (const m of modules) registry.registerModule(m);
  return registry;
}

export interface Harness {
  registry: Registry;
  store: Store;
  engine: Engine;
  dir: string;
  events: LcEvent[];
  requests: MutationRequest[];
  interrupts: {request: MutationRequest; reason: string}[];
  /** MUTATE events as "module/mutation" strings, in order. */
  mutates(): string[];
  /** Resolves when a matching event has been seen (now or later); rejects after `ms`. */
  waitFor(pred: (e: LcEvent) => boolean, ms?: number, label?: string): Promise<LcEvent>;
  close(): void;
}

export function harness(modules: ModuleSpec[], opts: Partial<EngineOptions> & {handler?: (r: MutationRequest) => HandlerResult | Promise<HandlerResult>} = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'lc-engine-'));
  const registry = registryOf(modules);
  const store = Store.open({dir, registry, defaultParentId: SELF});
  const events: LcEvent[] = [];
  const requests: MutationRequest[] = [];
  const interrupts: {request: MutationRequest; reason: string}[] = [];
  const waiters = new Set<{pred: (e: LcEvent) => boolean; resolve: (e: LcEvent) => void}>();
  store.events.subscribe({}, (e) => {
    events.push(e);
    for (const w of waiters) if (w.pred(e)) { waiters.delete(w); w.resolve(e); }
  });
  const engine = new Engine({
    store, registry, selfId: SELF,
    dispatch: async (_module, request) => { requests.push(request); return await opts.handler?.(request); },
    interrupt: (_module, request, reason) => { interrupts.push({request, reason}); },
    moduleRunning: () => true,
    retry: {max: 5, baseMs: 10, maxMs: 50},
    ...opts,
  });
  engine.start();
  return {
    registry, store, engine, dir, events, requests, interrupts,
    mutates: () => events.filter((e): e is MutationEvent => e.type === 'MUTATION' && e.kind === 'MUTATE').map((e) => `${e.module}/${e.mutation}`),
    waitFor(pred, ms = 2000, label = 'event') {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {pred, resolve: (e: LcEvent) => { clearTimeout(timer); resolve(e); }};
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`timed out waiting for ${label}`)); }, ms);
        waiters.add(w);
      });
    },
    close() {
      engine.stop();
      store.close();
      rmSync(dir, {recursive: true, force: true});
    },
  };
}

export const isMutate = (name: string, after = 0) => (e: LcEvent) => e.type === 'MUTATION' && e.kind === 'MUTATE' && `${e.module}/${e.mutation}` === name && e.seq > after;

/** Waits until the engine's serial queue has run (one macrotask turn plus microtasks). */
export const settle = () => new Promise((r) => setImmediate(() => setImmediate(r)));
