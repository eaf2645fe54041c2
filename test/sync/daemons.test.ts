/**
 * State sync between REAL daemon processes on loopback (store, engine, modules, API, sync): 50 children
 * phone home and reach SYNC; cfg changes are pushed down; the children's own discoveries come up;
 * a state larger than a datagram syncs; field ownership; forged, replayed, unknown and mismatched
 * datagrams are dropped and counted in /metrics; a killed child is ERROR within the dead interval and
 * re-syncs when back; a parent killed and restarted gets every child back with nothing lost; a child
 * that is itself a parent; a phone-home out of turn is refused.
 *
 * Timers are shortened (hello 200 ms, dead 1 s) so that the whole file runs in well under a minute.
 */
import {execFile as execFileCb} from 'node:child_process';
import dgram from 'node:dgram';
import {randomBytes, randomUUID} from 'node:crypto';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../src/api/client/client.js';
import type {NodeView} from '../../src/model/node.js';
import {newJoinSecret} from '../../src/sync/index.js';
import {canonical} from '../../src/sync/leaves.js';
import {MsgType, encodeHello} from '../../src/sync/wire.js';
import {BIN} from '../support/cli.js';
import {FakeChild} from './support/fake-child.js';
import {Host, SYNC_TEST_TOKEN, until, type DaemonSpec} from './support/hosts.js';

const execFile = promisify(execFileCb);
const dir = mkdtempSync(join(tmpdir(), 'lc-sync-'));
const HELLO = 200;
const DEAD = 1000;
const timers = {helloInterval: HELLO, deadInterval: DEAD, retransmit: 50, phoneHomeRetry: 100, phoneHomeRetryMax: 500, fullStateInterval: '3s'};

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const P = randomUUID();
const parentPort = await freeUdpPort();
const parentAddr = `127.0.0.1:${parentPort}`;
const parentSpec: DaemonSpec = {stateDir: join(dir, 'parent'), id: P, nodename: 'head', sync: {...timers, listen: parentAddr}};
const N = 50;
const WATCH = ['/extensions/probe/echo'];
const kids = Array.from({length: N}, (_, i) => ({id: randomUUID(), name: `c${String(i + 1).padStart(2, '0')}`, secret: i === 0 ? '' : newJoinSecret()}));
const kidSpec = (k: (typeof kids)[number]): DaemonSpec => ({stateDir: join(dir, k.name), id: k.id, parent: parentAddr, joinSecret: k.secret, sync: {...timers, listen: '127.0.0.1:0'}});
// Two hosts of 25 and 24 daemons (one per core: a host process costs more to start than ten daemons in
// it), and the last child alone in its own process so that it can be killed.
const groups = [kids.slice(0, 25), kids.slice(25, 49), kids.slice(49)];

