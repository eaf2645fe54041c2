/**
 * Staged rolls and busy/free from the built CLI against the simulated cluster (the real daemon, engine,
 * sync and imageset; each agent serves its API on a socket as a real node's does): batches in hostlist
 * order with at most --max-unavailable nodes out of service (read from the parent's state changes, not
 * from timing); a failed batch stops the roll and the later nodes keep their image; --resume finishes it
 * once the image exists; a BUSY node holds its batch until `layercake free`; `busy --for` expires; bad
 * input is refused with nothing changed.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {ModuleSpec} from '@layercake/sdk';
import {busyModule, syncModule} from '@layercake/sdk/embed';
import {pxeModule} from '@layercake/plugin-pxe';
import {imagesetModule, rollModule} from '@layercake/plugin-imageapi';
import {requireBuild, sandbox} from '../../../test/support/cli.js';
import {until as waitUntil} from './support/until.js';
import {convergence, simModule, SIM_IMAGES, startCluster, type SimulatedCluster} from '../src/index.js';

requireBuild();
const modules = [syncModule, busyModule, pxeModule, imagesetModule, rollModule, simModule] as ModuleSpec[];
const box = sandbox('lc-roll-sim-');
let cluster: SimulatedCluster;
const NODES = ['n01', 'n02', 'n03', 'n04'];

test.before(async () => {
  cluster = await startCluster({nodes: 4, modules, helloInterval: 500, timeScale: 0.25, agentSockets: true});
  cluster.daemon.store.events.subscribe({types: ['STATE_CHANGE']}, () => snapshot());
  cluster.daemon.store.apply(cluster.nodes, {source: 'test'});
  await until(() => convergence(cluster).converged === 4, 90_000, 'all 4 converged');
});
test.after(async () => {
  await cluster?.stop();
  await box.cleanup();
});

const until = (done: () => boolean, ms: number, what: string) => waitUntil(cluster, done, ms, what);

const api = () => ['--url', `http://${cluster.daemon.listenAddress}`, '--token', cluster.daemon.token];
const lc = (args: string[]) => box.run([...args, ...api()], {timeoutMs: 180_000});
/** `layercake ARGS` on the node: against its agent's local socket, as a prolog or epilog runs it. */
const onNode = (name: string, args: string[]) => box.run([...args, '--url', `unix:${agentOf(name).socketPath}`], {timeoutMs: 60_000});
const idOf = (name: string) => cluster.machines.find((m) => m.nodename === name)!.id;
const agentOf = (name: string) => cluster.world.machines.get(idOf(name))!.agent!;
const view = (name: string) => cluster.daemon.store.get(idOf(name))!;
type Set = {state?: string; images?: Record<string, {source?: {path?: string}; state?: string}>};
const dscSet = (name: string) => (view(name).dsc.extensions.imageset ?? {}) as Set;
const cfgPath = (name: string) => ((view(name).cfg.extensions.imageset ?? {}) as Set).images?.base?.source?.path;
const runs = (name: string, path: string) => dscSet(name).state === 'ACTIVE' && dscSet(name).images?.base?.source?.path === path && dscSet(name).images?.base?.state === 'ACTIVE';
const cfgs = () => NODES.map((n) => structuredClone(view(n).cfg));
const rollRecord = () => cluster.daemon.store.get(cluster.daemon.selfId)!.cfg.extensions.roll as {status: string; rolled: number; failed: {node: string; reason: string}[]} | undefined;

/** After every state change the parent records: per node, the image path in cfg, and what runs (a path, or '' out of service). */
interface Snapshot {
  cfg: Record<string, string | undefined>;
  running: Record<string, string>;
}
const snapshots: Snapshot[] = [];
function snapshot(): void {
  if (!cluster || NODES.some((n) => !cluster.daemon.store.get(idOf(n)))) return;
  const cfg: Snapshot['cfg'] = {};
  const running: Snapshot['running'] = {};
  for (const n of NODES) {
    cfg[n] = cfgPath(n);
    running[n] = dscSet(n).state === 'ACTIVE' && dscSet(n).images?.base?.state === 'ACTIVE' ? dscSet(n).images?.base?.source?.path ?? '' : '';
  }
  snapshots.push({cfg, running});
}

/**
 * From snapshot `from` on: when each node's cfg first named `path`, when it first ran it, and the most
 * nodes out of service at any one time.
 */
function timeline(from: number, path: string) {
  const cfgAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  let most = 0;
  snapshots.slice(from).forEach((s, i) => {
    for (const n of NODES) {
      if (s.cfg[n] === path && !cfgAt.has(n)) cfgAt.set(n, i);
      if (s.running[n] === path && !doneAt.has(n)) doneAt.set(n, i);
    }
    most = Math.max(most, NODES.filter((n) => s.running[n] === '').length);
  });
  return {cfgAt, doneAt, most};
}

