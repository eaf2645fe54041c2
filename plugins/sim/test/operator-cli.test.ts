/**
 * The operator's commands from the built CLI against the simulated cluster (the real daemon, engine,
 * sync, pxe and imageset): a power cycle reboots a node exactly once, with no "child silent past the
 * dead interval" for a machine powered off on purpose; `power on --wait` waits for the whole cfg (the
 * images running again), not just the power; `image roll` to an image that does not exist fails with
 * the reason and leaves the node as it was.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {LcEvent, ModuleSpec, MutationEvent} from '@layercake/sdk';
import {syncModule} from '@layercake/sdk/embed';
import {pxeModule} from '@layercake/plugin-pxe';
import {imagesetModule} from '@layercake/plugin-imageapi';
import {requireBuild, sandbox} from '../../../test/support/cli.js';
import {until as waitUntil} from './support/until.js';
import {convergence, simModule, startCluster, type SimulatedCluster} from '../src/index.js';

requireBuild();
const modules = [syncModule, pxeModule, imagesetModule, simModule] as ModuleSpec[];
const box = sandbox('lc-power-sim-');
let cluster: SimulatedCluster;
const events: LcEvent[] = [];

test.before(async () => {
  cluster = await startCluster({nodes: 3, modules, helloInterval: 500, timeScale: 0.25});
  cluster.daemon.store.events.subscribe({}, (e) => events.push(e));
  cluster.daemon.store.apply(cluster.nodes, {source: 'test'});
  await until(() => convergence(cluster).converged === 3, 90_000, 'all 3 converged');
});
test.after(async () => {
  await cluster?.stop();
  await box.cleanup();
});

const until = (done: () => boolean, ms: number, what: string) => waitUntil(cluster, done, ms, what);

const lc = (args: string[]) => box.run([...args, '--url', `http://${cluster.daemon.listenAddress}`, '--token', cluster.daemon.token], {timeoutMs: 120_000});
const idOf = (name: string) => cluster.machines.find((m) => m.nodename === name)!.id;
/** What happened to a node since `from` (an index into `events`): mutations started, runState discovered. */
function since(from: number, id: string) {
  const started = events.slice(from).filter((e): e is MutationEvent => e.nodeId === id && e.type === 'MUTATION' && e.kind === 'MUTATE')
    .map((e) => `${e.module}/${e.mutation}`);
  return {started, count: (m: string) => started.filter((s) => s === m).length};
}
async function childrenDead(): Promise<number> {
  const text = await (await fetch(`http://${cluster.daemon.listenAddress}/metrics`, {headers: {authorization: `Bearer ${cluster.daemon.token}`}})).text();
  return Number(/^layercake_sync_children_dead_total (\d+)/m.exec(text)?.[1] ?? NaN);
}
const runStateErrors = (id: string) => cluster.daemon.store.history(id).filter((h) => h.kind === 'dsc' && h.url === '/runState' && h.value === 'ERROR').length;

test('power cycle --wait reboots the node exactly once, with no dead-child warning, and converges whole', async () => {
  const id = idOf('n01');
  const from = events.length;
  const boots = cluster.world.machines.get(id)!.boots;
  const dead = await childrenDead();
  const r = await lc(['power', 'cycle', 'n01', '--wait', '--yes']);
  assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /1 converged/);
  // A quiet moment after convergence: a late dead-interval expiry would start another cycle now.
  await new Promise((res) => setTimeout(res, 2500));
  const s = since(from, id);
  assert.is(s.count('sim/ONtoOFF'), 1, s.started.join(', '));
  assert.is(s.count('sim/OFFtoON'), 1, s.started.join(', '));
  assert.is(cluster.world.machines.get(id)!.boots, boots + 1, 'one boot');
  assert.is(runStateErrors(id), 0, 'never runState ERROR');
  assert.is(await childrenDead(), dead, 'no child declared dead');
  const {dsc} = cluster.daemon.store.get(id)!;
  assert.is(dsc.runState, 'SYNC');
  assert.is((dsc.extensions.imageset as {state: string}).state, 'ACTIVE', 'the images run again');
});

test('power off, then power on --wait: one boot, the images run again, and "converged" means the whole cfg', async () => {
  const id = idOf('n02');
  const cfgBefore = cluster.daemon.store.get(id)!.cfg;
  const from = events.length;
  const boots = cluster.world.machines.get(id)!.boots;
  const dead = await childrenDead();
  const off = await lc(['power', 'off', 'n02', '--wait', '--yes']);
  assert.is(off.code, 0, `${off.stdout}\n${off.stderr}`);
  const offCfg = cluster.daemon.store.get(id)!.cfg;
  assert.is(offCfg.runState, 'UNKNOWN', 'what cannot hold while off is reset');
  assert.equal((offCfg.extensions.power as {resume: object}).resume, {'/runState': 'SYNC', '/extensions/imageset/state': 'ACTIVE'}, 'and set aside');
  const on = await lc(['power', 'on', 'n02', '--wait']);
  assert.is(on.code, 0, `${on.stdout}\n${on.stderr}`);
  assert.match(on.stdout, /1 converged/);
  // "converged" was said: the whole cfg holds at that moment, images included.
  const {cfg, dsc} = cluster.daemon.store.get(id)!;
  assert.is((cfg.extensions.imageset as {state: string}).state, 'ACTIVE', 'power on put the image intent back');
  assert.is((dsc.extensions.imageset as {state: string}).state, 'ACTIVE', 'the images run when "converged" is said');
  assert.is(dsc.runState, 'SYNC');
  assert.equal(cfg, cfgBefore, 'the cfg is as it was before the power off');
  await new Promise((res) => setTimeout(res, 2500));
  const s = since(from, id);
  assert.is(s.count('sim/OFFtoON'), 1, s.started.join(', '));
  assert.is(cluster.world.machines.get(id)!.boots, boots + 1, 'one boot');
  assert.is(runStateErrors(id), 0, 'never runState ERROR');
  assert.is(await childrenDead(), dead, 'no child declared dead');
});

test('image roll to an image that does not exist fails with the reason; the cfg and the running image are as before', async () => {
  const id = idOf('n03');
  const before = structuredClone(cluster.daemon.store.get(id)!.cfg);
  const containerBefore = (cluster.daemon.store.get(id)!.dsc.extensions.imageset as {images: {base: {containerId: number}}}).images.base.containerId;
  const r = await lc(['image', 'roll', 'n03', '--image', 'base=/images/no-such-image.sqfs', '--wait', '--timeout', '60s']);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^Error \[LC_ERR_IMAGE_UNKNOWN\]: 1 of 1 node\(s\) did not roll \(their images were put back in cfg\): n03: image base: .*\/images\/no-such-image\.sqfs does not exist\n {2}Try this: /);
  assert.not.match(r.stdout, /1 rolled/);
  assert.equal(cluster.daemon.store.get(id)!.cfg, before, 'the cfg is as before');
  await until(() => convergence(cluster).converged === 3, 60_000, 'n03 back on its image');
  const images = (cluster.daemon.store.get(id)!.dsc.extensions.imageset as {images: {base: {source: {path: string}; state: string; containerId: number}}}).images;
  assert.is(images.base.source.path, '/images/layer1-base.sqfs');
  assert.is(images.base.state, 'ACTIVE');
  console.log(`    container before ${containerBefore}, after ${images.base.containerId}`);
});

test('image roll to an image the world has rolls it', async () => {
  const r = await lc(['image', 'roll', 'n03', '--image', 'base=/images/layer1-v2.sqfs', '--wait', '--timeout', '60s']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /1 rolled/);
});

test.run();
