/**
 * The imageset module's state machine against a SIMULATED ImageAPI service (no root: containers are
 * stand-in processes), driven by the real engine of an in-process daemon (test/support/harness.ts),
 * for the daemon's own node (SELF context: nodeId === ctx.selfId).
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ANNOTATION_IMAGE, containerRequest, specOf} from '../src/module/spec.js';
import {imageSpec, startModule, startService, type ModuleHandle, type ServiceHandle} from './support/harness.js';
import {waitFor} from './support/wait.js';

const work = mkdtempSync(join(tmpdir(), 'lc-imageset-sim-'));
let n = 0;
const cleanups: (() => Promise<void> | void)[] = [];

async function setup(images: Record<string, unknown>, options: Parameters<typeof startModule>[2] = {}): Promise<{svc: ServiceHandle; mod: ModuleHandle}> {
  const svc = await startService({stateDir: join(work, `s${++n}`), simulate: true, adoptPollMs: 20});
  cleanups.push(() => svc.close(true));
  const mod = await startModule(svc.server.url, images, options);
  cleanups.push(() => mod.stop());
  return {svc, mod};
}

async function teardown(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!();
}

test.after.each(teardown);
test.after(() => rmSync(work, {recursive: true, force: true}));

const running = async (svc: ServiceHandle) => (await svc.client.listContainers({state: 'running'})).filter((c) => c.annotations[ANNOTATION_IMAGE]);

test('the own node converges: UKtoIDLE then IDLEtoACTIVE; image names may contain digits', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init'), '0day.v2': imageSpec('/img/b.sqfs', ['/bin/sh', '-c', 'sleep 1'])});
  assert.is(mod.nodeId, mod.daemon.selfId);
  await mod.waitState('ACTIVE');
  assert.equal(mod.fired(), ['UKtoIDLE', 'IDLEtoACTIVE']);
  const images = mod.images();
  assert.equal(Object.keys(images).sort(), ['0day.v2', 'web1']);
  for (const img of Object.values(images)) {
    assert.is(img.state, 'ACTIVE');
    assert.is(img.containerState, 'running');
    assert.ok(img.containerId > 0);
    assert.ok(img.applied);
  }
  const list = await running(svc);
  assert.equal(list.map((c) => c.name).sort(), ['0day.v2', 'web1']);
});

test('a cfg change rolls the image (old container gone, new one running) without touching the others', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init'), db: imageSpec('/img/db.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  const before = Object.fromEntries((await running(svc)).map((c) => [c.name, c.id]));
  mod.setCfg('/extensions/imageset/images/web1/source/path', '/img/a2.sqfs');
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE' && i.source.path === '/img/a2.sqfs', 'rolled to a2');
  await mod.waitState('ACTIVE');
  assert.ok(mod.fired().includes('UPDATEtoACTIVE'));
  const after = await svc.client.listContainers();
  assert.is(after.length, 2, 'no old container left');
  const web1 = after.find((c) => c.name === 'web1')!;
  assert.is.not(web1.id, before.web1);
  assert.is(web1.state, 'running');
  assert.is((web1.mount.overlay!.lower as {attach: {attach: {loopback: {path: string}}}}[])[0].attach.attach.loopback.path, '/img/a2.sqfs');
  assert.is(after.find((c) => c.name === 'db')!.id, before.db, 'the unchanged image kept its container');
});

test('a roll on a watched, quiet node asks the service once (the replace): the containers come from the watch\'s last look', async () => {
  const svc = await startService({stateDir: join(work, `s${++n}`), simulate: true, adoptPollMs: 20});
  cleanups.push(() => svc.close(true));
  const calls: string[] = [];
  const listedAt: number[] = [];
  const {service} = svc;
  const list = service.listContainers.bind(service);
  const create = service.createContainer.bind(service);
  service.listContainers = (q) => {
    calls.push('list');
    listedAt.push(service.generation);
    return list(q);
  };
  service.createContainer = (body, options) => {
    calls.push('create');
    return create(body, options);
  };
  // No timed re-checks (pollInterval 60 s): the watch lists only after a change of the service's.
  const mod = await startModule(svc.server.url, {web1: imageSpec('/img/a.sqfs', '/sbin/init')}, {config: {pollInterval: 60_000}});
  cleanups.push(() => mod.stop());
  await mod.waitState('ACTIVE');
  // A change of the service's that is none of the module's (a container of someone else's): its watch
  // wakes and looks (the activation's own changes came while it worked, and it does not judge then).
  await svc.client.createContainer({...containerRequest('other', specOf(imageSpec('/img/o.sqfs', '/sbin/init') as never)), annotations: {}});
  await waitFor('the watch has looked since the last change', () => listedAt.at(-1) === service.generation);
  calls.length = 0;
  mod.setCfg('/extensions/imageset/images/web1/source/path', '/img/a2.sqfs');
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE' && i.source.path === '/img/a2.sqfs', 'rolled to a2');
  assert.equal(calls.slice(0, calls.indexOf('create') + 1), ['create'], `no list before the replace (calls: ${calls.join(', ')})`);
  // A second roll at once, whether or not the watch has looked since the first one's changes, rolls too.
  calls.length = 0;
  mod.setCfg('/extensions/imageset/images/web1/source/path', '/img/a3.sqfs');
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE' && i.source.path === '/img/a3.sqfs', 'rolled to a3');
  assert.ok(calls.indexOf('create') >= 0, `the second roll replaced (calls: ${calls.join(', ')})`);
  const after = await svc.client.listContainers();
  assert.equal(after.map((c) => `${c.name} ${c.state}`).sort(), ['other running', 'web1 running']);
});

test('a node marked BUSY does not roll until it is FREE again', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  const first = (await running(svc))[0].id;
  mod.setCfg('/busy', 'BUSY');
  mod.setCfg('/extensions/imageset/images/web1/container/command', '/sbin/init --new');
  await mod.waitState('UPDATE');
  await waitFor('the roll blocked by BUSY', () => /excluded while busy is BUSY/.test(mod.why().blocked ?? ''));
  assert.not.ok(mod.fired().includes('UPDATEtoACTIVE'));
  assert.is((await running(svc))[0].id, first);
  assert.is(mod.images().web1.state, 'UPDATE');
  mod.setCfg('/busy', 'FREE');
  await mod.waitState('ACTIVE');
  const now = await running(svc);
  assert.is(now.length, 1);
  assert.is.not(now[0].id, first);
  assert.equal(now[0].command, ['/sbin/init', '--new']);
});

test('a container that dies: ERROR (DIED), a retry after backoff, ACTIVE again', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  const [c] = await running(svc);
  process.kill(c.init_pid!, 'SIGKILL');
  await mod.waitImage('web1', (i) => i.state === 'ERROR', 'ERROR');
  assert.match(mod.images().web1.lastError, /^DIED: /);
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE', 'ACTIVE again');
  await mod.waitState('ACTIVE');
  assert.ok(mod.fired().includes('ERRORtoACTIVE'));
  assert.is(mod.images().web1.retries, 1);
  const [again] = await running(svc);
  assert.is.not(again.id, c.id);
});

test('an image that keeps dying ends FATAL with the reason, and a cfg change revives it', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  // Kill every container of web1 as soon as it runs: it "always dies".
  for (let kills = 0; mod.state() !== 'FATAL' && kills < 10; kills++) {
    const c = await waitFor('a running web1', async () => (await running(svc))[0] ?? (mod.state() === 'FATAL' ? 'fatal' : undefined));
    if (c === 'fatal') break;
    process.kill(c.init_pid!, 'SIGKILL');
    await waitFor('web1 seen dead', () => mod.images().web1.state !== 'ACTIVE' || mod.state() === 'FATAL');
  }
  await mod.waitState('FATAL');
  const img = mod.images().web1;
  assert.is(img.state, 'FATAL');
  assert.match(img.lastError, /^MAX_ATTEMPTS: image web1 gave up after 3 attempts \(maxRetries 2\); last error: DIED/);
  const why = mod.why();
  assert.match(why.lastFailure!.reason, /^image web1 gave up after 3 attempts/);
  assert.match(why.held!.reason, /^imageset\/ERRORtoACTIVE failed for good \(not retried\): image web1 gave up after 3 attempts/);
  const fired = mod.fired();
  assert.is(fired.filter((m) => m === 'ERRORtoACTIVE').length, 3);
  // Nothing leaves FATAL by itself; a new cfg for the image does.
  mod.setCfg('/extensions/imageset/images/web1/source/path', '/img/fixed.sqfs');
  await mod.waitState('ACTIVE');
  assert.is(mod.images().web1.retries, 0);
  assert.is(mod.images().web1.lastError, '');
});

test('goal IDLE stops the images; SYNCtoINIT only once IDLE', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  mod.setCfg('/extensions/imageset/state', 'IDLE');
  await mod.waitState('IDLE');
  assert.is((await svc.client.listContainers()).length, 0);
  assert.is(mod.images().web1.state, 'IDLE');
  // Shutdown: runState INIT with the set "don't care": ACTIVE→IDLE first (here it is IDLE already), then SYNCtoINIT.
  mod.setCfg('/extensions/imageset/state', 'ACTIVE');
  await mod.waitState('ACTIVE');
  mod.setCfg('/extensions/imageset/state', 'UNKNOWN');
  mod.setCfg('/runState', 'INIT');
  await waitFor('runState INIT', () => mod.dsc().runState === 'INIT');
  const fired = mod.fired();
  assert.equal(fired.slice(-2), ['ACTIVEtoIDLE', 'SYNCtoINIT']);
  // The daemon knows its own node first-hand (knowability resets are for the nodes it learns of): the
  // set stays IDLE, which is true, since nothing runs.
  assert.is(mod.state(), 'IDLE');
  assert.is((await svc.client.listContainers()).length, 0);
});

test('SYNCtoINIT is blocked while the node is BUSY', async () => {
  const {mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')}, {goal: 'IDLE'});
  await mod.waitState('IDLE');
  mod.setCfg('/busy', 'BUSY');
  mod.setCfg('/extensions/imageset/state', 'UNKNOWN');
  mod.setCfg('/runState', 'INIT');
  await waitFor('SYNCtoINIT blocked by BUSY', () => /excluded while busy is BUSY/.test(mod.why().blocked ?? ''));
  assert.is(mod.dsc().runState, 'SYNC');
  mod.setCfg('/busy', 'FREE');
  await waitFor('runState INIT', () => mod.dsc().runState === 'INIT');
});

test('adding and removing images rolls only those', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  const web1 = (await running(svc))[0].id;
  mod.setCfg('/extensions/imageset/images/web2', imageSpec('/img/b.sqfs', '/sbin/init'));
  await mod.waitImage('web2', (i) => i.state === 'ACTIVE', 'web2 ACTIVE');
  await mod.waitState('ACTIVE');
  mod.setCfg('/extensions/imageset/images/web1', undefined);
  await waitFor('web1 gone', async () => (await svc.client.listContainers()).every((c) => c.name !== 'web1'));
  await mod.waitState('ACTIVE');
  assert.equal(Object.keys(mod.images()), ['web2']);
  const left = await svc.client.listContainers();
  assert.equal(left.map((c) => c.name), ['web2']);
  assert.is.not(left[0].id, web1);
});

test('a restarted daemon keeps what runs as configured (no restart of the containers)', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  const before = (await running(svc))[0];
  await mod.stop();
  const again = await startModule(svc.server.url, {web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  cleanups.push(() => again.stop());
  await again.waitState('ACTIVE');
  const after = (await running(svc))[0];
  assert.is(after.id, before.id);
  assert.is(after.init_pid, before.init_pid);
  assert.is(again.images().web1.containerId, before.id);
});

test('the service restarted in the middle: the module reconnects, the containers are found again and still watched', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  const before = (await running(svc))[0];
  await svc.restart();
  const found = (await svc.client.listContainers())[0];
  assert.is(found.id, before.id);
  assert.is(found.state, 'running');
  assert.is(found.init_pid, before.init_pid);
  // A death of an adopted container is still noticed (by polling /proc) and repaired.
  process.kill(found.init_pid!, 'SIGKILL');
  await mod.waitImage('web1', (i) => i.state === 'ERROR', 'ERROR after the death');
  await mod.waitImage('web1', (i) => i.state === 'ACTIVE', 'ACTIVE again');
  assert.is.not((await running(svc))[0].id, before.id);
});

test('a service that is down when the module starts: UKtoIDLE waits for it', async () => {
  const svc = await startService({stateDir: join(work, `s${++n}`), simulate: true});
  const port = new URL(svc.server.url).port;
  await svc.server.close();
  const mod = await startModule(svc.server.url, {web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  cleanups.push(() => mod.stop(), () => svc.close(true));
  await waitFor('UKtoIDLE fired', () => mod.fired().includes('UKtoIDLE'));
  const {startServer} = await import('../src/service/server.js');
  svc.server = await startServer(svc.service, {listen: `127.0.0.1:${port}`});
  await mod.waitState('ACTIVE');
});

test('create failures put the image in ERROR with the service\'s reason, then FATAL', async () => {
  // A bad request the service refuses (an unknown tmpfs size unit passes the module but the cfg below fails the service).
  const {mod} = await setup({web1: imageSpec('relative/path.sqfs', '/sbin/init')}).catch(() => ({mod: undefined as never}));
  assert.is(mod, undefined, 'a relative source path is refused by the extension schema');
  const {mod: m2} = await setup({web1: {source: {kind: 'file', path: '/img/a.sqfs'}, container: {command: '/sbin/init', hostname: 'not a hostname!'}}});
  await m2.waitState('FATAL');
  const img = m2.images().web1;
  assert.is(img.state, 'FATAL');
  assert.match(img.lastError, /MAX_ATTEMPTS.*ATTACH: hostname/);
  assert.equal(m2.fired(), ['UKtoIDLE', 'IDLEtoACTIVE', 'ERRORtoACTIVE']);
});

test('a daemon restarted with the goal IDLE stops what it finds running', async () => {
  const {svc, mod} = await setup({web1: imageSpec('/img/a.sqfs', '/sbin/init')});
  await mod.waitState('ACTIVE');
  await mod.stop();
  const again = await startModule(svc.server.url, {web1: imageSpec('/img/a.sqfs', '/sbin/init')}, {goal: 'IDLE'});
  cleanups.push(() => again.stop());
  await again.waitState('IDLE');
  assert.equal(await svc.client.listContainers(), []);
  assert.is(again.images().web1.state, 'IDLE');
  assert.is(again.images().web1.containerId, 0);
});

test('an empty image set reaches its goal (the original could time out into FATAL)', async () => {
  const {mod} = await setup({});
  await mod.waitState('ACTIVE');
  assert.equal(mod.fired(), ['UKtoIDLE', 'IDLEtoACTIVE']);
  assert.equal(mod.images(), {});
});

test.run();
