/**
 * A process hosting one or more REAL daemons (startDaemon: store, engine, modules, sync, API) with the
 * core `sync` module and the test world module, controlled by the test over IPC (several daemons per
 * process keep 50 children affordable on two cores). Usage: node --import tsx daemon-host.ts '<json spec>'.
 *
 * Spec: {daemons: [{stateDir, id, parent?, joinSecret?, sync?, nodename?}], watch?: string[]}
 * Messages to the test: {ready: [{id, api, sync}]}, {event: 'cfg', daemon, node, url, value, t}, replies {re, ...}.
 * The op `start` ({daemons: [...]}) starts more daemons in the process and replies with theirs.
 */
import {pino} from 'pino';
import {startDaemon, type Daemon} from '../../../src/daemon/daemon.js';
import {parseDaemonConfig} from '../../../src/daemon/config.js';
import {sync, type SyncEngine} from '../../../src/sync/index.js';
import {SYNC_TEST_TOKEN} from './hosts.js';
import {worldModule} from './world.js';

interface DaemonSpec {
  stateDir: string;
  id: string;
  parent?: string;
  joinSecret?: string;
  nodename?: string;
  sync?: Record<string, unknown>;
  listen?: string;
}

interface Spec {
  daemons: DaemonSpec[];
  watch?: string[];
}

const spec = JSON.parse(process.argv[2]!) as Spec;
const hosted: {daemon: Daemon; sync: SyncEngine}[] = [];
const send = (m: unknown) => process.send?.(m);

async function startOne(d: DaemonSpec, index: number): Promise<void> {
  const config = parseDaemonConfig({
    stateDir: d.stateDir, listen: d.listen ?? '127.0.0.1:0', api: {socket: 'none', token: SYNC_TEST_TOKEN}, id: d.id, logLevel: 'warn', sync: d.sync ?? {},
    ...(d.parent ? {parent: d.parent} : {}), ...(d.nodename ? {nodename: d.nodename} : {}),
  });
  const logger = pino({level: process.env.LC_SYNC_TEST_LOG || 'warn', base: {daemon: d.nodename ?? d.id.slice(0, 8)}});
  const daemon = await startDaemon({config, modules: [sync, worldModule], logger, ...(d.joinSecret ? {joinSecret: d.joinSecret} : {})});
  if (!daemon.sync) throw new Error('the daemon did not start state sync');
  for (const url of spec.watch ?? []) {
    daemon.store.events.subscribe({types: ['STATE_CHANGE'], urls: [url]}, (e) => {
      if (e.type === 'STATE_CHANGE' && e.view === 'cfg') send({event: 'cfg', daemon: index, node: e.nodeId, url: e.url, value: e.value, t: performance.timeOrigin + performance.now()});
    });
  }
  hosted[index] = {daemon, sync: daemon.sync};
}

const described = (h: {daemon: Daemon; sync: SyncEngine}) => ({id: h.daemon.selfId, api: h.daemon.listenAddress, sync: `${h.sync.address().address}:${h.sync.address().port}`});

