/**
 * End to end through the REAL daemon (store, engine, module host, API) in the single-daemon case: the
 * imageset module runs in the daemon and manages the daemon's own node (SELF context, nodeId === selfId)
 * against an ImageAPI service with the real parts (root), or the simulated one where they are missing.
 * Converge, roll A → B through a cfg change, BUSY blocks the roll, a killed init is revived.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../../src/api/client.js';
import {parseDaemonConfig} from '../../../src/daemon/config.js';
import {startDaemon, type Daemon} from '../../../src/daemon/daemon.js';
import modulesHook from '../src/hooks/modules.js';
import type {Image} from '../src/module/extension.js';
import {INIT_MARKER, loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from './support/rootfs.js';
import {startService, type ServiceHandle} from './support/harness.js';
import {waitFor} from './support/wait.js';

const missing = realPartsMissing();
if (missing) console.log(`SKIP: the real parts (${missing}); this runs against the simulated ImageAPI service instead`);
const real = !missing;

const work = mkdtempSync(real ? '/tmp/lc-imageset-daemon-' : join(tmpdir(), 'lc-imageset-daemon-'));
const imageA = real ? makeImage(work, 'A') : '/img/A.sqfs';
const imageB = real ? makeImage(work, 'B') : '/img/B.sqfs';
let svc: ServiceHandle;
let daemon: Daemon;
let api: ApiClient;
let self: string;

test.before(async () => {
  svc = await startService({stateDir: join(work, 'imageapi'), simulate: !real, adoptPollMs: 20});
  const config = parseDaemonConfig({
    stateDir: join(work, 'daemon'), listen: '127.0.0.1:0', logLevel: 'silent', retry: {max: 5, base: '50ms', max_backoff: '200ms'},
    modules: {imageset: {url: svc.server.url, pollInterval: '100ms', backoff: '50ms', maxRetries: 2}},
  });
  daemon = await startDaemon({config, modules: await modulesHook()});
  api = new ApiClient({url: `http://${daemon.listenAddress}`});
  self = daemon.selfId;
});

test.after(async () => {
  await daemon?.stop();
  await svc?.close(true);
  if (real) assert.equal([...loopDevicesUnder(work), ...mountsUnder(work)], [], 'nothing left mounted or attached');
  rmSync(work, {recursive: true, force: true});
});

const dsc = async () => (await api.getNodeIn(self, 'dsc')).extensions.imageset as {state: string; images: Record<string, Image>} | undefined;
const waitSet = async (state: string, check: (images: Record<string, Image>) => boolean = () => true) => {
  await waitFor(`imageset ${state}`, async () => {
    const d = await dsc();
    return d?.state === state && check(d.images ?? {});
  }, 20_000);
};
const markerOf = async (name: string): Promise<string | undefined> => {
  const [c] = await svc.client.listContainers({name});
  if (!c || c.state !== 'running') return undefined;
  if (!real) return 'simulated';
  try {
    return readFileSync(join(c.mount.mountpoint, 'tmp/marker'), 'utf8').trim();
  } catch {
    return undefined;
  }
};

test('the plugin contributes the imageset module and its extension; the daemon runs it', async () => {
  assert.equal((await modulesHook()).map((m) => m.name), ['imageset']);
  assert.is((await api.modules()).find((m) => m.name === 'imageset')?.state, 'RUN');
  const ids = (await api.mutations()).map((m) => m.id).filter((id) => id.startsWith('imageset/')).sort();
  assert.equal(ids, ['ACTIVEtoIDLE', 'ERRORtoACTIVE', 'ERRORtoIDLE', 'IDLEtoACTIVE', 'SYNCtoINIT', 'UKtoIDLE', 'UPDATEtoACTIVE', 'UPDATEtoIDLE'].map((n) => `imageset/${n}`));
  assert.ok((await api.extensions()).some((e) => e.name === 'imageset'));
});

test('the daemon\'s own node converges to its image, and a cfg change rolls it without reboot', async () => {
  // Two writes: the engine (as of this writing) ignores a cfg event at /extensions/imageset (the whole
  // extension appearing) although it contains imageset.state; the second write is a leaf event it plans on.
  await api.updateNode(self, {extensions: {imageset: {images: {web1: {source: {kind: 'file', path: imageA}, container: {command: INIT_MARKER}}}}}});
  await api.setValues({nodes: [self], set: {'imageset.state': 'ACTIVE'}});
  await waitSet('ACTIVE', (i) => i.web1?.state === 'ACTIVE');
  const a = await waitFor('A running', () => markerOf('web1'));
  if (real) assert.is(a, 'A 1 web1');
  const [first] = await svc.client.listContainers();
  const started = Date.now();
  await api.setValues({nodes: [self], set: {'/extensions/imageset/images/web1/source/path': imageB}});
  await waitSet('ACTIVE', (i) => i.web1?.state === 'ACTIVE' && i.web1.source.path === imageB);
  const b = await waitFor('B running', () => markerOf('web1'));
  console.log(`  roll through the daemon: cfg change → new container running in ${Date.now() - started} ms`);
  if (real) {
    assert.is(b, 'B 1 web1');
    assert.equal(loopDevicesUnder(imageA), [], 'the old image is detached');
  }
  const now = await svc.client.listContainers();
  assert.is(now.length, 1);
  assert.is.not(now[0].id, first.id);
  const history = (await api.history(self)).entries.map((e) => e.mutation).filter(Boolean);
  assert.ok(history.includes('imageset/UPDATEtoACTIVE'), history.join(','));
});

test('BUSY blocks a roll; FREE lets it go', async () => {
  const before = (await svc.client.listContainers())[0];
  await api.setValues({nodes: [self], set: {busy: 'BUSY', '/extensions/imageset/images/web1/source/path': imageA}});
  await waitSet('UPDATE');
  const why = await api.why(self);
  assert.match(JSON.stringify(why), /BUSY/);
  assert.is((await svc.client.listContainers())[0].id, before.id, 'not rolled while BUSY');
  await api.setValues({nodes: [self], set: {busy: 'FREE'}});
  await waitSet('ACTIVE', (i) => i.web1?.source.path === imageA && i.web1.state === 'ACTIVE');
  assert.is.not((await svc.client.listContainers())[0].id, before.id);
});

test('a killed init: ERROR, retried, ACTIVE again', async () => {
  const [c] = await svc.client.listContainers({state: 'running'});
  process.kill(c.init_pid!, 'SIGKILL');
  await waitFor('ERROR seen', async () => (await dsc())?.images.web1.lastError.startsWith('DIED') || undefined, 10_000);
  await waitSet('ACTIVE', (i) => i.web1?.state === 'ACTIVE' && i.web1.retries === 1);
  assert.ok(await waitFor('running again', () => markerOf('web1')));
});

test('goal IDLE stops the image', async () => {
  await api.setValues({nodes: [self], set: {'imageset.state': 'IDLE'}});
  await waitSet('IDLE');
  assert.equal(await svc.client.listContainers(), []);
});

test.run();
