/**
 * The composition root: store + engine + modules (+ sync) + API in one process.
 */
import {randomBytes, randomUUID} from 'node:crypto';
import {hostname} from 'node:os';
import {join, resolve} from 'node:path';
import {destination, pino, type Logger} from 'pino';
import {defaultSocketPath, shareWithOperators} from '../api/local-socket.js';
import type {ApiLimits} from '../api/server/gate.js';
import {type ApiServer, createApiServer} from '../api/server/server.js';
import {Engine} from '../engine/engine.js';
import {parseDuration} from '../model/duration.js';
import {NODENAME} from '../model/node.js';
import {Registry, type MutationOverride} from '../model/registry.js';
import type {ModuleSpec} from '../model/contract.js';
import {makeDir} from '../store/journal.js';
import {Store} from '../store/store.js';
import {SyncEngine, withSyncEngine} from '../sync/index.js';
import {type DaemonConfig, moduleSettings} from './config.js';
import {Metrics} from './metrics.js';
import {ModuleHost} from './module-host.js';
import {ID_FILE, TOKEN_FILE, createStateFile, readStateFile} from './state-dir.js';

export interface DaemonOptions {
  /** The effective configuration (flags over file over defaults). */
  config: DaemonConfig;
  /** Every module the plugins contributed (the `layercake:modules` hook's results). */
  modules: ModuleSpec[];
  logger?: Logger;
  /** Where log lines go when no logger is given: stdout (default), or stderr for an embedder whose stdout is its output (the demo's --json). */
  logTo?: 'stdout' | 'stderr';
  /** A child's join secret (hex), when the embedder has it already (a simulated node reads it from its boot script). */
  joinSecret?: string;
}

export interface Daemon {
  config: DaemonConfig;
  selfId: string;
  stateDir: string;
  registry: Registry;
  store: Store;
  engine: Engine;
  modules: ModuleHost;
  metrics: Metrics;
  /** State sync (present when the core `sync` module is installed). */
  sync?: SyncEngine;
  logger: Logger;
  /** The bearer token API calls over TCP need. */
  token: string;
  /** Where the API listens, as host:port (the real port when 0 was asked for), or 'none'. */
  listenAddress: string;
  /** The API's local Unix socket, when it listens on one. */
  socketPath?: string;
  /** The API's limits from the config (api.bodyLimit, maxNodeBytes, maxFieldBytes, allowedHosts). */
  apiLimits: Partial<ApiLimits>;
  stop(): Promise<void>;
}

/**
 * The API token, readable by the daemon's user and the operators' group only: the token file 0640 and
 * the state dir 0710 (the group may reach the token, never list or read the store), both given to group
 * `layercake` when it exists.
 */
function shareToken(stateDir: string, logger: Logger): void {
  for (const [file, mode] of [[stateDir, 0o710], [join(stateDir, TOKEN_FILE.name), 0o640]] as const) {
    const warning = shareWithOperators(file, mode);
    if (warning) logger.warn(warning);
  }
}