let parent: Host;
const hosts: (Host | undefined)[] = [];
const hostOf = (i: number) => ({host: hosts[groups.findIndex((g) => g.includes(kids[i]!))]!, index: groups.find((g) => g.includes(kids[i]!))!.indexOf(kids[i]!)});
const views = async () => new Map((await parent.request<NodeView[]>('views')).map((v) => [v.cfg.id, v]));
const probe = (v: NodeView | undefined, view: 'cfg' | 'dsc') => (v?.[view].extensions.probe ?? {}) as {state?: string; echo?: string; blob?: string};
const metric = (text: string, reason: string) => Number(new RegExp(`^layercake_sync_dropped_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
const node = (k: {id: string; name: string; secret: string}, extra: Record<string, unknown> = {}) => ({
  id: k.id, nodename: k.name, parentId: P, physState: 'POWER_ON', runState: 'SYNC',
  extensions: {probe: {state: 'READY'}, ...(k.secret ? {sync: {joinSecret: k.secret}} : {})}, ...extra,
});

test.after(async () => {
  fake?.close();
  await Promise.all([parent, ...hosts].map((h) => h?.kill()));
  rmSync(dir, {recursive: true, force: true});
});

test('50 children phone home, reach SYNC, and their own discoveries reach the parent', async () => {
  parent = await Host.start([parentSpec], {watch: WATCH});
  await parent.request('apply', {inputs: kids.map((k) => node(k))});
  // c01 was created without a join secret: the parent generates one (PXE would hand it to the node).
  kids[0]!.secret = await until('a generated join secret', async () => {
    const v = await parent.request<NodeView>('view', {node: kids[0]!.id});
    return (v.cfg.extensions.sync as {joinSecret?: string} | undefined)?.joinSecret;
  }, 5000);
  assert.match(kids[0]!.secret, /^[0-9a-f]{64}$/);
  const made = await Promise.all(groups.map((g) => Host.start(g.map(kidSpec), {watch: WATCH})));
  const started = Date.now();
  hosts.push(...made);
  await until('every child SYNC with probe READY at the parent', async () => {
    const all = await views();
    return kids.every((k) => all.get(k.id)?.dsc.runState === 'SYNC' && probe(all.get(k.id), 'dsc').state === 'READY');
  }, 30_000, 100);
  console.log(`    50 children SYNC and READY ${Date.now() - started} ms after the last of their ${groups.length} processes was up`);
  // Each child holds the parent's cfg for itself, without the secret.
  const {host, index} = hostOf(7);
  const own = await host.request<NodeView>('view', {node: kids[7]!.id}, index);
  assert.is(own.cfg.nodename, kids[7]!.name);
  assert.is(own.cfg.parentId, P);
  assert.is(own.cfg.extensions.sync, undefined, 'the join secret never travels');
  assert.is(own.dsc.runState, 'SYNC', 'the parent-owned runState came down (the SELF probe requires it)');
  assert.is(probe(own, 'dsc').state, 'READY');
  const status = await parent.request<{children: {state: string}[]}>('status');
  assert.is(status.children.filter((c) => c.state === 'synced').length, N);
  // The same through the API (GET /sync) and the CLI, on the parent and on a child.
  const viaApi = await new ApiClient({url: `http://${parent.daemons[0]!.api}`, token: SYNC_TEST_TOKEN}).syncStatus();
  assert.ok(viaApi.enabled && viaApi.children.length === N && viaApi.children.every((c) => c.state === 'synced' && c.address), JSON.stringify(viaApi).slice(0, 300));
  const ofChild = await new ApiClient({url: `http://${host.daemons[index]!.api}`, token: SYNC_TEST_TOKEN}).syncStatus();
  assert.ok(ofChild.enabled && ofChild.parent?.state === 'synced' && ofChild.parent.parentId === P, JSON.stringify(ofChild));
  const cli = async (...args: string[]) => (await execFile(process.execPath, [BIN, 'sync', 'status', '--url', `http://${parent.daemons[0]!.api}`, '--token', SYNC_TEST_TOKEN, ...args], {cwd: dir, env: {...process.env, HOME: dir, NO_COLOR: '1'}, encoding: 'utf8'})).stdout;
  const [asJson, text, all] = await Promise.all([cli('--json'), cli(), cli('--all')]);
  const json = JSON.parse(asJson) as {children: {state: string}[]};
  assert.is(json.children.filter((c) => c.state === 'synced').length, N);
  assert.match(text, `children: ${N} (${N} synced, 0 pending, 0 not in session)`);
  assert.match(text, `${N} synced children not listed (--all lists them)`);
  assert.is(all.split('\n').filter((l) => / synced /.test(l)).length, N);
});

