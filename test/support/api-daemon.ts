/**
 * An ApiDaemon built from the real registry, store and engine over a temp dir, with a test module whose
 * handler "performs" every mutation at once by discovering its `to` values (so nodes converge), and a
 * `bmc` extension with a secret. No sockets: the API tests use fastify's inject.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {z} from 'zod';
import type {ApiDaemon} from '../../src/api/server/daemon-port.js';
import {Metrics} from '../../src/daemon/metrics.js';
import {Engine} from '../../src/engine/engine.js';
import {Registry} from '../../src/model/registry.js';
import type {ModuleSpec} from '../../src/model/contract.js';
import {Store} from '../../src/store/store.js';

export const SELF = '00000000-0000-4000-8000-000000000001';
export const TOKEN = 'test-token-0123456789abcdef';

export const testModule: ModuleSpec = {
  name: 'power',
  description: 'test power and boot',
  extensions: [{
    name: 'bmc',
    schema: z.object({address: z.string().default(''), password: z.string().default(''), mode: z.enum(['NONE', 'IPMI', 'REDFISH']).default('NONE')}),
    secrets: ['/password'],
  }],
  mutations: [
    {name: 'discover', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_OFF']}, failTo: {url: 'physState', value: 'PHYS_HANG'}},
    {name: 'on', mutates: {physState: ['POWER_OFF', 'POWER_ON']}, timeout: '5s', failTo: {url: 'physState', value: 'PHYS_HANG'}},
    {name: 'off', mutates: {physState: ['POWER_ON', 'POWER_OFF']}, timeout: '5s', failTo: {url: 'physState', value: 'PHYS_HANG'}},
    {name: 'boot', mutates: {runState: ['UNKNOWN', 'INIT']}, requires: {physState: 'POWER_ON'}},
    {name: 'sync', mutates: {runState: ['INIT', 'SYNC']}, requires: {physState: 'POWER_ON'}},
  ],
  start() {},
};

export interface TestDaemon extends ApiDaemon {
  dir: string;
  close(): void;
}

/**
 * `auto`: the handler completes every mutation at once (default); otherwise mutations stay running.
 * `fails`: nodes (by name) whose mutations fail at once (the handler throws), so the engine holds them.
 */
export function testDaemon(opts: {auto?: boolean; listen?: string; dir?: string; fails?: string[]} = {}): TestDaemon {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'lc-api-'));
  const registry = new Registry();
  registry.registerModule(testModule);
  const store = Store.open({dir, registry, defaultParentId: SELF});
  if (!store.get(SELF)) store.create([{id: SELF, nodename: 'head'}], 'test');
  const engine = new Engine({
    store, registry, selfId: SELF,
    dispatch: async (_module, request) => {
      if (opts.fails?.includes(request.cfg.nodename)) throw new Error(`${request.cfg.nodename}: the test BMC does not answer`);
      if (opts.auto === false) return;
      // Discover asynchronously, as a real module would after doing the work.
      setImmediate(() => {
        for (const [url, [, to]] of Object.entries(request.mutates)) {
          if (store.get(request.nodeId)) store.discover(request.nodeId, url, to, 'power');
        }
      });
    },
    interrupt: () => {},
    moduleRunning: () => true,
    retry: {max: 2, baseMs: 10, maxMs: 20},
  });
  engine.start();
  const modules = {list: () => [{name: 'power', state: 'RUN' as const, restarts: 0, startedAt: Date.now()}]};
  const metrics = new Metrics(store, engine, modules as never, SELF);
  return {
    dir, store, engine, registry, modules, metrics, selfId: SELF, token: TOKEN,
    listenAddress: opts.listen ?? '127.0.0.1:0',
    close() {
      engine.stop();
      store.close();
      if (!opts.dir) rmSync(dir, {recursive: true, force: true});
    },
  };
}

/** Poll `check` until it returns a value (not undefined/false) or `ms` pass. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000, label = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