/** The socket the API listens on: `api.socket`, else the default (none for an agent that serves no API). */
function socketOf(config: DaemonConfig): string | undefined {
  const socket = config.api.socket ?? (config.listen === 'none' ? 'none' : defaultSocketPath());
  return socket === 'none' ? undefined : socket && resolve(socket);
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const {config} = options;
  const stateDir = resolve(config.stateDir);
  makeDir(stateDir);
  const logger = options.logger ?? pino({level: config.logLevel}, destination(options.logTo === 'stderr' ? 2 : 1));
  // Every state file is checked before anything is created: a damaged one fails the start with nothing changed.
  const idRead = config.id ?? readStateFile(stateDir, ID_FILE);
  const tokenRead = config.api.token ?? readStateFile(stateDir, TOKEN_FILE);
  const selfId = idRead ?? createStateFile(stateDir, ID_FILE, randomUUID());
  const token = tokenRead ?? createStateFile(stateDir, TOKEN_FILE, randomBytes(24).toString('base64url'));
  if (!config.api.token) shareToken(stateDir, logger);

  const enabled = options.modules.map((spec) => ({spec, settings: moduleSettings(spec, config.modules[spec.name] as Record<string, unknown>)}))
    .filter((m) => !m.settings.disable);
  const unknown = Object.keys(config.modules).filter((name) => !options.modules.some((m) => m.name === name));
  if (unknown.length) logger.warn(`config has settings for modules that are not installed: ${unknown.join(', ')}`);
  const overrides: Record<string, Record<string, MutationOverride>> = Object.fromEntries(enabled.map((m) => [m.spec.name, m.settings.mutations]));
  const registry = new Registry(overrides);
  for (const {spec} of enabled) registry.registerModule(spec);

  const store = Store.open({dir: join(stateDir, 'store'), registry, defaultParentId: selfId, warn: (message) => logger.warn(message)});
  if (!config.parent) seedSelf(store, selfId, config.nodename);

  const modules = new ModuleHost({store, registry, selfId, stateDir, logger});
  const engine = new Engine({
    store, registry, selfId,
    dispatch: modules.dispatch, interrupt: modules.interrupt, moduleRunning: modules.isRunning, needModule: modules.need,
    retry: {max: config.retry.max, baseMs: parseDuration(config.retry.base), maxMs: parseDuration(config.retry.max_backoff)},
    maxConcurrent: Object.fromEntries(enabled.filter((m) => m.settings.maxConcurrent).map((m) => [m.spec.name, m.settings.maxConcurrent!])),
    frozen: config.freeze || Boolean(config.parent), // a child thaws once its parent's state has arrived
  });
  modules.attach(engine);
  const metrics = new Metrics(store, engine, modules, selfId);
  store.events.subscribe({types: ['LOG']}, (e) => e.type === 'LOG' && logger[e.level === 'debug' ? 'debug' : e.level]({node: e.nodeId, module: e.module}, e.message));

  const sync = registry.module('sync') && new SyncEngine({
    store, registry, selfId, engine, logger, parent: config.parent, joinSecret: options.joinSecret,
    config: {listen: defaultSyncListen(config.listen), ...config.sync},
  });
  // The core module sync is handed this daemon's SyncEngine, which knows the children in session.
  for (const {spec, settings} of enabled) modules.add(sync && spec.name === 'sync' ? withSyncEngine(spec, sync) : spec, settings.config);
  let api: ApiServer | undefined;
  const daemon: Daemon = {
    config, selfId, stateDir, registry, store, engine, modules, metrics, sync: sync || undefined, logger, token, listenAddress: config.listen, socketPath: socketOf(config),
    apiLimits: Object.fromEntries(Object.entries(config.api).filter(([k, v]) => k !== 'token' && k !== 'socket' && v !== undefined)),
    async stop() {
      await api?.close();
      if (sync) await sync.stop();
      engine.stop();
      await modules.stopAll();
      store.close();
    },
  };
  engine.start();
  await modules.startAll(Boolean(config.parent)); // a child runs a module only when its mutations must fire here
  try {
    if (sync) {
      await sync.start();
      metrics.addCollector(() => sync.collect());
    }
    if (config.listen !== 'none' || daemon.socketPath) api = await createApiServer(daemon);
    if (api?.socketWarning) logger.warn(api.socketWarning);
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  daemon.listenAddress = api?.address ?? 'none';
  logger.info({id: selfId, listen: daemon.listenAddress, socket: daemon.socketPath, stateDir, modules: enabled.map((m) => m.spec.name)},
    api ? `layercake daemon listening on ${[api.address !== 'none' && `http://${api.address}`, api.socket && `unix:${api.socket}`].filter(Boolean).join(' and ')}` : 'layercake agent running (no API)');
  return daemon;
}

/** Sync listens on the API's host at port 31415, or at any free port when the API's port is 0 (tests, embedding). */
function defaultSyncListen(listen: string): string {
  if (listen === 'none') return '0.0.0.0:31415';
  const at = listen.lastIndexOf(':');
  return `${listen.slice(0, at)}:${listen.slice(at + 1) === '0' ? 0 : 31415}`;
}

/** The daemon's own node: it is on and running, by definition. */
function seedSelf(store: Store, selfId: string, nodename?: string): void {
  const name = nodename ?? hostname().split('.')[0];
  if (!store.get(selfId)) store.apply([{id: selfId, nodename: NODENAME.test(name) && !store.byName(name) ? name : '', physState: 'POWER_ON', runState: 'SYNC'}], {source: 'daemon'});
  store.discover(selfId, 'physState', 'POWER_ON', 'daemon');
  store.discover(selfId, 'runState', 'SYNC', 'daemon');
}
