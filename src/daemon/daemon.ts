/**
 * The composition root: store + engine + modules (+ sync) + API in one process.
 */
import {randomBytes, randomUUID} from 'node:crypto';
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {hostname} from 'node:os';
import {join, resolve} from 'node:path';
import {destination, pino, type Logger} from 'pino';
import {createApiServer} from '../api/server.js';
import {Engine} from '../engine/engine.js';
import {parseDuration} from '../model/duration.js';
import {NODENAME} from '../model/node.js';
import {Registry, type MutationOverride} from '../model/registry.js';
import type {ModuleSpec} from '../sdk/contract.js';
import {Store} from '../store/store.js';
import {SyncEngine} from '../sync/index.js';
import {type DaemonConfig, moduleSettings} from './config.js';
import {Metrics} from './metrics.js';
import {ModuleHost} from './module-host.js';

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
  /** The bearer token changing API calls need (unless the API listens on loopback only). */
  token: string;
  /** Where the API listens, as host:port (the real port when 0 was asked for). */
  listenAddress: string;
  stop(): Promise<void>;
}

/** Reads a small file of the state dir, or creates it (mode 0600) with the given value. */
function persistent(path: string, create: () => string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = create();
  writeFileSync(path, value + '\n', {mode: 0o600, flag: 'wx'});
  return value;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const {config} = options;
  const stateDir = resolve(config.stateDir);
  mkdirSync(stateDir, {recursive: true, mode: 0o700});
  const logger = options.logger ?? pino({level: config.logLevel}, destination(options.logTo === 'stderr' ? 2 : 1));
  const selfId = config.id ?? persistent(join(stateDir, 'id'), randomUUID);
  const token = config.api.token ?? persistent(join(stateDir, 'token'), () => randomBytes(24).toString('base64url'));

  const enabled = options.modules.map((spec) => ({spec, settings: moduleSettings(spec, config.modules[spec.name] as Record<string, unknown>)}))
    .filter((m) => !m.settings.disable);
  const unknown = Object.keys(config.modules).filter((name) => !options.modules.some((m) => m.name === name));
  if (unknown.length) logger.warn(`config has settings for modules that are not installed: ${unknown.join(', ')}`);
  const overrides: Record<string, Record<string, MutationOverride>> = Object.fromEntries(enabled.map((m) => [m.spec.name, m.settings.mutations]));
  const registry = new Registry(overrides);
  for (const {spec} of enabled) registry.registerModule(spec);

  const store = Store.open({dir: join(stateDir, 'store'), registry, defaultParentId: selfId});
  if (!config.parent) seedSelf(store, selfId, config.nodename);

  const modules = new ModuleHost({store, registry, selfId, stateDir, logger});
  for (const {spec, settings} of enabled) modules.add(spec, settings.config);
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
  let api: {address: string; close(): Promise<void>} | undefined;
  const daemon: Daemon = {
    config, selfId, stateDir, registry, store, engine, modules, metrics, sync: sync || undefined, logger, token, listenAddress: config.listen,
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
    if (config.listen !== 'none') api = await createApiServer(daemon);
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  daemon.listenAddress = api?.address ?? 'none';
  logger.info({id: selfId, listen: daemon.listenAddress, stateDir, modules: enabled.map((m) => m.spec.name)}, api ? `layercake daemon listening on http://${api.address}` : 'layercake agent running (no API)');
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