async function handle(m: {re: number; op: string; daemon?: number; [k: string]: unknown}): Promise<unknown> {
  const h = hosted[m.daemon ?? 0]!;
  switch (m.op) {
    case 'start': {
      // More daemons in this process, for a later case (cheaper than another host process).
      const first = hosted.length;
      for (const [i, d] of (m.daemons as DaemonSpec[]).entries()) await startOne(d, first + i);
      return hosted.slice(first).map(described);
    }
    case 'view':
      return h.daemon.store.get(m.node as string) ?? null;
    case 'views':
      return h.daemon.store.list();
    case 'setCfg': {
      const t = performance.timeOrigin + performance.now();
      h.daemon.store.setCfg(m.node as string, m.url as string, m.value as never, 'test');
      return {t};
    }
    case 'apply':
      h.daemon.store.apply(m.inputs as unknown[], {source: 'test'});
      return {};
    case 'summary': {
      // dsc runState counts over this daemon's children (cheap for 10,000 nodes).
      const counts: Record<string, number> = {};
      for (const v of h.daemon.store.list()) if (v.cfg.parentId === h.daemon.selfId && v.cfg.id !== h.daemon.selfId) counts[v.dsc.runState] = (counts[v.dsc.runState] ?? 0) + 1;
      return counts;
    }
    case 'setAll': {
      // One cfg change for every child, in one durable write (bench/sync's fan-out).
      const inputs = h.daemon.store.list().filter((v) => v.cfg.parentId === h.daemon.selfId && v.cfg.id !== h.daemon.selfId)
        .map((v) => { const n: Record<string, unknown> = {id: v.cfg.id}; let cur = n; const segs = (m.url as string).slice(1).split('/'); segs.slice(0, -1).forEach((k) => { cur = (cur[k] = {}) as Record<string, unknown>; }); cur[segs.at(-1)!] = m.value; return n; });
      const t0 = performance.timeOrigin + performance.now();
      h.daemon.store.apply(inputs, {source: 'bench'});
      return {t0, committed: performance.timeOrigin + performance.now(), nodes: inputs.length};
    }
    case 'cpu':
      return {usage: process.cpuUsage(), t: performance.now(), sent: h.sync.counters.datagramsSent, received: h.sync.counters.datagramsReceived, retransmits: h.sync.counters.retransmits, rss: process.memoryUsage().rss,
        byType: {sent: Object.fromEntries(h.sync.counters.sent), received: Object.fromEntries(h.sync.counters.received)}, ignored: Object.fromEntries(h.sync.counters.ignored), dropped: Object.fromEntries(h.sync.counters.dropped)};
    case 'profile': {
      // A CPU profile of this process for `ms`, summarised by self time (bench/sync's diagnostics).
      const {Session} = await import('node:inspector/promises');
      const session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await new Promise((r) => setTimeout(r, m.ms as number));
      const {profile} = await session.post('Profiler.stop') as unknown as {profile: {nodes: {id: number; callFrame: {functionName: string; url: string; lineNumber: number}}[]; samples: number[]; timeDeltas: number[]}};
      session.disconnect();
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const self = new Map<string, number>();
      profile.samples.forEach((id, i) => {
        const cf = byId.get(id)!.callFrame;
        const key = `${cf.functionName || '(anon)'} ${cf.url.split('/').pop()}:${cf.lineNumber}`;
        self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
      });
      return [...self].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, us]) => `${(us / 1000).toFixed(1)} ms ${k}`);
    }
    case 'history':
      return h.daemon.store.history(m.node as string);
    case 'delete':
      h.daemon.store.delete(m.ids as string[], 'test');
      return {};
    case 'metrics':
      return h.daemon.metrics.render();
    case 'status':
      return h.sync.status();
    case 'counters':
      return {dropped: Object.fromEntries(h.sync.counters.dropped), ignored: Object.fromEntries(h.sync.counters.ignored), retransmits: h.sync.counters.retransmits, fragmentsResent: h.sync.counters.fragmentsResent};
    case 'why':
      return h.daemon.engine.why(m.node as string);
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

async function stopAll(): Promise<void> {
  for (const h of hosted) if (h) await h.daemon.stop();
}

process.on('message', (m: {re: number; op: string}) => {
  if (m.op === 'stop') {
    void stopAll().then(() => { send({re: m.re, ok: true}); process.exit(0); });
    return;
  }
  handle(m as never).then(
    (result) => send({re: m.re, ok: true, result}),
    (error: Error) => send({re: m.re, ok: false, error: error.message}),
  );
});
process.on('SIGTERM', () => { void stopAll().then(() => process.exit(0)); });
process.on('disconnect', () => { void stopAll().then(() => process.exit(0)); });

try {
  for (let i = 0; i < spec.daemons.length; i++) await startOne(spec.daemons[i]!, i);
  send({ready: hosted.map(described)});
} catch (error) {
  send({failed: (error as Error).stack ?? String(error)});
  process.exit(1);
}