test('a cfg change on the parent is pushed to the child (after its commit), and the child\'s discovery comes back up', async () => {
  const api = new ApiClient({url: `http://${parent.daemons[0]!.api}`, token: SYNC_TEST_TOKEN});
  const fromCommit: number[] = [];
  const fromCall: number[] = [];
  const seen = (h: Host, daemon: number, value: string) => new Promise<number>((resolve) => {
    const on = (m: {daemon: number; value: unknown; t: number}) => {
      if (m.daemon === daemon && m.value === value) { h.off('cfg', on); resolve(m.t); }
    };
    h.on('cfg', on);
  });
  for (let round = 0; round < 20; round++) {
    const i = (round * 7) % N;
    const {host, index} = hostOf(i);
    const value = `round-${round}-${randomUUID().slice(0, 8)}`;
    const committed = seen(parent, 0, value);
    const arrived = seen(host, index, value);
    const t0 = performance.timeOrigin + performance.now();
    await api.updateNode(kids[i]!.name, {extensions: {probe: {echo: value}}});
    const t1 = await arrived;
    fromCall.push(t1 - t0);
    fromCommit.push(t1 - (await committed));
    await until('the echo at the parent', async () => probe((await views()).get(kids[i]!.id), 'dsc').echo === value, 5000, 5);
  }
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
  const c = sorted(fromCommit);
  const e = sorted(fromCall);
  console.log(`    cfg change committed on the parent → in the child's store: median ${c[10]!.toFixed(1)} ms, max ${c[19]!.toFixed(1)} ms` +
    ` (from the API call, durable write included: median ${e[10]!.toFixed(1)} ms, max ${e[19]!.toFixed(1)} ms)`);
  // Each of the 20 arrived, pushed (how fast: bench/sync's fan-out rounds; timing is not a test's limit).
  assert.is(c.length, 20);
});

test('a node state far larger than one datagram syncs both ways', async () => {
  const blob = randomBytes(100_000).toString('hex'); // 200 KB: ~150 datagrams
  const i = 3;
  const {host, index} = hostOf(i);
  await parent.request('setCfg', {node: kids[i]!.id, url: '/extensions/probe/blob', value: blob});
  await until('the blob at the child', async () => probe(await host.request<NodeView>('view', {node: kids[i]!.id}, index), 'cfg').blob === blob, 10_000);
  await until('the blob mirrored back into the parent\'s dsc', async () => probe((await views()).get(kids[i]!.id), 'dsc').blob === blob, 10_000);
  await parent.request('setCfg', {node: kids[i]!.id, url: '/extensions/probe/blob', value: ''});
});

let fake: FakeChild;
const F = {id: randomUUID(), name: 'intruder', secret: newJoinSecret()};

test('field ownership: the parent\'s values are not the child\'s to change; stale reports lose; INITtoSYNC completes in session', async () => {
  await parent.request('apply', {inputs: [node(F)]});
  await until('F booted (INIT) on the parent', async () => (await views()).get(F.id)?.dsc.runState === 'INIT', 5000);
  fake = new FakeChild(F.id, F.secret, {address: '127.0.0.1', port: parentPort});
  await fake.open();
  const first = await fake.join();
  fake.keepAlive(HELLO / 2);
  assert.is(first.f, 1);
  assert.is(first.n, F.id);
  assert.is(first.d?.['/runState'], 'SYNC', 'the phone-home made the node SYNC and the value comes down');
  assert.is(first.c?.['/extensions/sync/joinSecret'], undefined, 'secrets stay on the parent');
  // physState is the parent's (only CHILD-context mutations change it): a child's word is ignored.
  fake.state({n: F.id, v: 1, b: 0, a: first.v, f: 1, d: {'/physState': 'POWER_OFF', '/extensions/probe/echo': 'from-the-child'}});
  await until('the echo applied', async () => probe((await views()).get(F.id), 'dsc').echo === 'from-the-child', 3000);
  assert.is((await views()).get(F.id)!.dsc.physState, 'POWER_ON');
  // runState is shared: a report made before the child saw the parent's SYNC is stale.
  fake.state({n: F.id, v: 2, b: 1, a: 0, f: 0, d: {'/runState': 'INIT'}});
  await new Promise((r) => setTimeout(r, 200));
  assert.is((await views()).get(F.id)!.dsc.runState, 'SYNC');
  // The same report once it has seen it is the child's word (it went SYNC→INIT by itself, like imageset's
  // SYNCtoINIT); cfg still says SYNC, so the engine fires sync/INITtoSYNC, which completes at once in session.
  fake.state({n: F.id, v: 3, b: 2, a: first.v + 100, f: 0, d: {'/runState': 'INIT'}});
  await until('INIT recorded at the parent', async () => (await parent.request<{kind: string; url?: string; value?: unknown; source?: string}[]>('history', {node: F.id}))
    .some((e) => e.kind === 'dsc' && e.url === '/runState' && e.value === 'INIT' && e.source === 'sync'), 3000);
  await until('SYNC again through sync/INITtoSYNC', async () => (await views()).get(F.id)!.dsc.runState === 'SYNC', 3000);
  const counters = await parent.request<{ignored: Record<string, number>}>('counters');
  assert.ok(counters.ignored.parent_owned! >= 1);
  assert.ok(counters.ignored.stale! >= 1);
});

