/**
 * Module supervision and module event listeners, on the real store, engine and module host:
 * - a module whose start throws, or that fails (ctx.fail) while its handler runs, goes to ERROR and is
 *   restarted with growing backoff; meanwhile its running step fails with the reason and its next steps
 *   wait for it, saying why (`node why`, the WAIT and INTERRUPT events, /services/<name> on the daemon's node);
 * - a module's event listeners run outside the engine's evaluation: one that throws, or takes its time,
 *   cannot stall or abort it.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {pino} from 'pino';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ModuleHost} from '../../src/daemon/module-host.js';
import {Engine} from '../../src/engine/engine.js';
import type {LcEvent, MutationEvent} from '../../src/model/events.js';
import {Registry} from '../../src/model/registry.js';
import type {ModuleContext, ModuleSpec, MutationRequest} from '../../src/model/contract.js';
import {Store} from '../../src/store/store.js';
import {NODE, SELF, settle} from '../engine/harness.js';

interface Rig {
  store: Store;
  engine: Engine;
  host: ModuleHost;
  events: LcEvent[];
  logs: string[];
  waitFor(pred: (e: LcEvent) => boolean, label: string): Promise<LcEvent>;
  close(): Promise<void>;
}

/** The daemon's composition (store + engine + module host) around `modules`, with a fast restart backoff. */
function rig(modules: ModuleSpec[], backoff = {baseMs: 20, maxMs: 1000}): Rig {
  const dir = mkdtempSync(join(tmpdir(), 'lc-module-host-'));
  const registry = new Registry();
  for (const m of modules) registry.registerModule(m);
  const store = Store.open({dir: join(dir, 'store'), registry, defaultParentId: SELF});
  store.apply([{id: SELF, nodename: 'head', physState: 'POWER_ON', runState: 'SYNC'}], {source: 'daemon'});
  const logs: string[] = [];
  const logger = pino({level: 'info'}, {write: (line: string) => logs.push(JSON.parse(line).msg)});
  const host = new ModuleHost({store, registry, selfId: SELF, stateDir: dir, logger, backoff});
  for (const m of modules) host.add(m, {});
  const engine = new Engine({store, registry, selfId: SELF, dispatch: host.dispatch, interrupt: host.interrupt, moduleRunning: host.isRunning, needModule: host.need,
    retry: {max: 5, baseMs: 10, maxMs: 50}});
  host.attach(engine);
  const events: LcEvent[] = [];
  const waiters = new Set<{pred: (e: LcEvent) => boolean; resolve: (e: LcEvent) => void}>();
  store.events.subscribe({}, (e) => {
    events.push(e);
    for (const w of waiters) if (w.pred(e)) { waiters.delete(w); w.resolve(e); }
  });
  engine.start();
  return {
    store, engine, host, events, logs,
    waitFor: (pred, label) => {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {pred, resolve: (e: LcEvent) => { clearTimeout(timer); resolve(e); }};
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`timed out waiting for ${label}`)); }, 5000);
        waiters.add(w);
      });
    },
    async close() {
      engine.stop();
      await host.stopAll();
      store.close();
      rmSync(dir, {recursive: true, force: true});
    },
  };
}

const mutation = (kind: MutationEvent['kind'], name: string) => (e: LcEvent) => e.type === 'MUTATION' && e.kind === kind && e.mutation === name;
const service = (state: string) => (e: LcEvent) => e.type === 'STATE_CHANGE' && e.nodeId === SELF && e.url === '/services/power' && (e.value as {state?: string})?.state === state;

