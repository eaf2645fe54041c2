/**
 * The simulated containers' stand-in processes and their spawner (src/service/spawner.ts): ends are
 * reported with their exit status, nothing is left behind after a purge, the stand-ins outlive the
 * service and its process (and are found again) while the spawner neither outlives its process nor keeps
 * it alive, and an unexpected end of the spawner loses no container's end.
 */
import {spawn} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {startTime} from '../src/service/procfs.js';
import {ImageApiService} from '../src/service/service.js';
import {spawnerPid} from '../src/service/spawner.js';
import {waitFor} from './support/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lc-imageapi-standin-'));
let n = 0;
const services: ImageApiService[] = [];
/** Every stand-in pid a test saw, killed at the end whatever happened. */
const seen = new Set<number>();

const mount = {kind: 'overlay', overlay: {lower: [{kind: 'attach', attach: {fs_type: 'squashfs', attach: {kind: 'loopback', loopback: {path: '/img/a.sqfs'}}}}]}};

async function open(stateDir = join(work, `s${++n}`), adoptPollMs = 20): Promise<ImageApiService> {
  const service = await ImageApiService.open({stateDir, simulate: true, adoptPollMs});
  services.push(service);
  return service;
}

async function run(service: ImageApiService, name: string) {
  const {value} = await service.createContainer({name, command: '/sbin/init', mount, state: 'running'});
  assert.is(value.state, 'running');
  seen.add(value.pid!);
  return value;
}

const alive = (pid: number | undefined) => pid !== undefined && startTime(pid) !== undefined;
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
const container = (service: ImageApiService, name: string) => service.listContainers({name})[0];

test.after.each(async () => {
  while (services.length) await services.pop()!.close({purge: true}).catch(() => undefined);
});
test.after(() => {
  for (const pid of seen) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  const spawner = spawnerPid();
  if (spawner) try { process.kill(spawner, 'SIGKILL'); } catch { /* gone */ }
  rmSync(work, {recursive: true, force: true});
});

test('a stand-in\'s end is reported with its status: killed, the container is dead with the reason', async () => {
  const service = await open(undefined, 60_000); // the end must come from the spawner, not from polling /proc
  const c = await run(service, 'victim');
  assert.ok(readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').startsWith('sleep\0infinity'));
  const spawner = spawnerPid();
  assert.ok(spawner, 'a spawner runs');
  assert.is(parentOf(c.pid!), spawner, 'the stand-in is the spawner\'s child');
  assert.is.not(spawner, process.pid);
  process.kill(c.pid!, 'SIGTERM');
  const dead = await waitFor('the container dead', () => container(service, 'victim').state === 'dead' && container(service, 'victim'), 5000);
  assert.is(dead.exit?.signal, 'SIGTERM');
  assert.is(dead.exit?.code, null);
  assert.is(dead.exit?.note, undefined);
  assert.is(dead.error, 'the init was killed by SIGTERM');
  assert.is(dead.pid, null);
  // Started again, through the same spawner.
  const again = (await service.setContainerState({name: 'victim', state: 'running'}));
  seen.add(again.pid!);
  assert.is(again.state, 'running');
  assert.is(parentOf(again.pid!), spawner);
});

test('close with purge leaves nothing behind: no stand-in, no spawner', async () => {
  const service = await open();
  const pids = [];
  for (const name of ['a', 'b', 'c']) pids.push((await run(service, name)).pid!);
  await service.setContainerState({name: 'b', state: 'exited'});
  assert.not.ok(alive(pids[1]), 'a stopped container\'s stand-in is gone');
  const spawner = spawnerPid()!;
  assert.ok(alive(spawner));
  services.pop();
  await service.close({purge: true});
  for (const pid of pids) assert.not.ok(alive(pid), `stand-in ${pid} is gone`);
  await waitFor('the idle spawner gone', () => !alive(spawner) && spawnerPid() === undefined, 5000);
});

test('stand-ins outlive a service closed without purge and are found again', async () => {
  const stateDir = join(work, `s${++n}`);
  let service = await open(stateDir);
  const c = await run(service, 'kept');
  services.pop();
  await service.close();
  assert.ok(alive(c.pid!), 'the stand-in survives the close');
  service = await open(stateDir);
  const found = container(service, 'kept');
  assert.is(found.state, 'running');
  assert.is(found.pid, c.pid);
  await run(service, 'fresh');
  // The adopted one is not this service's child: its end is noticed by polling.
  process.kill(c.pid!, 'SIGKILL');
  const dead = await waitFor('the adopted container dead', () => container(service, 'kept').state === 'dead' && container(service, 'kept'), 5000);
  assert.match(dead.error!, /found again after a service restart/);
});

test('the spawner neither keeps its process alive nor outlives it; the stand-in does, and is found again', async () => {
  const stateDir = join(work, `s${++n}`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'support/standin-child.ts'), stateDir], {stdio: ['ignore', 'pipe', 'inherit']});
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  const printed = out.trim() ? JSON.parse(out.trim().split('\n').at(-1)!) as {pid: number; spawner: number} : undefined;
  if (printed) seen.add(printed.pid);
  assert.is(code, 0, `the process ended by itself (output: ${out})`);
  assert.ok(printed && printed.spawner && printed.pid);
  await waitFor('its spawner gone with it', () => !alive(printed.spawner), 5000);
  assert.ok(alive(printed.pid), 'the stand-in outlives its process');
  const service = await open(stateDir);
  const found = container(service, 'survivor');
  assert.is(found.state, 'running');
  assert.is(found.pid, printed.pid);
  services.pop();
  await service.close({purge: true});
  assert.not.ok(alive(printed.pid), 'purged');
});

test('an unexpected end of the spawner: the ends of its stand-ins are still noticed, and the next start forks a new one', async () => {
  const service = await open();
  const c = await run(service, 'orphan');
  const spawner = spawnerPid()!;
  process.kill(spawner, 'SIGKILL');
  await waitFor('the spawner noticed gone', () => spawnerPid() === undefined, 5000);
  assert.ok(alive(c.pid!), 'the stand-in survives its spawner');
  assert.is(container(service, 'orphan').state, 'running');
  process.kill(c.pid!, 'SIGKILL');
  const dead = await waitFor('the orphan container dead', () => container(service, 'orphan').state === 'dead' && container(service, 'orphan'), 5000);
  assert.match(dead.error!, /exit status unknown \(the stand-in spawner ended \(SIGKILL\)/);
  const next = await run(service, 'next');
  assert.ok(spawnerPid() && spawnerPid() !== spawner, 'a new spawner');
  assert.is(parentOf(next.pid!), spawnerPid());
});

test.run();