test('forged HMAC, replayed sequence, unknown sender and mismatched payload id are dropped and counted in /metrics', async () => {
  const api = new ApiClient({url: `http://${parent.daemons[0]!.api}`, token: SYNC_TEST_TOKEN});
  const before = await api.metrics();
  const reasons = ['bad_hmac', 'replay', 'unknown_sender', 'payload_id'];
  fake.raw(fake.build(MsgType.HELLO, encodeHello(0, 0), {key: randomBytes(32)})); // forged
  const once = fake.hello();
  await new Promise((r) => setTimeout(r, 50));
  fake.raw(once); // replayed, byte for byte
  fake.raw(fake.build(MsgType.HELLO, encodeHello(0, 0), {sender: randomUUID()})); // unknown sender
  fake.state({n: kids[1]!.id, v: 50, b: 0, a: 0, f: 1, d: {'/extensions/probe/echo': 'pwned'}}); // another node's id
  const after = await until('the four drops counted', async () => {
    const text = await api.metrics();
    return reasons.every((r) => metric(text, r) === metric(before, r) + 1) ? text : undefined;
  }, 3000);
  for (const r of reasons) assert.is(metric(after, r), metric(before, r) + 1, r);
  assert.is.not(probe((await views()).get(kids[1]!.id), 'dsc').echo, 'pwned');
  fake.close();
  // Deleting nodes, in session (F) or never synced (the original crashed on the latter), ends F's session and nothing else.
  const ghost = {id: randomUUID(), name: 'ghost', secret: newJoinSecret()};
  await parent.request('apply', {inputs: [node(ghost)]});
  await parent.request('delete', {ids: [F.id, ghost.id]});
  const status = await parent.request<{children: {id: string; state: string}[]}>('status');
  assert.not.ok(status.children.some((c) => c.id === F.id || c.id === ghost.id));
  assert.is(status.children.filter((c) => c.state === 'synced').length, N);
});

test('a killed child is ERROR at the parent within the dead interval, and re-syncs when it is back', async () => {
  const last = groups.length - 1;
  const k = kids[N - 1]!;
  const tKill = Date.now();
  await hosts[last]!.kill();
  const error = await until('ERROR at the parent', async () => (await parent.request<{time: number; kind: string; url?: string; value?: unknown}[]>('history', {node: k.id}))
    .find((e) => e.kind === 'dsc' && e.url === '/runState' && e.value === 'ERROR' && e.time >= tKill), DEAD + 2000, 10);
  const elapsed = error.time - tKill;
  console.log(`    killed child declared ERROR ${elapsed} ms after the kill (dead interval ${DEAD} ms, hello ${HELLO} ms)`);
  // The dead timer runs from the last datagram heard, at most one hello before the kill: not declared early.
  assert.ok(elapsed >= DEAD - HELLO, `declared ERROR ${elapsed} ms after the kill, before the dead interval (${DEAD} ms) could have run out`);
  // Back as a new daemon on the same state dir, in another host's process (a process start costs more).
  await hosts[0]!.add([kidSpec(k)]);
  await until('SYNC again, probe READY', async () => {
    const v = (await views()).get(k.id);
    return v?.dsc.runState === 'SYNC' && probe(v, 'dsc').state === 'READY';
  }, 15_000);
});

