/** A service (real or simulated) with its HTTP server, and the imageset module in a real daemon against it. */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {JsonValue, LcEvent, ModuleSpec, Node} from '@layercake/sdk';
import {parseDaemonConfig} from '../../../../src/daemon/config.js';
import {startDaemon, type Daemon} from '../../../../src/daemon/daemon.js';
import type {Why} from '../../../../src/engine/engine.js';
import type {Image} from '../../src/module/extension.js';
import {imagesetModule} from '../../src/module/imageset.js';
import {ImageApiService, type ServiceOptions} from '../../src/service/service.js';
import {startServer, type RunningServer} from '../../src/service/server.js';
import {ImageApiClient} from '../../src/client.js';
import {waitFor} from './wait.js';

export interface ServiceHandle {
  service: ImageApiService;
  server: RunningServer;
  client: ImageApiClient;
  /** Stops serving (containers keep running) and starts again on the same port and state directory. */
  restart(): Promise<void>;
  close(purge?: boolean): Promise<void>;
}

export async function startService(options: ServiceOptions, listen = '127.0.0.1:0'): Promise<ServiceHandle> {
  const handle = {} as ServiceHandle;
  handle.service = await ImageApiService.open(options);
  handle.server = await startServer(handle.service, {listen});
  handle.client = new ImageApiClient({url: handle.server.url});
  handle.restart = async () => {
    const port = new URL(handle.server.url).port;
    await handle.server.close();
    await handle.service.close();
    handle.service = await ImageApiService.open(options);
    handle.server = await startServer(handle.service, {listen: `127.0.0.1:${port}`});
  };
  handle.close = async (purge = true) => {
    await handle.server.close();
    await handle.service.close({purge});
  };
  return handle;
}

export interface ModuleHandle {
  daemon: Daemon;
  /** The daemon's own node, which the module manages (its mutations are SELF's). */
  nodeId: string;
  images(): Record<string, Image>;
  state(): string;
  dsc(): Node;
  /** An operator's cfg write (undefined removes the value). */
  setCfg(url: string, value: JsonValue | undefined): void;
  /** The imageset steps the engine fired on the node, in order (a requeued step asked again is not a new one). */
  fired(): string[];
  why(): Why;
  waitState(state: string, timeoutMs?: number): Promise<void>;
  waitImage(name: string, check: (img: Image) => boolean, what: string, timeoutMs?: number): Promise<Image>;
  stop(): Promise<void>;
}

export const fastConfig = {pollInterval: 100, backoff: 30, maxRetries: 2, stableAfter: 60_000, requestTimeout: 20_000};

/**
 * The module in a real daemon (store, engine, module host; no API) for the daemon's own node, which is
 * synced and on, with `images` as cfg. The engine retries fast (10 ms doubling to 200 ms).
 */
export async function startModule(url: string, images: Record<string, unknown>, options: {goal?: string; config?: Record<string, unknown>} = {}): Promise<ModuleHandle> {
  const stateDir = mkdtempSync(join(tmpdir(), 'lc-imageset-daemon-'));
  const config = parseDaemonConfig({
    stateDir, listen: 'none', api: {socket: 'none'}, logLevel: 'silent', retry: {max: 5, base: '10ms', max_backoff: '200ms'},
    modules: {imageset: {url, ...fastConfig, ...options.config}},
  });
  const daemon = await startDaemon({config, modules: [imagesetModule as unknown as ModuleSpec]});
  const nodeId = daemon.selfId;
  const steps: string[] = [];
  daemon.store.events.subscribe({types: ['MUTATION'], nodes: [nodeId]}, (e: LcEvent) => {
    if (e.type === 'MUTATION' && e.kind === 'MUTATE' && e.module === 'imageset' && !e.reason) steps.push(e.mutation);
  });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= daemon.stop().then(() => rmSync(stateDir, {recursive: true, force: true})));
  try {
    daemon.store.update(nodeId, {extensions: {imageset: {state: options.goal ?? 'ACTIVE', images}}}, {merge: true, source: 'test'});
  } catch (error) {
    await stop();
    throw error;
  }
  const h: ModuleHandle = {
    daemon, nodeId,
    dsc: () => daemon.store.get(nodeId)!.dsc,
    images: () => (h.dsc().extensions.imageset?.images ?? {}) as Record<string, Image>,
    state: () => (h.dsc().extensions.imageset?.state as string | undefined) ?? 'UNKNOWN',
    setCfg: (u, value) => { daemon.store.setCfg(nodeId, u, value, 'test'); },
    fired: () => [...steps],
    why: () => daemon.engine.why(nodeId),
    waitState: async (state, timeoutMs = 15_000) => {
      await waitFor(`imageset.state ${state} (is ${h.state()}; steps ${steps.join(',')}; why: ${h.why().summary})`, () => h.state() === state, timeoutMs);
    },
    waitImage: (name, check, what, timeoutMs = 15_000) => waitFor(`image ${name}: ${what} (is ${JSON.stringify(h.images()[name] ?? null)})`, () => {
      const img = h.images()[name];
      return img && check(img) ? img : undefined;
    }, timeoutMs),
    stop,
  };
  return h;
}

export const imageSpec = (path: string, command: string[] | string, extra: Record<string, unknown> = {}) => ({
  source: {kind: 'file', path}, container: {command}, ...extra,
});
