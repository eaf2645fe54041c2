/**
 * bench/sync: a process hosting many light children: each is a real SyncEngine (its own UDP socket,
 * the real protocol) over a store DOUBLE (test/sync/support/store-double.ts) instead of a whole daemon.
 * Usage (by index.ts): forked with IPC; the first message is {op: 'init', spec: {parent, nodes: [{id, secret}], sync}}.
 */
import {Registry} from '../../src/model/registry.js';
import {SyncEngine, createSyncModule} from '../../src/sync/index.js';
import {StoreDouble} from '../../test/sync/support/store-double.js';
import {worldModule} from '../../test/sync/support/world.js';

interface Spec {
  parent: string;
  nodes: {id: string; secret: string}[];
  sync: Record<string, unknown>;
  watch: string;
}

const spec = await new Promise<Spec>((resolve) => process.once('message', (m: {op: string; spec: Spec}) => resolve(m.spec)));
const registry = new Registry();
registry.registerModule(createSyncModule());
registry.registerModule(worldModule);
const send = (m: unknown) => process.send?.(m);

const engines: SyncEngine[] = [];
const stores: StoreDouble[] = [];
/** The value we wait for and when each child got it. */
let target: unknown;
let arrivals: number[] = [];
let waiting = 0;
let cpuAtExpect = process.cpuUsage();

for (const n of spec.nodes) {
  const store = new StoreDouble(['probe', 'sync']);
  const engine = new SyncEngine({store, registry, selfId: n.id, parent: spec.parent, joinSecret: n.secret, config: {...spec.sync, listen: '127.0.0.1:0', recvBufferSize: 0}});
  store.events.subscribe({types: ['STATE_CHANGE']}, (e) => {
    if (e.type !== 'STATE_CHANGE' || e.view !== 'cfg' || target === undefined) return;
    const v = store.get(n.id);
    const got = (v?.cfg.extensions.probe as {echo?: unknown} | undefined)?.echo;
    if (got === target && waiting > 0) {
      arrivals.push(performance.timeOrigin + performance.now());
      if (--waiting === 0) {
        const cpu = process.cpuUsage(cpuAtExpect);
        send({arrived: {count: arrivals.length, last: Math.max(...arrivals), first: Math.min(...arrivals), cpuMs: (cpu.user + cpu.system) / 1000}});
      }
    }
  });
  engines.push(engine);
  stores.push(store);
}
for (const e of engines) await e.start();

process.on('message', (m: {op: string; value?: unknown}) => {
  if (m.op === 'expect') {
    target = m.value;
    arrivals = [];
    cpuAtExpect = process.cpuUsage();
    waiting = stores.filter((s, i) => (s.get(spec.nodes[i]!.id)?.cfg.extensions.probe as {echo?: unknown} | undefined)?.echo !== target).length;
    send({expecting: waiting});
  } else if (m.op === 'profile') {
    void profile(m.value as number).then((top) => send({profile: top}));
  } else if (m.op === 'synced') {
    send({synced: engines.filter((e) => e.status().parent?.state === 'synced').length});
  } else if (m.op === 'stop') {
    void Promise.all(engines.map((e) => e.stop())).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
send({ready: engines.length});

/** A CPU profile of this process for `ms`, summarised by self time (diagnostics: BENCH_SYNC_PROFILE_FANOUT). */
async function profile(ms: number): Promise<string[]> {
  const {Session} = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await new Promise((r) => setTimeout(r, ms));
  const {profile: p} = await session.post('Profiler.stop') as unknown as {profile: {nodes: {id: number; callFrame: {functionName: string; url: string}}[]; samples: number[]; timeDeltas: number[]}};
  session.disconnect();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const cf = byId.get(id)!.callFrame;
    const key = `${cf.functionName || '(anon)'} ${cf.url.split('/').pop()}`;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, us]) => `${(us / 1000).toFixed(1)} ms ${k}`);
}
