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

for (const n of spec.nodes) {
  const store = new StoreDouble(['probe', 'sync']);
  const engine = new SyncEngine({store, registry, selfId: n.id, parent: spec.parent, joinSecret: n.secret, config: {...spec.sync, listen: '127.0.0.1:0', recvBufferSize: 0}});
  store.events.subscribe({types: ['STATE_CHANGE']}, (e) => {
    if (e.type !== 'STATE_CHANGE' || e.view !== 'cfg' || target === undefined) return;
    const v = store.get(n.id);
    const got = (v?.cfg.extensions.probe as {echo?: unknown} | undefined)?.echo;
    if (got === target && waiting > 0) {
      arrivals.push(performance.timeOrigin + performance.now());
      if (--waiting === 0) send({arrived: {count: arrivals.length, last: Math.max(...arrivals), first: Math.min(...arrivals)}});
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
    waiting = stores.filter((s, i) => (s.get(spec.nodes[i]!.id)?.cfg.extensions.probe as {echo?: unknown} | undefined)?.echo !== target).length;
    send({expecting: waiting});
  } else if (m.op === 'synced') {
    send({synced: engines.filter((e) => e.status().parent?.state === 'synced').length});
  } else if (m.op === 'stop') {
    void Promise.all(engines.map((e) => e.stop())).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
send({ready: engines.length});
