/**
 * The ImageAPI service with the REAL Linux parts (root): a busybox root file system packed into a
 * squashfs, attached over a loop device, mounted under a tmpfs overlay, run as a container in its own
 * mount, PID, IPC and UTS namespaces. Every test ends with nothing of it mounted or attached.
 */
import {mkdtempSync, readFileSync, readlinkSync, rmSync} from 'node:fs';
import {hostname} from 'node:os';
import {join} from 'node:path';
import {test as uvuTest} from 'uvu';
import * as assert from 'uvu/assert';
import {ImageApiError} from '../src/client.js';
import {INIT_DIES, INIT_MARKER, loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from './support/rootfs.js';
import {startService, type ServiceHandle} from './support/harness.js';
import {LinuxPlatform} from '../src/service/linux.js';
import {waitFor} from './support/wait.js';
import {runnableOr} from '../../../test/support/skip.js';

const missing = realPartsMissing();
const test = runnableOr(uvuTest, missing && `real ImageAPI tests: ${missing}`);

const work = missing ? '' : mkdtempSync('/tmp/lc-imageapi-real-');
const imageA = missing ? '' : makeImage(work, 'A');
const imageB = missing ? '' : makeImage(work, 'B');
let svc: ServiceHandle | undefined;
let n = 0;

const overlayOf = (path: string) => ({kind: 'overlay' as const, overlay: {lower: [{kind: 'attach' as const, attach: {fs_type: 'squashfs', attach: {kind: 'loopback' as const, loopback: {path}}}}]}});
const markerOf = (mountpoint: string) => {
  try {
    return readFileSync(join(mountpoint, 'tmp/marker'), 'utf8').trim();
  } catch {
    return undefined;
  }
};
const nsOf = (pid: number | string, ns: string) => readlinkSync(`/proc/${pid}/ns/${ns}`);
const leftovers = () => [...loopDevicesUnder(work), ...mountsUnder(work)];

async function expectError(promise: Promise<unknown>, status: number, field?: string, message?: RegExp): Promise<ImageApiError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ImageApiError);
    const e = error as ImageApiError;
    assert.is(e.status, status, `status (${e.message})`);
    if (field !== undefined) assert.is(e.field, field, `field (${e.message})`);
    if (message) assert.match(e.message, message);
    return e;
  }
  throw new Error(`expected HTTP ${status}, got success`);
}

test.before.each(async () => {
  svc = await startService({stateDir: join(work, `state${++n}`), adoptPollMs: 20});
});

test.after.each(async () => {
  await svc?.close(true);
  svc = undefined;
  assert.equal(leftovers(), [], 'nothing of the test left mounted or attached');
});

test.after(() => rmSync(work, {recursive: true, force: true}));

test('a container from a squashfs on a loop device under a tmpfs overlay, in its own namespaces', async () => {
  const {client} = svc!;
  const {created, container} = await client.createContainer({name: 'web1', command: INIT_MARKER, state: 'running', mount: overlayOf(imageA)});
  assert.ok(created);
  assert.is(container.state, 'running');
  const marker = await waitFor('the marker', () => markerOf(container.mount.mountpoint));
  // The init wrote "<image> <its pid> <its hostname>": it is PID 1, and the host name is its own.
  assert.is(marker, 'A 1 web1');
  const init = container.init_pid!;
  assert.match(readFileSync(`/proc/${init}/status`, 'utf8'), /NSpid:\s+\d+\s+1\n/);
  for (const ns of ['mnt', 'pid', 'uts', 'ipc']) assert.is.not(nsOf(init, ns), nsOf('self', ns), `${ns} namespace`);
  assert.is(nsOf(init, 'net'), nsOf('self', 'net'), 'the network is Layer0\'s');
  assert.is.not(hostname(), 'web1');
  // The nested objects: an overlay on an attach mount of a loop device bound to the image, read-only.
  const lower = container.mount.overlay!.lower as {kind: string; mountpoint: string; attach: {attach: {device_file: string; loopback: {read_only: boolean}}}}[];
  const device = lower[0].attach.attach.device_file;
  assert.match(device, /^\/dev\/loop\d+$/);
  assert.ok(lower[0].attach.attach.loopback.read_only);
  assert.equal(loopDevicesUnder(work), [`${device} (${imageA})`]);
  const mounts = mountsUnder(join(work, `state${n}`, 'mounts'));
  assert.ok(mounts.includes(container.mount.mountpoint) && mounts.includes(lower[0].mountpoint) && mounts.includes(`${container.mount.mountpoint}.upper`));
  // The container's own /proc, /dev and /sys are in its mount namespace only.
  assert.not.ok(mounts.includes(join(container.mount.mountpoint, 'proc')));
  const inside = readFileSync(`/proc/${init}/mountinfo`, 'utf8');
  assert.match(inside, / \/dev\/pts /);
  // Stop, start again, delete.
  const stopped = await client.setContainerState({name: 'web1', state: 'exited'});
  assert.is(stopped.state, 'exited');
  assert.ok(stopped.exit);
  assert.not.ok(processExists(init), 'the init is gone once the stop returns');
  const restarted = await client.setContainerState({name: 'web1', state: 'running'});
  assert.is(restarted.state, 'running');
  assert.is.not(restarted.init_pid, init);
  await expectError(client.deleteContainer({name: 'web1'}), 409, undefined, /running/);
  const deleted = await client.deleteContainer({name: 'web1', force: true});
  assert.is(deleted.name, 'web1');
  assert.equal(await client.listContainers(), []);
  assert.equal(await client.listMount(), []);
  assert.equal(await client.listAttach(), []);
  assert.equal(leftovers().filter((l) => !l.endsWith('/mounts')), []);
});

