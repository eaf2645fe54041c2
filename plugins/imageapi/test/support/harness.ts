/** A service (real or simulated) with its HTTP server, and the imageset module on a fake context against it. */
import type {Image} from '../../src/module/extension.js';
import {imagesetModule} from '../../src/module/imageset.js';
import {ImageApiService, type ServiceOptions} from '../../src/service/service.js';
import {startServer, type RunningServer} from '../../src/service/server.js';
import {ImageApiClient} from '../../src/client.js';
import {fakeContext, type FakeEngine} from './fake-context.js';
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
  engine: FakeEngine;
  nodeId: string;
  images(): Record<string, Image>;
  state(): string;
  waitState(state: string, timeoutMs?: number): Promise<void>;
  waitImage(name: string, check: (img: Image) => boolean, what: string, timeoutMs?: number): Promise<Image>;
  stop(): void;
}

export const fastConfig = {pollInterval: 100, backoff: 30, maxRetries: 2, stableAfter: 60_000, requestTimeout: 20_000};

/** The module on a fake context for the daemon's own node, which is synced and on, with `images` as cfg. */
export async function startModule(url: string, images: Record<string, unknown>, options: {goal?: string; config?: Record<string, unknown>; timeoutScale?: number} = {}): Promise<ModuleHandle> {
  const engine = fakeContext({module: imagesetModule as never, config: {url, ...fastConfig, ...options.config}, timeoutScale: options.timeoutScale ?? 1, failureBackoffMs: 10});
  await engine.start();
  let nodeId: string;
  try {
    nodeId = engine.addNode(
      {nodename: 'n1', physState: 'POWER_ON', runState: 'SYNC', extensions: {imageset: {state: options.goal ?? 'ACTIVE', images}}},
      {physState: 'POWER_ON', runState: 'SYNC'},
    );
  } catch (error) {
    engine.stop();
    throw error;
  }
  const h: ModuleHandle = {
    engine, nodeId,
    images: () => (engine.get(nodeId).dsc.extensions.imageset?.images ?? {}) as Record<string, Image>,
    state: () => (engine.get(nodeId).dsc.extensions.imageset?.state as string | undefined) ?? 'UNKNOWN',
    waitState: async (state, timeoutMs = 15_000) => {
      await waitFor(`imageset.state ${state} (is ${h.state()}; steps ${engine.fired(nodeId).join(',')}; why ${engine.why.get(nodeId) ?? '-'})`, () => h.state() === state, timeoutMs);
    },
    waitImage: (name, check, what, timeoutMs = 15_000) => waitFor(`image ${name}: ${what} (is ${JSON.stringify(h.images()[name] ?? null)})`, () => {
      const img = h.images()[name];
      return img && check(img) ? img : undefined;
    }, timeoutMs),
    stop: () => engine.stop(),
  };
  return h;
}

export const imageSpec = (path: string, command: string[] | string, extra: Record<string, unknown> = {}) => ({
  source: {kind: 'file', path}, container: {command}, ...extra,
});