/** A power module whose `start` is given; its pwrDisc finds every node off. */
function power(start: (ctx: ModuleContext) => void | Promise<void>): ModuleSpec {
  return {name: 'power', start, mutations: [{name: 'pwrDisc', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_OFF']}, failTo: {url: 'physState', value: 'PHYS_UNKNOWN'}}]};
}

test('a module whose start throws is restarted with growing backoff; its steps wait, saying why, then run', async () => {
  const starts: number[] = [];
  const r = rig([power((ctx) => {
    starts.push(performance.now());
    if (starts.length <= 2) throw new Error(`the BMC network is down (try ${starts.length})`);
    ctx.onMutate((req) => { ctx.discover(req.nodeId, 'physState', 'POWER_OFF'); });
  })]);
  try {
    await r.host.startAll();
    assert.is(r.host.list()[0].state, 'ERROR');
    const down = r.store.get(SELF)!.dsc.services.power as {state: string; error: string};
    assert.equal(down, {state: 'ERROR', error: 'the BMC network is down (try 1)'}, 'the service state names the error');
    r.store.create([{id: NODE, nodename: 'n01', physState: 'POWER_OFF'}]);
    const wait = await r.waitFor(mutation('WAIT', 'pwrDisc'), 'the step waiting for the module');
    assert.match((wait as MutationEvent).reason!, /^waiting for module power to run \(it failed: the BMC network is down \(try \d\); restart \d in \d+ms\)$/);
    assert.match(r.engine.why(NODE).summary, /n01 is waiting for module power to run \(it failed: the BMC network is down/);
    await r.waitFor(mutation('COMPLETE', 'pwrDisc'), 'pwrDisc once the module runs');
    assert.is(starts.length, 3);
    assert.is(r.host.list()[0].restarts, 2);
    // Less 1 ms: a timer counts from libuv's loop time, taken when the loop turn began, so it can end up to
    // a millisecond before the delay has passed by performance.now() (seen: a 40 ms backoff at 39.8 ms).
    assert.ok(starts[1] - starts[0] >= 19 && starts[2] - starts[1] >= 39, `backoff 20 ms then 40 ms (gaps ${starts[1] - starts[0]}, ${starts[2] - starts[1]})`);
    assert.ok(r.logs.some((l) => l === 'module power failed: the BMC network is down (try 1)'), 'the daemon log names the module and the error');
    assert.ok(r.events.some(service('RUN')));
  } finally {
    await r.close();
  }
});

test('a module that fails while its handler runs: the step fails at once with the reason, the handler is aborted, and the step runs again after the restart', async () => {
  let starts = 0;
  let aborted: boolean | undefined;
  const r = rig([power((ctx) => {
    const first = ++starts === 1;
    ctx.onMutate(async (req: MutationRequest) => {
      if (!first) {
        ctx.discover(req.nodeId, 'physState', 'POWER_OFF');
        return;
      }
      queueMicrotask(() => ctx.fail(new Error('the IPMI session pool broke')));
      await new Promise((resolve) => req.signal.addEventListener('abort', resolve, {once: true}));
      aborted = req.signal.aborted;
    });
  })]);
  try {
    await r.host.startAll();
    r.store.create([{id: NODE, nodename: 'n01', physState: 'POWER_OFF'}]);
    const interrupt = await r.waitFor(mutation('INTERRUPT', 'pwrDisc'), 'the step failing with its module');
    assert.match((interrupt as MutationEvent).reason!, /^module power failed: the IPMI session pool broke; restart 1 in 20ms$/);
    await settle();
    assert.is(aborted, true, 'the handler of the failed step was aborted');
    assert.match(r.engine.why(NODE).lastFailure!.reason, 'module power failed: the IPMI session pool broke');
    assert.ok(r.events.some(service('ERROR')));
    await r.waitFor(mutation('COMPLETE', 'pwrDisc'), 'pwrDisc after the restart');
    assert.is(starts, 2);
    assert.ok(r.engine.why(NODE).converged);
  } finally {
    await r.close();
  }
});

test('module event listeners run outside the engine\'s evaluation: one that throws or takes its time cannot stall or abort it', async () => {
  const seen: {mutation: string; dispatched: boolean; inEvaluation: boolean}[] = [];
  const dispatched = new Set<string>();
  const r = rig([{
    name: 'power',
    mutations: [
      {name: 'pwrDisc', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_OFF']}},
      {name: 'pwrOn', mutates: {physState: ['POWER_OFF', 'POWER_ON']}},
    ],
    start(ctx) {
      ctx.onMutate((req) => {
        dispatched.add(req.mutation);
        ctx.discover(req.nodeId, 'physState', req.mutates['/physState'][1]);
      });
      ctx.subscribe({types: ['MUTATION']}, (e) => {
        if (e.type !== 'MUTATION' || e.kind !== 'MUTATE') return;
        seen.push({mutation: e.mutation, dispatched: dispatched.has(e.mutation), inEvaluation: /Engine\.(evaluate|drain)/.test(new Error().stack ?? '')});
        const until = performance.now() + 20;
        while (performance.now() < until); // takes its time, synchronously
        throw new Error('a listener bug');
      });
      ctx.subscribe({types: ['STATE_CHANGE'], nodes: [NODE]}, () => {
        throw new Error('another listener bug');
      });
    },
  }]);
  try {
    await r.host.startAll();
    r.store.create([{id: NODE, nodename: 'n01', physState: 'POWER_ON'}]);
    await r.waitFor(mutation('COMPLETE', 'pwrOn'), 'the node converged despite its listeners');
    await settle();
    assert.equal(seen.map((s) => s.mutation), ['pwrDisc', 'pwrOn']);
    assert.ok(seen.every((s) => !s.inEvaluation), 'no listener ran inside the evaluation');
    assert.ok(seen.every((s) => s.dispatched), 'each step\'s handler was dispatched before the listener heard of it');
    assert.ok(r.logs.includes('an event listener of module power failed: a listener bug'), 'a throwing listener is logged with its module');
    assert.ok(r.engine.why(NODE).converged);
    assert.is(r.host.list()[0].state, 'RUN', 'a listener that throws does not crash its module');
  } finally {
    await r.close();
  }
});

test.run();
