/**
 * The simulated cluster end to end: the real daemon (engine, pxe, sync, imageset, sim power) and
 * simulated machines that DHCP, fetch their boot script, phone home and run their image.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {LcEvent, ModuleSpec, MutationEvent} from '@layercake/sdk';
import {syncModule} from '@layercake/sdk/embed';
import {pxeModule} from '@layercake/plugin-pxe';
import {imagesetModule} from '@layercake/plugin-imageapi';
import {convergence, simModule, startCluster, type Machine, type SimulatedCluster, type WorldProcesses} from '../src/index.js';
import {until} from './support/until.js';

const modules = [syncModule, pxeModule, imagesetModule, simModule] as ModuleSpec[];
/** The cluster's default delays and timers at a quarter (docs/sim.md, "Time scale"): the same story, sooner. */
const timeScale = 0.25;

test('32 nodes: power on, PXE boot, phone home and run their image', async () => {
  const cluster = await startCluster({nodes: 32, modules, helloInterval: 1000, timeScale});
  try {
    const t0 = Date.now();
    cluster.daemon.store.apply(cluster.nodes, {source: 'test'});
    await until(cluster, () => convergence(cluster).converged === 32, 90_000, 'all 32 converged');
    console.log(`    32 nodes converged in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const m of cluster.machines) {
      const {dsc} = cluster.daemon.store.get(m.id)!;
      assert.is(dsc.physState, 'POWER_ON');
      assert.is(dsc.runState, 'SYNC');
      assert.is((dsc.extensions.pxe as {state: string}).state, 'INIT', `${m.nodename} booted through the pxe plugin`);
      assert.is((dsc.extensions.imageset as {state: string}).state, 'ACTIVE');
      assert.is(cluster.world.machines.get(m.id)!.stage, 'layer0');
    }
  } finally {
    await cluster.stop();
  }
});

test('faults: hung machines recover by a power cycle; the dead BMC\'s node says why', async () => {
  const cluster = await startCluster({nodes: 12, faults: true, modules, helloInterval: 1000, timeScale});
  try {
    cluster.daemon.store.apply(cluster.nodes, {source: 'test'});
    const hung = cluster.machines.filter((m) => m.faults?.hangFirstBoot);
    const dead = cluster.machines.find((m) => m.faults?.deadBmc)!;
    assert.ok(hung.length >= 1 && dead);
    await until(cluster, () => convergence(cluster).done, 120_000, 'every node converged or given up');
    const c = convergence(cluster);
    assert.is(c.converged, 11);
    assert.equal(c.unrecoverable, [dead.nodename]);
    for (const m of hung) {
      const machine = cluster.world.machines.get(m.id)!;
      assert.ok(machine.boots >= 2, `${m.nodename} was power-cycled (boots: ${machine.boots})`);
      assert.is(machine.stage, 'layer0');
    }
    const why = cluster.daemon.engine.why(dead.id);
    assert.ok(why.held, 'the dead BMC\'s node is held');
    assert.match(why.lastFailure!.reason, /simulated BMC of node .* did not answer within/);
  } finally {
    await cluster.stop();
  }
});

/**
 * One cluster of three for the single-node stories that follow, a node each (n01 powered off, n02's
 * agent restarted, n03's agent left dead): they touch only their own node, so they share the cluster's
 * start. Started by the first story that needs it, stopped after the file.
 */
let trio: SimulatedCluster | undefined;
async function trioWithNode(k: number): Promise<{cluster: SimulatedCluster; target: SimulatedCluster['machines'][number]}> {
  if (!trio) {
    trio = await startCluster({nodes: 3, modules, helloInterval: 500, timeScale});
    trio.daemon.store.apply(trio.nodes, {source: 'test'});
  }
  const cluster = trio;
  const target = cluster.machines[k];
  await until(cluster, () => converged(cluster, target.id), 60_000, `${target.nodename} converged`);
  return {cluster, target};
}
test.after(async () => {
  await trio?.stop();
});

/** The node runs as asked: on, synced, its image set ACTIVE (what `convergence` counts). */
function converged(cluster: SimulatedCluster, id: string): boolean {
  const {dsc} = cluster.daemon.store.get(id)!;
  return dsc.physState === 'POWER_ON' && dsc.runState === 'SYNC' && (dsc.extensions.imageset as {state?: string} | undefined)?.state === 'ACTIVE';
}

test('power off of a synced node: images stop, then SYNC→INIT, then power off, in that order', async () => {
  const {cluster, target} = await trioWithNode(0);
  const others = cluster.machines.filter((m) => m !== target);
  await until(cluster, () => others.every((m) => converged(cluster, m.id)), 60_000, 'the others converged');
  const events: LcEvent[] = [];
  const off = cluster.daemon.store.events.subscribe({types: ['MUTATION'], nodes: [target.id]}, (e) => events.push(e));
  const {cfg} = cluster.daemon.store.get(target.id)!;
  const offCfg = {...structuredClone(cfg), physState: 'POWER_OFF'} as typeof cfg;
  const resets = cluster.daemon.engine.unknowableUnder(offCfg);
  assert.equal(resets.sort(), ['/extensions/imageset/state', '/runState']);
  cluster.daemon.store.update(target.id, {physState: 'POWER_OFF', runState: 'UNKNOWN', extensions: {imageset: {state: 'UNKNOWN'}}});
  const name = (e: LcEvent) => (e.type === 'MUTATION' ? `${e.kind} ${e.module}/${e.mutation}` : '');
  await until(cluster, () => events.some((e) => name(e) === 'COMPLETE sim/ONtoOFF'), 60_000, 'power off');
  off();
  const steps = events.filter((e): e is MutationEvent => e.type === 'MUTATION' && (e.kind === 'COMPLETE' || (e.kind === 'MUTATE' && e.module === 'sim')))
    .map(name).filter((n) => n !== 'COMPLETE imageset/IDLEtoACTIVE'); // the boot's last step may complete just before
  assert.equal(steps, ['COMPLETE imageset/ACTIVEtoIDLE', 'COMPLETE imageset/SYNCtoINIT', 'MUTATE sim/ONtoOFF', 'COMPLETE sim/ONtoOFF']);
  assert.is(cluster.world.machines.get(target.id)!.stage, 'off');
  assert.ok(others.every((m) => converged(cluster, m.id)), 'the other nodes are untouched');
});

test('an agent restarted by Layer0\'s init re-syncs: the node is SYNC again without a reboot', async () => {
  const {cluster, target} = await trioWithNode(1);
  const machine = cluster.world.machines.get(target.id) as Machine;
  const boots = machine.boots;
  const restarted = Date.now();
  await machine.killAgent();
  await machine.startAgent();
  const agent = machine.agent!;
  // The restarted agent phones home (a new session), gets the parent's state and sends its own; the
  // parent has read that once it hears from the agent after (the next hello).
  const syncedSince = () => agent.sync!.status().parent?.syncedSince;
  const heardAt = () => {
    const child = cluster.daemon.sync!.status().children.find((c) => c.id === target.id);
    return child?.lastHeardMs === undefined ? 0 : Date.now() - child.lastHeardMs;
  };
  await until(cluster, () => syncedSince() !== undefined && heardAt() > syncedSince()! + 100, 30_000, 'the restarted agent synced with the parent');
  const {dsc} = cluster.daemon.store.get(target.id)!;
  assert.is(dsc.runState, 'SYNC', `runState (why: ${JSON.stringify(cluster.daemon.engine.why(target.id))})`);
  assert.is(machine.boots, boots, 'no power cycle');
  assert.is(agent.store.get(target.id)?.dsc.runState, 'SYNC', 'the agent knows its node is SYNC');
  const lost = cluster.daemon.store.history(target.id).filter((h) => h.time >= restarted && h.kind === 'dsc' && h.url === '/runState' && h.value !== 'SYNC');
  assert.equal(lost, [], 'the parent never took the restarted agent\'s unknown runState for its state');
});

test('an agent that stays dead: the parent sees the node leave SYNC, and the engine recovers it by a power cycle', async () => {
  const {cluster, target} = await trioWithNode(2);
  const machine = cluster.world.machines.get(target.id) as Machine;
  const boots = machine.boots;
  const killed = Date.now();
  await machine.killAgent();
  const left = () => cluster.daemon.store.history(target.id).find((h) => h.time >= killed && h.kind === 'dsc' && h.url === '/runState' && h.value !== 'SYNC');
  await until(cluster, () => left() !== undefined, 30_000, 'the node leaves SYNC');
  assert.is(left()!.value, 'ERROR', 'a silent agent is ERROR at the parent');
  await until(cluster, () => machine.boots > boots && converged(cluster, target.id), 60_000, 'the node power-cycled and SYNC again');
  assert.is(cluster.daemon.store.get(target.id)!.dsc.runState, 'SYNC');
});

test('a time scale that is not a number above 0 is refused before anything starts', async () => {
  for (const bad of [0, -1, Number.NaN, Infinity]) {
    const error = await startCluster({nodes: 1, modules, timeScale: bad}).then(async (c) => {
      await c.stop();
      return undefined;
    }, (e: Error) => e);
    assert.match(error?.message ?? 'started', /^startCluster: timeScale must be a number above 0/, String(bad));
  }
});

test('a world in two processes: converges, heals a machine powered off behind its back, leaves no process', async () => {
  const cliRoot = new URL('../../..', import.meta.url).pathname; // the layercake CLI: the agents load its plugins
  const cluster = await startCluster({nodes: 8, modules, helloInterval: 1000, worldProcesses: 2, cliRoot, timeScale});
  const pids = (cluster.world as WorldProcesses).pids;
  try {
    assert.is(pids.length, 2);
    const urls = new Set(cluster.nodes.map((n) => (n.extensions as {sim: {bmcUrl: string}}).sim.bmcUrl));
    assert.is(urls.size, 2, 'each world process answers for its own machines\' BMCs');
    cluster.daemon.store.apply(cluster.nodes, {source: 'test'});
    await until(cluster, () => convergence(cluster).converged === 8, 90_000, 'all 8 converged');
    const target = cluster.nodes[3] as {id: string; extensions: {sim: {bmcUrl: string}}};
    const before = cluster.world.machines.get(target.id)!.boots;
    const res = await fetch(`${target.extensions.sim.bmcUrl}/bmc/${target.id}/power`, {method: 'POST', body: JSON.stringify({action: 'off'})});
    assert.is(res.status, 200);
    // The sim module's status poll notices, and the engine boots the machine again.
    await until(cluster, () => cluster.world.machines.get(target.id)!.boots > before && convergence(cluster).converged === 8, 60_000, 'the machine healed');
    assert.ok(cluster.daemon.store.history(target.id).some((h) => h.kind === 'dsc' && h.url === '/physState' && h.value === 'POWER_OFF'), 'the power-off was discovered');
  } finally {
    await cluster.stop();
  }
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `world process ${pid} is gone`);
});

test.run();