function alive(pid: number): boolean {
  return processExists(pid);
}

function processExists(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

test('nested objects are shared by spec and reference counted; a roll frees the old image at once', async () => {
  const {client} = svc!;
  const one = (await client.createContainer({name: 'one', command: INIT_MARKER, state: 'running', mount: overlayOf(imageA)})).container;
  const two = (await client.createContainer({name: 'two', command: INIT_MARKER, state: 'running', mount: overlayOf(imageA)})).container;
  const lower = (c: typeof one) => (c.mount.overlay!.lower as {id: number; mountpoint: string; attach: {attach: {id: number}}}[])[0];
  assert.is(lower(one).id, lower(two).id, 'one squashfs mount for both');
  assert.is(lower(one).attach.attach.id, lower(two).attach.attach.id, 'one loop device for both');
  assert.is.not(one.mount.id, two.mount.id, 'an overlay each');
  const [shared] = await client.listMount({kind: 'attach'});
  assert.is(shared.refs, 2);
  assert.equal(shared.users.sort(), [`mount:${one.mount.id}`, `mount:${two.mount.id}`].sort());
  await waitFor('both markers', () => markerOf(one.mount.mountpoint) && markerOf(two.mount.mountpoint));
  // Roll "two" to image B while "one" runs: A stays (one uses it), B is attached.
  await client.deleteContainer({name: 'two', force: true});
  assert.is((await client.listMount({kind: 'attach'}))[0].refs, 1);
  const two2 = (await client.createContainer({name: 'two', command: INIT_MARKER, state: 'running', mount: overlayOf(imageB)})).container;
  assert.is(await waitFor('B marker', () => markerOf(two2.mount.mountpoint)), 'B 1 two');
  // Roll "one" to B as well: A's loop device is freed at once although "two" (a namespace made while A
  // was mounted) still runs: containers are mount-propagation slaves of the shared mounts root.
  await client.deleteContainer({name: 'one', force: true});
  assert.equal(loopDevicesUnder(imageA), []);
  assert.not.ok(mountsUnder(work).includes(lower(one).mountpoint), 'A\'s squashfs mount is gone');
  const one2 = (await client.createContainer({name: 'one', command: INIT_MARKER, state: 'running', mount: overlayOf(imageB)})).container;
  assert.is(lower(one2).attach.attach.id, lower(two2).attach.attach.id);
  // A lookup does not take a reference (the original's GET leaked one).
  for (let i = 0; i < 3; i++) await client.listContainers({name: 'one'});
  assert.is((await client.listMount({id: lower(one2).id}))[0].refs, 2);
  await client.deleteContainer({name: 'one', force: true});
  await client.deleteContainer({name: 'two', force: true});
  assert.equal(await client.listAttach(), []);
  assert.equal(loopDevicesUnder(work), []);
});

test('replace: the new mount is prepared first, shared objects stay, the old container and what only it used go', async () => {
  const {client} = svc!;
  const spec = {name: 'r', command: INIT_MARKER, state: 'running' as const, mount: overlayOf(imageA)};
  const first = (await client.createContainer(spec)).container;
  await expectError(client.createContainer({...spec, command: [...INIT_MARKER, 'v2']}), 409, 'name', /replace=true/);
  const lowerOf = (c: typeof first) => (c.mount.overlay!.lower as {id: number; attach: {attach: {id: number; device_file: string}}}[])[0];
  // Only the init changes: the loop device and the squashfs mount are the same objects; the overlay is new.
  const second = (await client.createContainer({...spec, command: [...INIT_MARKER, 'v2']}, undefined, {replace: true})).container;
  assert.is.not(second.id, first.id);
  assert.is(lowerOf(second).id, lowerOf(first).id);
  assert.is(lowerOf(second).attach.attach.device_file, lowerOf(first).attach.attach.device_file);
  assert.is.not(second.mount.id, first.mount.id);
  assert.not.ok(alive(first.init_pid!), 'the old init is gone');
  assert.equal((await client.listContainers()).map((c) => c.id), [second.id]);
  await waitFor('the old overlay released', async () => (await client.listMount({kind: 'overlay'})).length === 1);
  // The image changes: A is detached once the new container (on B) runs.
  const third = (await client.createContainer({...spec, mount: overlayOf(imageB)}, undefined, {replace: true})).container;
  assert.is(await waitFor('B marker', () => markerOf(third.mount.mountpoint)), 'B 1 r');
  await waitFor('A detached', () => loopDevicesUnder(imageA).length === 0);
  // The same spec, running: nothing to do. Dead: replaced by a fresh one.
  assert.not.ok((await client.createContainer({...spec, mount: overlayOf(imageB)}, undefined, {replace: true})).created);
  process.kill(third.init_pid!, 'SIGKILL');
  await waitFor('dead', async () => (await client.listContainers({name: 'r'}))[0].state === 'dead');
  const fourth = await client.createContainer({...spec, mount: overlayOf(imageB)}, undefined, {replace: true});
  assert.ok(fourth.created);
  assert.is(fourth.container.state, 'running');
  await client.deleteContainer({name: 'r', force: true});
});

/** A real platform whose unmount of one target (named later, by `hold`) waits until `open()`. */
function gatedPlatform(): {platform: LinuxPlatform; hold(target: string): void; open(): void} {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  let held = '';
  class GatedPlatform extends LinuxPlatform {
    override async umount(target: string): Promise<void> {
      if (target === held) await opened;
      return super.umount(target);
    }
  }
  return {platform: new GatedPlatform(), hold: (target) => { held = target; }, open: () => open()};
}

test('replace answers once the new container runs; the old one\'s objects are released after, before any later change', async () => {
  await svc!.close(true);
  // A real platform whose unmount of the old overlay waits for the test: the replace must answer meanwhile.
  const gated = gatedPlatform();
  const gate = gated.open;
  svc = await startService({stateDir: join(work, `state${++n}`), adoptPollMs: 20, platform: gated.platform});
  const {client} = svc;
  const spec = {name: 'g', command: INIT_MARKER, state: 'running' as const, mount: overlayOf(imageA)};
  const first = (await client.createContainer(spec)).container;
  gated.hold(first.mount.mountpoint);
  const order: string[] = [];
  // Without the release after the answer, the replace would wait for the gate: it opens by itself after 10 s then, and the order shows it.
  const fallback = setTimeout(() => { order.push('gate opened'); gate(); }, 10_000);
  const second = (await client.createContainer({...spec, mount: overlayOf(imageB)}, undefined, {replace: true})).container;
  order.push('answered');
  clearTimeout(fallback);
  assert.equal(order, ['answered'], 'the replace answered while the old overlay\'s unmount waited');
  assert.is(second.state, 'running');
  assert.not.ok(alive(first.init_pid!), 'the old init was stopped before the new one started');
  assert.equal((await client.listContainers()).map((c) => c.id), [second.id]);
  assert.ok(mountsUnder(first.mount.mountpoint).length > 0, 'the old overlay is still mounted while its unmount waits');
  // A later change waits for the release (it is next under the lock), and close() would too.
  const later = client.createContainer({name: 'h', command: INIT_MARKER, state: 'created', mount: overlayOf(imageB)});
  gate();
  await later;
  assert.equal(mountsUnder(first.mount.mountpoint), [], 'the old overlay is gone once a later change went through');
  assert.equal(loopDevicesUnder(imageA), [], 'A detached');
  await client.deleteContainer({name: 'h', force: true});
  await client.deleteContainer({name: 'g', force: true});
});

test('a service that ended between a replace and its release: the next one releases what the replaced container used', async () => {
  await svc!.close(true);
  const gated = gatedPlatform();
  const gate = gated.open;
  const stateDir = join(work, `state${++n}`);
  svc = await startService({stateDir, adoptPollMs: 20, platform: gated.platform});
  const spec = {name: 'o', command: INIT_MARKER, state: 'running' as const, mount: overlayOf(imageA)};
  const first = (await svc.client.createContainer(spec)).container;
  gated.hold(first.mount.mountpoint);
  const second = (await svc.client.createContainer({...spec, mount: overlayOf(imageB)}, undefined, {replace: true})).container;
  // The first service is stuck before its release (as if it had ended there); a service on the same state starts.
  const next = await startService({stateDir, adoptPollMs: 20});
  try {
    assert.equal(mountsUnder(first.mount.mountpoint), [], 'the replaced container\'s overlay was released by the next service');
    assert.equal(loopDevicesUnder(imageA), [], 'and its image detached');
    assert.equal((await next.client.listContainers()).map((c) => [c.id, c.state]), [[second.id, 'running']]);
    assert.equal((await next.client.listMount({kind: 'overlay'})).map((m) => m.id), [second.mount.id]);
  } finally {
    await next.close(false);
    gate();
  }
});

test('creating what exists returns it; a different spec under the same name is 409; objects made through the API are pinned', async () => {
  const {client} = svc!;
  const spec = {name: 'same', command: INIT_MARKER, state: 'running' as const, mount: overlayOf(imageA)};
  const first = await client.createContainer(spec);
  const again = await client.createContainer(spec);
  assert.ok(first.created);
  assert.not.ok(again.created);
  assert.is(again.container.id, first.container.id);
  await expectError(client.createContainer({...spec, command: ['/bin/sleep', '5']}), 409, 'name');
  // A directly created attachment is the API's: shared by a container that refers to it by id, kept after.
  const att = await client.createAttach({kind: 'loopback', loopback: {path: imageB}});
  const att2 = await client.createAttach({kind: 'loopback', loopback: {path: imageB}});
  assert.ok(att.created);
  assert.not.ok(att2.created);
  assert.is(att2.attach.id, att.attach.id);
  const user = await client.createContainer({name: 'user', command: INIT_MARKER, state: 'running', mount: {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {fs_type: 'squashfs', attach: {id: att.attach.id}}}]}}});
  assert.is(await waitFor('marker', () => markerOf(user.container.mount.mountpoint)), 'B 1 user');
  await expectError(client.deleteAttach(att.attach.id), 409, undefined, /in use by mount/);
  await client.deleteContainer({name: 'user', force: true});
  assert.equal(loopDevicesUnder(imageB).length, 1, 'still pinned by the API');
  const released = await client.deleteAttach(att.attach.id);
  assert.is(released.refs, 0);
  assert.equal(loopDevicesUnder(imageB), []);
});