test('a parent killed and restarted: every child phones home again, nothing lost', async () => {
  const cfgBefore = new Map([...(await views())].map(([id, v]) => [id, canonical(v.cfg)]));
  const echoes = new Map([...(await views())].map(([id, v]) => [id, probe(v, 'cfg').echo]));
  await parent.kill();
  const t0 = Date.now();
  parent = await Host.start([parentSpec], {watch: WATCH});
  const back = (v: NodeView | undefined) => v?.dsc.runState === 'SYNC' && probe(v, 'dsc').state === 'READY' && (probe(v, 'dsc').echo ?? '') === (echoes.get(v.cfg.id) ?? '');
  await until('every child SYNC and READY again', async () => {
    const all = await views();
    return kids.every((k) => back(all.get(k.id)));
  }, 30_000, 100).catch(async (error) => {
    const all = await views();
    for (const k of kids.filter((x) => !back(all.get(x.id)))) console.log(k.name, JSON.stringify(all.get(k.id)?.dsc), 'cfg echo', echoes.get(k.id));
    throw error;
  });
  console.log(`    all 50 children back in SYNC ${Date.now() - t0} ms after the parent was killed (restart included)`);
  const all = await views();
  for (const [id, c] of cfgBefore) assert.is(canonical(all.get(id)?.cfg), c, `cfg of ${id} intact`);
  const {host, index} = hostOf(11);
  const own = await host.request<NodeView>('view', {node: kids[11]!.id}, index);
  assert.is(canonical(own.cfg.extensions.probe), canonical(all.get(kids[11]!.id)!.cfg.extensions.probe));
});

test('a child that is itself a parent; a phone-home out of turn is refused until the node is expected', async () => {
  const M = {id: randomUUID(), name: 'mid', secret: newJoinSecret()};
  const L = {id: randomUUID(), name: 'leaf', secret: newJoinSecret()};
  const X = {id: randomUUID(), name: 'early', secret: newJoinSecret()};
  const midPort = await freeUdpPort();
  await parent.request('apply', {inputs: [node(M), node(X, {runState: 'UNKNOWN', extensions: {probe: {state: 'UNKNOWN'}, sync: {joinSecret: X.secret}}})]});
  // Started in a running host process (beside 24 children of the root): three more daemons of their own.
  const h = hosts[1]!;
  const [mid, leaf, early] = await h.add([
    {stateDir: join(dir, 'mid'), id: M.id, parent: parentAddr, joinSecret: M.secret, sync: {...timers, listen: `127.0.0.1:${midPort}`}},
    {stateDir: join(dir, 'leaf'), id: L.id, parent: `udp://127.0.0.1:${midPort}`, joinSecret: L.secret, sync: {...timers, listen: '127.0.0.1:0'}},
    {stateDir: join(dir, 'early'), id: X.id, parent: parentAddr, joinSecret: X.secret, sync: {...timers, listen: '127.0.0.1:0'}},
  ]) as [number, number, number];
  await until('mid SYNC at the root', async () => (await views()).get(M.id)?.dsc.runState === 'SYNC', 10_000);
  // The leaf is mid's child: it exists in mid's store (created through mid, as an operator of that subtree would).
  await h.request('apply', {inputs: [{...node(L), parentId: M.id}]}, mid);
  await until('leaf SYNC and READY at mid', async () => {
    const v = await h.request<NodeView>('view', {node: L.id}, mid);
    return v?.dsc.runState === 'SYNC' && probe(v, 'dsc').state === 'READY';
  }, 10_000);
  const leafOwn = await h.request<NodeView>('view', {node: L.id}, leaf);
  assert.is(leafOwn.cfg.parentId, M.id);
  // X: cfg runState UNKNOWN (and nothing in its cfg needs SYNC), so nothing boots it: its dsc stays UNKNOWN, not expected.
  await until('a refusal', async () => (await h.request<{parent: {lastRefusal?: string}}>('status', {}, early)).parent.lastRefusal, 5000).catch(async (e) => {
    console.log(JSON.stringify(await h.request('status', {}, early)), JSON.stringify(await h.request('counters', {}, early)), JSON.stringify(await parent.request('counters')), JSON.stringify((await views()).get(X.id)?.dsc));
    throw e;
  });
  assert.is((await views()).get(X.id)!.dsc.runState, 'UNKNOWN');
  await parent.request('apply', {inputs: [{id: X.id, runState: 'SYNC', extensions: {probe: {state: 'READY'}}}]});
  await until('X SYNC once expected', async () => (await views()).get(X.id)?.dsc.runState === 'SYNC', 10_000);
  const text = await new ApiClient({url: `http://${parent.daemons[0]!.api}`, token: SYNC_TEST_TOKEN}).metrics();
  assert.match(text, /layercake_sync_phone_home_total\{result="refused"\} [1-9]/);
});

test.run();
