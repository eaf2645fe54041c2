/**
 * The API's contract without root (simulated node): 400 with the field at fault, secrets never returned
 * or stored, the watch long poll, the kinds of objects and their nesting.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {splitCommand} from '../src/util/command-line.js';
import {startService, type ServiceHandle} from './support/harness.js';

const work = mkdtempSync(join(tmpdir(), 'lc-imageapi-val-'));
let svc: ServiceHandle;
let n = 0;

test.before.each(async () => {
  svc = await startService({stateDir: join(work, `s${++n}`), simulate: true});
});
test.after.each(() => svc.close(true));
test.after(() => rmSync(work, {recursive: true, force: true}));

async function post(path: string, body: unknown, method = 'POST'): Promise<{status: number; body: {code?: number; message?: string; field?: string}}> {
  const r = await fetch(`${svc.server.url}/imageapi/v1${path}`, {method, body: typeof body === 'string' ? body : JSON.stringify(body), headers: {'content-type': 'application/json'}});
  return {status: r.status, body: await r.json()};
}

const attachMount = {kind: 'attach', attach: {fs_type: 'squashfs', attach: {kind: 'loopback', loopback: {path: '/img/a.sqfs'}}}};
const goodContainer = {name: 'c1', command: '/sbin/init', mount: {kind: 'overlay', overlay: {lower: [attachMount]}}};

test('400 names the field at fault', async () => {
  const cases: [string, unknown, string, RegExp?][] = [
    ['/container', {...goodContainer, command: undefined}, 'command'],
    ['/container', {...goodContainer, name: 'bad name'}, 'name'],
    ['/container', {...goodContainer, state: 'exited'}, 'state', /created or running/],
    ['/container', {...goodContainer, hostname: 'under_score'}, 'hostname'],
    ['/container', {...goodContainer, bogus: 1}, 'bogus', /unknown field/],
    ['/container', {...goodContainer, command: 'sh -c "unterminated'}, 'command', /unterminated/],
    ['/container', {...goodContainer, mount: {kind: 'overlay', overlay: {lower: []}}}, 'mount.overlay.lower'],
    ['/container', {...goodContainer, mount: {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {attach: {kind: 'loopback', loopback: {path: '/x'}}}}]}}}, 'mount.overlay.lower[0].attach.fs_type'],
    ['/container', {...goodContainer, mount: {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {fs_type: 'squashfs', attach: {kind: 'loopback', loopback: {path: 'rel.sqfs'}}}}]}}}, 'mount.overlay.lower[0].attach.attach.loopback.path', /absolute/],
    ['/container', {...goodContainer, mount: {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {fs_type: 'squashfs', attach: {kind: 'rbd', loopback: {path: '/x'}}}}]}}}, 'mount.overlay.lower[0].attach.attach.rbd', /required with kind rbd/],
    ['/container', {...goodContainer, mount: {kind: 'overlay', overlay: {lower: [attachMount], upper: {kind: 'dir'}}}}, 'mount.overlay.upper.path'],
    ['/container', {...goodContainer, mount: {id: 99}}, 'mount.id', /no mount 99/],
    ['/container', {...goodContainer, mount: {}}, 'mount.kind'],
    ['/mount', {kind: 'nfs', nfs: {host: 'h', path: 'relative'}}, 'nfs.path'],
    ['/mount', {kind: 'nfs', nfs: {host: 'h', path: '/e', version: '5'}}, 'nfs.version'],
    ['/mount', {kind: 'bind', bind: {path: 'x', base: 'mount'}}, 'bind.mount', /required with base "mount"/],
    ['/mount', {id: 3, kind: 'bind', bind: {path: '/x'}}, 'id', /assigned by the service/],
    ['/attach', {kind: 'iscsi', iscsi: {target: 't', host: 'h', port: 70000}}, 'iscsi.port'],
    ['/attach', {kind: 'rbd', rbd: {monitors: [], pool: 'p', image: 'i'}}, 'rbd.monitors'],
    ['/attach', {kind: 'rbd', rbd: {monitors: ['m'], pool: 'p', image: 'i'}}, 'rbd.options.secret', /cephx key/],
    ['/attach', {kind: 'loopback', loopback: {path: 'a/../../etc', base: 'mount'}}, 'loopback.path'],
    ['/attach', '[1,2]', 'body'],
    ['/attach', '{not json', 'body'],
  ];
  for (const [path, body, field, message] of cases) {
    const r = await post(path, body);
    assert.is(r.status, 400, `${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.is(r.body.field, field, `${path} ${JSON.stringify(body)}: ${r.body.message}`);
    assert.is(r.body.code, 400);
    if (message) assert.match(r.body.message!, message);
  }
  for (const [query, field] of [['/container?id=abc', 'id'], ['/container?state=paused', 'state'], ['/attach?kind=floppy', 'kind'], ['/container?what=1', 'what']] as const) {
    const r = await fetch(`${svc.server.url}/imageapi/v1${query}`);
    assert.is(r.status, 400, query);
    assert.is(((await r.json()) as {field: string}).field, field, query);
  }
  const patch = await fetch(`${svc.server.url}/imageapi/v1/container?name=c1&state=paused`, {method: 'PATCH'});
  assert.is(patch.status, 400);
  const del = await fetch(`${svc.server.url}/imageapi/v1/container`, {method: 'DELETE'});
  assert.is(del.status, 400);
  assert.is(((await del.json()) as {field: string}).field, 'name');
  assert.equal(await svc.client.listContainers(), []);
  assert.equal(await svc.client.listMount(), []);
  assert.equal(await svc.client.listAttach(), []);
});

test('an rbd secret is used but never returned, listed or stored', async () => {
  const secret = 'AQDsecretKEYsecretKEY==';
  const body = {kind: 'rbd', rbd: {monitors: ['10.0.0.1:6789'], pool: 'images', image: 'centos8', options: {name: 'node', secret}}};
  const created = await post('/attach', body);
  assert.is(created.status, 201);
  const mount = await post('/mount', {kind: 'attach', attach: {fs_type: 'squashfs', attach: body}});
  assert.is(mount.status, 201);
  const container = await post('/container', {name: 'r', command: '/sbin/init', state: 'running', mount: {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {fs_type: 'squashfs', attach: body}}]}}});
  assert.is(container.status, 201);
  const everything = JSON.stringify([created, mount, container, await svc.client.listAttach(), await svc.client.listMount(), await svc.client.listContainers(),
    await (await fetch(`${svc.server.url}/openapi.json`)).text()]);
  assert.not.ok(everything.includes(secret), 'no secret in any response');
  assert.ok(everything.includes('"name":"node"'));
  assert.not.ok(readFileSync(join(svc.service.stateDir, 'objects.json'), 'utf8').includes(secret), 'no secret in the state file');
  // The same spec (secret or not) is the same attachment.
  const again = await post('/attach', {...body, rbd: {...body.rbd, options: {name: 'node', secret: 'another'}}});
  assert.is(again.status, 200);
  await svc.client.deleteContainer({name: 'r', force: true});
});

test('watch: a long poll that returns at the next change', async () => {
  const g0 = (await svc.client.info()).generation;
  let timedOut = false; // set when the watch's own timeout has run out: it must answer before, at the change
  const timer = setTimeout(() => { timedOut = true; }, 5000);
  const waiting = svc.client.watch(g0, 5000);
  setTimeout(() => void svc.client.createContainer({...goodContainer, state: 'running'} as never), 50);
  const g1 = await waiting;
  clearTimeout(timer);
  assert.ok(g1 > g0);
  assert.not.ok(timedOut, 'answered at the change, not at its timeout');
  assert.is(await svc.client.watch(g0, 5000), g1, 'at once when already past');
  const timeout = Date.now();
  assert.is(await svc.client.watch(g1, 100), g1);
  assert.ok(Date.now() - timeout >= 90);
});

test('watch: a replace is one change, and its watchers wake after its answer', async () => {
  const {service} = svc;
  await service.createContainer({...goodContainer, state: 'running'});
  const g0 = service.generation;
  const order: string[] = [];
  const watched = service.watch(g0, 5000).then((g) => { order.push('watch'); return g; });
  const {value} = await service.createContainer({...goodContainer, command: '/sbin/init --other', state: 'running'}, {replace: true});
  order.push('answer');
  assert.is(value.state, 'running');
  assert.is(service.generation, g0 + 1, 'the old container\'s end is not a change of its own');
  assert.ok(await watched > g0, 'woken by the replace (or the release after it), not by a wake due from before the watch');
  assert.equal(order, ['answer', 'watch']);
  await svc.client.deleteContainer({name: 'c1', force: true});
});

test('simulated: containers are stand-in processes, mounts recorded; stop, start, delete', async () => {
  const {container} = await svc.client.createContainer({...goodContainer, state: 'running'} as never);
  assert.is(container.state, 'running');
  assert.ok(readFileSync(`/proc/${container.init_pid}/cmdline`, 'utf8').startsWith('sleep'));
  assert.match(((container.mount.overlay!.lower as {attach: {attach: {device_file: string}}}[])[0]).attach.attach.device_file, /^\/dev\/sim-loop/);
  assert.is((await svc.client.info()).simulate, true);
  assert.is((await svc.client.setContainerState({name: 'c1', state: 'exited'})).state, 'exited');
  assert.is((await svc.client.setContainerState({name: 'c1', state: 'running'})).state, 'running');
  await svc.client.deleteContainer({name: 'c1', force: true});
  assert.equal(await svc.client.listMount(), []);
});

test('command lines split like a shell, without expansion', () => {
  assert.equal(splitCommand(`/bin/sh -c 'echo $HOME; exit 1'`), ['/bin/sh', '-c', 'echo $HOME; exit 1']);
  assert.equal(splitCommand(`a "b c" d\\ e ""`), ['a', 'b c', 'd e', '']);
  assert.equal(splitCommand('  /sbin/init  '), ['/sbin/init']);
  assert.throws(() => splitCommand(`'open`), /unterminated/);
  assert.throws(() => splitCommand(`a "open`), /unterminated/);
  assert.equal(splitCommand('ls $HOME *.c'), ['ls', '$HOME', '*.c']); // nothing expanded
  assert.throws(() => splitCommand('init; reboot'), /shell operator ";" needs a shell/);
  assert.throws(() => splitCommand('init # comment'), /comment .* needs a shell/);
});

test.run();
