/**
 * The imageset module driving the REAL ImageAPI service (root): squashfs images of busybox on loop
 * devices under tmpfs overlays, for the daemon's own node (SELF context) on the real engine of an in-process daemon.
 * Roll A → B without reboot, death → ERROR → retry → ACTIVE, an always-dying image → FATAL with the
 * reason, the service restarted in the middle; nothing left mounted or attached after each test.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import {test as uvuTest} from 'uvu';
import * as assert from 'uvu/assert';
import {INIT_DIES, INIT_MARKER, loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from './support/rootfs.js';
import {imageSpec, startModule, startService, type ModuleHandle, type ServiceHandle} from './support/harness.js';
import {waitFor} from './support/wait.js';
import {runnableOr} from '../../../test/support/skip.js';

const missing = realPartsMissing();
const test = runnableOr(uvuTest, missing && `imageset module with real parts: ${missing}`);

const work = missing ? '' : mkdtempSync('/tmp/lc-imageset-real-');
const imageA = missing ? '' : makeImage(work, 'A');
const imageB = missing ? '' : makeImage(work, 'B');
let n = 0;
const cleanups: (() => Promise<void> | void)[] = [];

async function setup(images: Record<string, unknown>): Promise<{svc: ServiceHandle; mod: ModuleHandle}> {
  const svc = await startService({stateDir: join(work, `state${++n}`), adoptPollMs: 20});
  cleanups.push(() => svc.close(true));
  const mod = await startModule(svc.server.url, images);
  cleanups.push(() => mod.stop());
  return {svc, mod};
}

test.after.each(async () => {
  while (cleanups.length) await cleanups.pop()!();
  assert.equal([...loopDevicesUnder(work), ...mountsUnder(work)], [], 'nothing left mounted or attached');
});
test.after(() => rmSync(work, {recursive: true, force: true}));

const markerIn = async (svc: ServiceHandle, name: string) => {
  const [c] = await svc.client.listContainers({name});
  if (!c || c.state !== 'running') return undefined;
  try {
    return {marker: readFileSync(join(c.mount.mountpoint, 'tmp/marker'), 'utf8').trim(), container: c};
  } catch {
    return undefined;
  }
};

test('converge, roll A → B without reboot, survive a killed init and a service restart', async () => {
  const {svc, mod} = await setup({web1: imageSpec(imageA, INIT_MARKER)});
  await mod.waitState('ACTIVE');
  const a = await waitFor('A running', () => markerIn(svc, 'web1'));
  assert.is(a.marker, 'A 1 web1', 'the init is PID 1 of its namespace, with its own host name');
  assert.equal(mod.fired(), ['UKtoIDLE', 'IDLEtoACTIVE']);

  // Roll: point the image at B. The old container is stopped and deleted, its image detached; B runs.
  mod.setCfg('/extensions/imageset/images/web1/source/path', imageB);
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE' && i.source.path === imageB, 'rolled to B');
  await mod.waitState('ACTIVE');
  const b = await waitFor('B running', () => markerIn(svc, 'web1'));
  assert.is(b.marker, 'B 1 web1');
  assert.is.not(b.container.id, a.container.id);
  assert.not.ok(alive(a.container.init_pid!), 'the old init is gone');
  await waitFor('image A detached (released right after the replace answered)', () => loopDevicesUnder(imageA).length === 0);
  assert.is((await svc.client.listContainers()).length, 1);
  assert.ok(mod.fired().includes('UPDATEtoACTIVE'));

  // Kill the container's init: ERROR (DIED) → ERRORtoACTIVE after the backoff → ACTIVE.
  process.kill(b.container.init_pid!, 'SIGKILL');
  await mod.waitImage('web1', (i) => i.state === 'ERROR', 'ERROR');
  assert.match(mod.images().web1.lastError, /^DIED: /);
  await mod.waitState('ACTIVE');
  const revived = await waitFor('B running again', () => markerIn(svc, 'web1'));
  assert.is(revived.marker, 'B 1 web1');
  assert.is(mod.images().web1.retries, 1);
  assert.ok(mod.fired().includes('ERRORtoACTIVE'));

  // The service restarts in the middle: it finds the container; the module carries on (and still sees deaths).
  await svc.restart();
  const [found] = await svc.client.listContainers();
  assert.is(found.id, revived.container.id);
  assert.is(found.init_pid, revived.container.init_pid);
  assert.is(found.state, 'running');
  mod.setCfg('/extensions/imageset/images/web1/source/path', imageA);
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE' && i.source.path === imageA, 'rolled back to A after the restart');
  const back = await waitFor('A running', () => markerIn(svc, 'web1'));
  assert.is(back.marker, 'A 1 web1');
  await waitFor('image B detached', () => loopDevicesUnder(imageB).length === 0);
});

test('an image whose init always dies ends FATAL with the reason; the other image keeps running', async () => {
  const {svc, mod} = await setup({good: imageSpec(imageA, INIT_MARKER), bad: imageSpec(imageB, INIT_DIES)});
  await mod.waitState('FATAL', 20_000);
  const bad = mod.images().bad;
  assert.is(bad.state, 'FATAL');
  assert.match(bad.lastError, /^MAX_ATTEMPTS: image bad gave up after 3 attempts \(maxRetries 2\); last error: (DIED|INIT_FAIL): the init exited with status 7/);
  assert.match(mod.why().lastFailure!.reason, /^image bad gave up after 3 attempts/);
  assert.match(mod.why().held!.reason, /^imageset\/ERRORtoACTIVE failed for good/);
  assert.is(mod.images().good.state, 'ACTIVE');
  const good = await waitFor('good running', () => markerIn(svc, 'good'));
  assert.is(good.marker, 'A 1 good');
});

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

test.run();
