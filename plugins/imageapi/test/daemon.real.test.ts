/**
 * End to end through the REAL daemon (store, engine, module host, API) in the single-daemon case: the
 * imageset module runs in the daemon and manages the daemon's own node (SELF context, nodeId === selfId)
 * against an ImageAPI service with the real parts (root), or the simulated one where they are missing.
 * Converge, roll A → B through a cfg change, BUSY blocks the roll, a killed init is revived.
 */
import {execFile, spawn} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '@layercake/sdk/cli';
import {parseDaemonConfig, startDaemon, type Daemon} from '@layercake/sdk/embed';
import modulesHook from '../src/hooks/modules.js';
import type {Image} from '../src/module/extension.js';
import {INIT_MARKER, loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from './support/rootfs.js';
import {startService, type ServiceHandle} from './support/harness.js';
import {requireBuild} from '../../../test/support/cli.js';
import {waitFor} from './support/wait.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Runs the layercake CLI (from the build) with --json. */
function cli(args: string[]): Promise<{code: number; json: any; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args, '--json'], {cwd: ROOT, env: {...process.env, LAYERCAKE_TOKEN: daemon.token, NO_COLOR: '1'}, timeout: 60_000}, (error, stdout, stderr) => {
      let json: any;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, json, stdout, stderr});
    });
  });
}

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
  requireBuild('plugins/imageapi/dist/commands/image/roll.js');
  svc = await startService({stateDir: join(work, 'imageapi'), simulate: !real, adoptPollMs: 20});
  const config = parseDaemonConfig({
    stateDir: join(work, 'daemon'), listen: '127.0.0.1:0', api: {socket: 'none'}, logLevel: 'silent', retry: {max: 5, base: '50ms', max_backoff: '200ms'},
    modules: {imageset: {url: svc.server.url, pollInterval: '100ms', backoff: '50ms', maxRetries: 2}},
  });
  daemon = await startDaemon({config, modules: await modulesHook()});
  api = new ApiClient({url: `http://${daemon.listenAddress}`, token: daemon.token});
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

test('the plugin contributes the imageset module and its extension (and the staged roll\'s record); the daemon runs it', async () => {
  assert.equal((await modulesHook()).map((m) => m.name), ['imageset', 'roll']);
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
    await waitFor('the old image detached (released right after the replace answered)', () => loopDevicesUnder(imageA).length === 0);
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

test('the CLI: layercake image roll --wait, then image status', async () => {
  const url = `http://${daemon.listenAddress}`;
  const roll = await cli(['image', 'roll', self, '--image', `web1=${imageB}`, '--wait', '--timeout', '60s', '--url', url]);
  assert.is(roll.code, 0, roll.stderr + roll.stdout);
  assert.is(roll.json.wait.converged, 1);
  assert.ok(roll.json.changes.some((c: {url: string}) => c.url === '/extensions/imageset/images/web1/source/path'));
  if (real) assert.is(await waitFor('B running', () => markerOf('web1')), 'B 1 web1');
  const list = await cli(['image', 'status', self, '--url', url]);
  assert.is(list.code, 0, list.stderr);
  const [row] = list.json.images;
  assert.is(row.image, 'web1');
  assert.is(row.state, 'ACTIVE');
  assert.is(row.set, 'ACTIVE');
  assert.is(row.container, 'running');
  assert.is(row.pending, false);
  assert.is(row.source, `file ${imageB}`);
  const bad = await cli(['image', 'roll', self, '--image', 'web1=relative.sqfs', '--url', url]);
  assert.is(bad.code, 2);
  assert.match(bad.json.error.message, /neither an absolute path, a catalogue NAME:VERSION nor a JSON object/);
});

test('the CLI: layercake imageapi serve --simulate serves the API and its OpenAPI description, and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'imageapi', 'serve', '--simulate', '--listen', '127.0.0.1:0', '--state-dir', join(work, 'serve'), '--purge-on-exit'], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']});
  try {
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const base = await waitFor('the listening line', () => /listening on (http:\/\/[^\s/]+)/.exec(out)?.[1], 20_000);
    const doc = await (await fetch(`${base}/openapi.json`)).json() as {paths: Record<string, unknown>};
    assert.ok(doc.paths['/container']);
    const info = await (await fetch(`${base}/imageapi/v1/info`)).json() as {simulate: boolean};
    assert.is(info.simulate, true);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    assert.is(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('goal IDLE stops the image', async () => {
  await api.setValues({nodes: [self], set: {'imageset.state': 'IDLE'}});
  await waitSet('IDLE');
  assert.equal(await svc.client.listContainers(), []);
});

test.run();
