/**
 * A process hosting one or more REAL daemons (startDaemon: store, engine, modules, API) with the sync
 * engine wired in as the daemon will wire it (see docs/sync-protocol.md, "Integration"), controlled by
 * the test over IPC. Usage: node --import tsx daemon-host.ts '<json spec>'.
 *
 * Spec: {daemons: [{stateDir, id, parent?, joinSecret?, sync?, nodename?}], watch?: string[]}
 * Messages to the test: {ready: [{id, api, sync}]}, {event: 'cfg', daemon, node, url, value, t}, replies {re, ...}.
 */
import {pino} from 'pino';
import {startDaemon, type Daemon} from '../../../src/daemon/daemon.js';
import {parseDaemonConfig} from '../../../src/daemon/config.js';
import {SyncEngine, createSyncModule, parseSyncConfig, renderPrometheus} from '../../../src/sync/index.js';
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
    stateDir: d.stateDir, listen: d.listen ?? '127.0.0.1:0', id: d.id, logLevel: 'warn', freeze: Boolean(d.parent),
    ...(d.parent ? {parent: d.parent} : {}), ...(d.nodename ? {nodename: d.nodename} : {}),
  });
  const syncConfig = parseSyncConfig(d.sync ?? {});
  const logger = pino({level: process.env.LC_SYNC_TEST_LOG ?? 'warn', base: {daemon: d.nodename ?? d.id.slice(0, 8)}});
  const daemon = await startDaemon({config, modules: [createSyncModule({initToSyncTimeout: syncConfig.initToSyncTimeout}), worldModule], logger});
  const sync = new SyncEngine({
    store: daemon.store, registry: daemon.registry, selfId: daemon.selfId, config: d.sync ?? {}, logger,
    ...(d.parent ? {parent: d.parent} : {}), ...(d.joinSecret ? {joinSecret: d.joinSecret} : {}), engine: daemon.engine,
  });
  await sync.start();
  daemon.metrics.addCollector(() => renderPrometheus(sync.collect()));
  for (const url of spec.watch ?? []) {
    daemon.store.events.subscribe({types: ['STATE_CHANGE'], urls: [url]}, (e) => {
      if (e.type === 'STATE_CHANGE' && e.view === 'cfg') send({event: 'cfg', daemon: index, node: e.nodeId, url: e.url, value: e.value, t: performance.timeOrigin + performance.now()});
    });
  }
  hosted[index] = {daemon, sync};
}

async function handle(m: {re: number; op: string; daemon?: number; [k: string]: unknown}): Promise<unknown> {
  const h = hosted[m.daemon ?? 0]!;
  switch (m.op) {
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
      return {dropped: Object.fromEntries(h.sync.counters.dropped), ignored: Object.fromEntries(h.sync.counters.ignored), retransmits: h.sync.counters.retransmits};
    case 'why':
      return h.daemon.engine.why(m.node as string);
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

async function stopAll(): Promise<void> {
  for (const h of hosted) {
    if (!h) continue;
    await h.sync.stop();
    await h.daemon.stop();
  }
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
  send({ready: hosted.map((h) => ({id: h.daemon.selfId, api: h.daemon.listenAddress, sync: `${h.sync.address().address}:${h.sync.address().port}`}))});
} catch (error) {
  send({failed: (error as Error).stack ?? String(error)});
  process.exit(1);
}