test('bad requests: 400 with the field at fault, nothing created', async () => {
  const {client} = svc!;
  const base = {name: 'bad', command: INIT_MARKER, state: 'running' as const, mount: overlayOf(imageA)};
  await expectError(client.createContainer({...base, command: '/bin/nope'}), 400, 'command', /does not exist in the image/);
  await expectError(client.createContainer({...base, command: 'nope'}), 400, 'command', /not found in the image's PATH/);
  await expectError(client.createContainer({...base, mount: overlayOf(join(work, 'missing.sqfs'))}), 400, 'mount.overlay.lower[0].attach.attach.loopback.path', /does not exist/);
  await expectError(client.createContainer({...base, mount: overlayOf(work)}), 400, 'mount.overlay.lower[0].attach.attach.loopback.path', /not a regular file/);
  await expectError(client.createAttach({kind: 'local', local: {path: imageA}}), 400, 'local.path', /not a block device/);
  await expectError(client.setContainerState({name: 'nothere', state: 'running'}), 404);
  assert.equal(await client.listContainers(), []);
  assert.equal(await client.listMount(), []);
  assert.equal(await client.listAttach(), []);
});

test('rbd and iscsi without their tools: 501 "not available on this node"', async () => {
  const {client} = svc!;
  const info = await client.info();
  if (info.drivers.rbd.available) console.log('SKIP: rbd is installed here; its 501 is not tested');
  else {
    const e = await expectError(client.createAttach({kind: 'rbd', rbd: {monitors: ['10.0.0.1'], pool: 'p', image: 'i', options: {name: 'admin', secret: 'AQBsecretsecret=='}}}), 501);
    assert.match(e.message, /rbd is not available on this node/);
    assert.not.match(e.message, /AQBsecret/);
  }
  if (info.drivers.iscsi.available) console.log('SKIP: iscsiadm is installed here; its 501 is not tested');
  else await expectError(client.createAttach({kind: 'iscsi', iscsi: {target: 'iqn.2003-01.org.example:t1', host: '10.0.0.2'}}), 501, undefined, /iscsi is not available on this node/);
  assert.equal(await client.listAttach(), []);
});

test('a container whose init ends is exited (status 0) or dead (with the reason); its log is kept', async () => {
  const {client} = svc!;
  const {container} = await client.createContainer({name: 'dies', command: INIT_DIES, state: 'running', mount: overlayOf(imageA)});
  const dead = await waitFor('dead', async () => (await client.listContainers({name: 'dies'})).find((c) => c.state === 'dead'));
  assert.is(dead.exit!.code, 7);
  assert.match(dead.error!, /exited with status 7/);
  assert.match(await client.containerLog({name: 'dies'}), /giving up/);
  assert.is(container.logfile, dead.logfile);
  const ok = await client.createContainer({name: 'ok', command: ['/bin/true'], state: 'running', mount: overlayOf(imageA)});
  const exited = await waitFor('exited', async () => (await client.listContainers({name: 'ok'})).find((c) => c.state === 'exited'));
  assert.is(exited.exit!.code, 0);
  assert.is(ok.container.id, exited.id);
  await client.deleteContainer({name: 'dies'});
  await client.deleteContainer({name: 'ok'});
});

test('a restarted service finds its containers (same processes, verified by start time) and still notices their end', async () => {
  const {client} = svc!;
  const {container} = await client.createContainer({name: 'keep', command: INIT_MARKER, state: 'running', mount: overlayOf(imageA)});
  await waitFor('marker', () => markerOf(container.mount.mountpoint));
  await svc!.restart();
  const [found] = await svc!.client.listContainers();
  assert.is(found.id, container.id);
  assert.is(found.state, 'running');
  assert.is(found.init_pid, container.init_pid);
  assert.is(found.mount.id, container.mount.id);
  assert.is((await svc!.client.listAttach())[0].device_file, (container.mount.overlay!.lower as {attach: {attach: {device_file: string}}}[])[0].attach.attach.device_file);
  // Idempotent across the restart too.
  const again = await svc!.client.createContainer({name: 'keep', command: INIT_MARKER, state: 'running', mount: overlayOf(imageA)});
  assert.not.ok(again.created);
  process.kill(found.init_pid!, 'SIGKILL');
  const dead = await waitFor('dead after the kill', async () => (await svc!.client.listContainers({name: 'keep'})).find((c) => c.state === 'dead'));
  assert.match(dead.exit!.note!, /found again after a service restart/);
  // The id counter goes on: new objects do not reuse old ids.
  const next = await svc!.client.createContainer({name: 'next', command: INIT_MARKER, state: 'running', mount: overlayOf(imageA)});
  assert.ok(next.container.id > container.mount.id);
});

test('the OpenAPI description is served and names every resource', async () => {
  const doc = await (await fetch(`${svc!.server.url}/openapi.json`)).json() as {openapi: string; paths: Record<string, unknown>; components: {schemas: Record<string, unknown>}};
  assert.is(doc.openapi, '3.1.0');
  for (const p of ['/attach', '/mount', '/container', '/container/log', '/watch', '/info']) assert.ok(doc.paths[p], p);
  for (const s of ['Attach', 'Mount', 'Container', 'Error']) assert.ok(doc.components.schemas[s], s);
  assert.match(JSON.stringify(doc.components.schemas.Mount), /#\/components\/schemas\/(Mount|Attach)/);
});

test.run();