test('bad input: batch 0, max-unavailable below the batch, an unknown image, an unknown node, nothing to resume: clear errors, nothing changed', async () => {
  const before = cfgs();
  const cases: [string[], number, RegExp][] = [
    [['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-v2.sqfs', '--batch', '0', '--yes'], 2, /^Error \[LC_ERR_USAGE\]: --batch 0: a batch is at least 1 node/],
    [['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-v2.sqfs', '--batch', '2', '--max-unavailable', '1', '--yes'], 2, /^Error \[LC_ERR_USAGE\]: --max-unavailable 1 is less than --batch 2/],
    [['image', 'roll', 'n[01-04]', '--image', 'base=demo:v9', '--batch', '1', '--yes'], 2, /^Error \[LC_ERR_IMAGE_NOT_IN_CATALOGUE\]: demo:v9 is not in the image catalogue/],
    [['image', 'roll', 'n[01-04],n09', '--image', 'base=/images/layer1-v2.sqfs', '--batch', '1', '--yes'], 1, /^Error \[LC_ERR_NODE_UNKNOWN\]: no node n09/],
    [['image', 'roll', '--resume', '--yes'], 2, /^Error \[LC_ERR_ROLL_NONE\]: no staged roll to resume/],
    [['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-v2.sqfs', '--batch', '1'], 2, /^Error \[LC_ERR_CONFIRM\]: Roll the images of 4 nodes \(n\[01-04\]\)/],
  ];
  // Each is refused on its own: they run at once.
  const results = await Promise.all(cases.map(([args]) => lc(args)));
  for (const [k, [args, code, message]] of cases.entries()) {
    const r = results[k];
    assert.is(r.code, code, `${args.join(' ')}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, r.stderr);
    assert.match(r.stderr, /Try this: .*nothing was changed|Try this: /);
  }
  assert.equal(cfgs(), before, 'no cfg changed');
  assert.is(rollRecord(), undefined, 'no roll recorded');
});

test('a staged roll of 4 nodes in batches of 2: hostlist order, a batch only after the last one rolled, never more than 2 out of service', async () => {
  const from = snapshots.length;
  const r = await lc(['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-v2.sqfs', '--batch', '2', '--max-unavailable', '2', '--yes', '--json']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const starts = (r.json.events as {event: string; nodes: string[]}[]).filter((e) => e.event === 'batch-start').map((e) => e.nodes);
  assert.equal(starts, [['n01', 'n02'], ['n03', 'n04']]);
  const {cfgAt, doneAt, most} = timeline(from, '/images/layer1-v2.sqfs');
  for (const n of NODES) assert.ok(cfgAt.has(n) && doneAt.has(n), `${n} changed and rolled`);
  assert.ok(Math.max(doneAt.get('n01')!, doneAt.get('n02')!) < Math.min(cfgAt.get('n03')!, cfgAt.get('n04')!), 'batch 2 starts after batch 1 runs v2');
  assert.ok(most >= 1 && most <= 2, `at most 2 out of service at once (saw ${most})`);
  for (const n of NODES) assert.ok(runs(n, '/images/layer1-v2.sqfs'), `${n} runs v2`);
  assert.is(rollRecord()?.status, 'done');
});

test('a failed batch stops the roll (the later nodes keep their image); --resume finishes it once the image exists', async () => {
  const r = await lc(['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-v3.sqfs', '--batch', '1', '--yes', '--timeout', '60s']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^Error \[LC_ERR_ROLL_FAILED\]: batch 1\/4 \(n01\) failed, the roll stopped: n01: image base: .*layer1-v3\.sqfs does not exist\. 0 node\(s\) rolled before it; 1 put back on their previous images; n\[02-04\] not touched\n {2}Try this: .*image roll --resume/);
  assert.is(cfgPath('n01'), '/images/layer1-v2.sqfs', 'n01 has its previous image back in cfg');
  for (const n of ['n02', 'n03', 'n04']) assert.is(cfgPath(n), '/images/layer1-v2.sqfs', `${n} was not touched`);
  for (const n of NODES) await until(() => runs(n, '/images/layer1-v2.sqfs'), 60_000, `${n} on v2`);
  assert.is(rollRecord()?.status, 'stopped');
  assert.match(rollRecord()!.failed[0].reason, /does not exist/);
  const busyNew = await lc(['image', 'roll', 'n01', '--image', 'base=/images/layer1-base.sqfs', '--batch', '1']);
  assert.is(busyNew.code, 2, 'a new staged roll while one is unfinished is refused');
  assert.match(busyNew.stderr, /LC_ERR_ROLL_UNFINISHED/);

  SIM_IMAGES.add('/images/layer1-v3.sqfs'); // the operator copies the missing image to the nodes
  const resumed = await lc(['image', 'roll', '--resume', '--yes']);
  assert.is(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.match(resumed.stdout, /resuming the roll of n\[01-04\] \(base=\/images\/layer1-v3\.sqfs\): 0\/4 rolled, batches of 1, at most 1 unavailable/);
  assert.match(resumed.stdout, /batch 4\/4 \(n04\): rolled \(4\/4 nodes\)/);
  for (const n of NODES) assert.ok(runs(n, '/images/layer1-v3.sqfs'), `${n} runs v3`);
  assert.is(rollRecord()?.status, 'done');
});

test('a BUSY node holds its batch until `layercake free` on the node; the roll says so', async () => {
  const b = await onNode('n02', ['busy', '--reason', 'slurm job 42', '--json']);
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.is(b.json.busy, true);
  assert.is(b.json.reason, 'slurm job 42');
  await until(() => view('n02').dsc.busy === 'BUSY', 30_000, 'the parent sees n02 BUSY');
  const status = await onNode('n02', ['busy', '--status']);
  assert.match(status.stdout, /^n02: BUSY \(slurm job 42\) since \S+\n$/);

  const from = snapshots.length;
  const rolling = lc(['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-base.sqfs', '--batch', '2', '--yes']);
  // n01 rolls; n02 is held (its set UPDATE, not rolled); batch 2 does not start meanwhile.
  await until(() => runs('n01', '/images/layer1-base.sqfs') && dscSet('n02').state === 'UPDATE', 60_000, 'n01 rolled, n02 held');
  assert.is(cfgPath('n03'), '/images/layer1-v3.sqfs', 'batch 2 waits for the BUSY node');
  assert.is(dscSet('n02').images?.base?.state, 'UPDATE', 'n02 waits to roll');
  const f = await onNode('n02', ['free']);
  assert.is(f.code, 0, f.stdout + f.stderr);
  assert.match(f.stdout, /^n02: FREE\n$/);
  const r = await rolling;
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /batch 1\/2 \(n\[01-02\]\): rolling\n {2}n02 is BUSY \(slurm job 42\) since \S+: it rolls once it is FREE/);
  const {cfgAt, doneAt} = timeline(from, '/images/layer1-base.sqfs');
  assert.ok(doneAt.get('n02')! < cfgAt.get('n03')!, 'batch 2 started after n02 rolled');
  for (const n of NODES) assert.ok(runs(n, '/images/layer1-base.sqfs'), `${n} runs base`);
});

test('busy --for: the parent sets the node FREE once the time has passed (an epilog that never ran)', async () => {
  const started = Date.now();
  const b = await onNode('n03', ['busy', '--reason', 'lost job', '--for', '1s']);
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /^n03: BUSY \(lost job\) since \S+, until \S+\n$/);
  // The parent's history of /busy: BUSY (synced up from the node), then FREE once the time had passed.
  const busyHistory = () => cluster.daemon.store.history(idOf('n03')).filter((h) => h.kind === 'dsc' && h.url === '/busy' && h.time >= started).map((h) => h.value);
  await until(() => busyHistory().join() === 'BUSY,FREE', 30_000, 'the parent sees n03 BUSY, then FREE');
  await until(() => agentOf('n03').store.get(idOf('n03'))!.dsc.busy === 'FREE', 30_000, 'the node itself FREE again');
  const status = await onNode('n03', ['busy', '--status', '--json']);
  assert.equal({busy: status.json.busy, reason: status.json.reason}, {busy: false, reason: ''});
});

test('nodes already out of service count against --max-unavailable: the batch does not start; --resume goes on once they are back', async () => {
  const n04 = idOf('n04');
  cluster.daemon.store.apply([{id: n04, extensions: {imageset: {images: {base: {source: {path: '/images/missing.sqfs'}}}}}}], {source: 'test'});
  await until(() => ['ERROR', 'FATAL'].includes(dscSet('n04').state ?? ''), 60_000, 'n04 out of service');
  const before = cfgs();
  const r = await lc(['image', 'roll', 'n[01-04]', '--image', 'base=/images/layer1-v2.sqfs', '--batch', '1', '--max-unavailable', '1', '--timeout', '1s', '--yes']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /batch 1\/4 \(n01\): 1 node\(s\) of the roll already out of service \(n04\); with the 1 of the batch that is over --max-unavailable 1: waiting for them/);
  assert.match(r.stderr, /^Error \[LC_ERR_ROLL_FAILED\]: batch 1\/4 \(n01\) could not start: n04 stayed out of service, over --max-unavailable 1, until the time limit/);
  assert.equal(cfgs(), before, 'no node was touched');
  assert.is(rollRecord()?.status, 'stopped');

  cluster.daemon.store.apply([{id: n04, extensions: {imageset: {images: {base: {source: {path: '/images/layer1-base.sqfs'}}}}}}], {source: 'test'});
  await until(() => runs('n04', '/images/layer1-base.sqfs'), 90_000, 'n04 back in service');
  const resumed = await lc(['image', 'roll', '--resume', '--yes']);
  assert.is(resumed.code, 0, resumed.stdout + resumed.stderr);
  for (const n of NODES) assert.ok(runs(n, '/images/layer1-v2.sqfs'), `${n} runs v2`);
  assert.is(rollRecord()?.status, 'done');
});

test.run();
