/**
 * bench/sync: one real parent daemon (test/sync/support/daemon-host.ts: store, engine, modules, API,
 * sync) and 10,000 children on loopback (real SyncEngines over store doubles, one process of them per CPU).
 *
 * Prints: the time for the children to phone home and reach SYNC; the fan-out time of a cfg change of
 * every node (one durable write on the parent) until the last child has it; datagrams per second; the
 * parent's CPU share at steady state with the default timers (hello 10 s, dead 40 s, full state 60 s).
 * Targets (ratios printed against them): fan-out < 1 s, steady-state parent CPU < 5% of one core.
 *
 * Env: BENCH_SYNC_N (children, default 10000), BENCH_SYNC_PROCS (child processes, default one per CPU:
 *      more processes than cores only add wake-ups and context switches, which loopback makes the sender pay),
 *      BENCH_SYNC_WINDOW_S (steady-state window, default 60: one full-state cycle), BENCH_SYNC_ROUNDS (fan-out rounds, default 3).
 */
import {fork} from 'node:child_process';
import dgram from 'node:dgram';
import {createHmac, createSecretKey, randomUUID, timingSafeEqual} from 'node:crypto';
import {mkdtempSync, rmSync} from 'node:fs';
import {availableParallelism, tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {newJoinSecret} from '../../src/sync/index.js';
import {Host, until} from '../../test/sync/support/hosts.js';
import {checksumCost} from '../checksums.js';

const N = Number(process.env.BENCH_SYNC_N ?? 10_000);
const PROCS = Number(process.env.BENCH_SYNC_PROCS ?? availableParallelism());
const WINDOW_S = Number(process.env.BENCH_SYNC_WINDOW_S ?? 60);
const FANOUT_TARGET_MS = 1000;
const CPU_TARGET_PCT = 5;

/**
 * The baseline, measured first in the same run: N signed datagrams out and N signed answers back
 * between this process and PROCS echo processes (HMAC verified both ways, at most 512 in flight), with
 * no state at all: the floor under a fan-out on this machine.
 */
async function baseline(): Promise<number> {
  const key = createSecretKey(Buffer.alloc(32, 7));
  const echoes = Array.from({length: PROCS}, () => fork(fileURLToPath(new URL('./echo.ts', import.meta.url)), ['64'], {execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']}));
  try {
    const ports = (await Promise.all(echoes.map((e) => new Promise<number[]>((r) => e.once('message', (m: {ports: number[]}) => r(m.ports)))))).flat();
    const sock = dgram.createSocket({type: 'udp4', recvBufferSize: 4 << 20});
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    let answered = 0;
    let sent = 0;
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      const sendOne = () => {
        const out = Buffer.allocUnsafe(94);
        out.fill(sent & 0xff, 0, 62);
        createHmac('sha256', key).update(out.subarray(0, 62)).digest().copy(out, 62);
        sock.send(out, ports[sent % ports.length]!, '127.0.0.1');
        sent++;
      };
      sock.on('message', (m) => {
        const mac = createHmac('sha256', key).update(m.subarray(0, 62)).digest();
        if (!timingSafeEqual(mac, m.subarray(62))) return;
        if (++answered === N) resolve();
        else if (sent < N) sendOne();
      });
      while (sent < Math.min(512, N)) sendOne();
    });
    await done;
    const ms = performance.now() - t0;
    sock.close();
    return ms;
  } finally {
    for (const e of echoes) e.kill();
  }
}

const floorMs = await baseline();
console.log(`baseline: ${N} signed datagrams out and ${N} signed answers back (no state), ${PROCS} echo processes: ${floorMs.toFixed(0)} ms`);

const dir = mkdtempSync(join(tmpdir(), 'lc-bench-sync-'));
const s = dgram.createSocket('udp4');
await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
const port = s.address().port;
await new Promise<void>((r) => s.close(() => r()));
const parentAddr = `127.0.0.1:${port}`;
const P = randomUUID();
const sync = {}; // the defaults: hello 10 s, dead 40 s, full state every 60 s

const children: ReturnType<typeof fork>[] = [];
let parent: Host | undefined;
const cleanup = async () => {
  for (const c of children) c.kill('SIGKILL');
  await parent?.kill();
  rmSync(dir, {recursive: true, force: true});
};
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

try {
  parent = await Host.start([{stateDir: join(dir, 'parent'), id: P, nodename: 'head', sync: {...sync, listen: parentAddr}}]);
  const nodes = Array.from({length: N}, (_, i) => ({id: randomUUID(), secret: newJoinSecret(), name: `n${String(i + 1).padStart(5, '0')}`}));
  let t = Date.now();
  await parent.request('apply', {inputs: nodes.map((n) => ({
    id: n.id, nodename: n.name, parentId: P, physState: 'POWER_ON', runState: 'SYNC',
    extensions: {sync: {joinSecret: n.secret}, probe: {echo: 'v0'}},
  }))});
  const applyMs = Date.now() - t;
  console.log(`parent: ${N} nodes applied in ${applyMs} ms`);

  // The children, PROCS processes.
  const messages: {m: Record<string, unknown>; from: number}[] = [];
  const script = fileURLToPath(new URL('./children.ts', import.meta.url));
  t = Date.now();
  for (let p = 0; p < PROCS; p++) {
    // Interleaved: consecutive nodes live in different processes, as they would on different machines
    // (the parent works through its children in store order; a block per process would serialise them).
    const slice = nodes.filter((_, i) => i % PROCS === p).map((n) => ({id: n.id, secret: n.secret}));
    const c = fork(script, [], {execArgv: [...(process.env.BENCH_SYNC_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']});
    c.on('message', (m: Record<string, unknown>) => messages.push({m, from: p}));
    c.send({op: 'init', spec: {parent: parentAddr, nodes: slice, sync}});
    children.push(c);
  }
  await until('child processes ready', () => messages.filter((x) => x.m.ready).length === PROCS, 120_000, 50);
  const up = Date.now();
  console.log(`children: ${N} sync engines up in ${PROCS} processes in ${up - t} ms`);
  await until(`${N} children SYNC at the parent`, async () => (await parent!.request<Record<string, number>>('summary')).SYNC === N, 300_000, 250);
  console.log(`phone-home: all ${N} children SYNC at the parent ${Date.now() - up} ms after their engines started`);
  await new Promise((r) => setTimeout(r, 2000));

  // Fan-out: one cfg change for every node, in one durable write.
  const fanouts: {total: number; fromCommit: number; write: number}[] = [];
  for (let round = 1; round <= Number(process.env.BENCH_SYNC_ROUNDS ?? 3); round++) {
    const value = `v${round}`;
    messages.length = 0;
    for (const c of children) c.send({op: 'expect', value});
    await until('children expecting', () => messages.filter((x) => x.m.expecting !== undefined).length === PROCS, 10_000, 5);
    const cpu0 = await parent.request<{usage: NodeJS.CpuUsage; retransmits: number; sent: number}>('cpu');
    const prof = process.env.BENCH_SYNC_PROFILE_FANOUT && round === 3 ? parent.request<string[]>('profile', {ms: 3000}) : undefined;
    if (prof) children[0]!.send({op: 'profile', value: 3000});
    const r = await parent.request<{t0: number; committed: number; nodes: number}>('setAll', {url: '/extensions/probe/echo', value});
    await until(`round ${round}: every child has the change`, () => messages.filter((x) => x.m.arrived).length === PROCS, 60_000, 5);
    const last = Math.max(...messages.filter((x) => x.m.arrived).map((x) => (x.m.arrived as {last: number}).last));
    const cpu1 = await parent.request<{usage: NodeJS.CpuUsage; retransmits: number; sent: number}>('cpu');
    const parentCpuMs = (cpu1.usage.user - cpu0.usage.user + cpu1.usage.system - cpu0.usage.system) / 1000;
    const childrenCpuMs = messages.filter((x) => x.m.arrived).reduce((n, x) => n + (x.m.arrived as {cpuMs: number}).cpuMs, 0);
    fanouts.push({total: last - r.t0, fromCommit: last - r.committed, write: r.committed - r.t0});
    if (prof) {
      console.log('parent:\n' + (await prof).join('\n'));
      await until('child profile', () => messages.some((x) => x.m.profile), 10_000, 50);
      console.log('one child process:\n' + (messages.find((x) => x.m.profile)!.m.profile as string[]).join('\n'));
    }
    console.log(`fan-out round ${round}: ${r.nodes} cfg changes → last child ${(last - r.t0).toFixed(0)} ms after the write began (${(last - r.committed).toFixed(0)} ms after it was durable);` +
      ` CPU used: parent ${parentCpuMs.toFixed(0)} ms (the write ${(r.committed - r.t0).toFixed(0)} ms of it), children ${childrenCpuMs.toFixed(0)} ms; parent sent ${cpu1.sent - cpu0.sent} datagrams (${cpu1.retransmits - cpu0.retransmits} retransmissions)`);
    await new Promise((res) => setTimeout(res, 1000));
  }

  // Steady state: let retransmissions and the first full-state cycle pass, then measure.
  console.log(`steady state: measuring the parent for ${WINDOW_S} s ...`);
  await new Promise((r) => setTimeout(r, 3000));
  type Cpu = {usage: NodeJS.CpuUsage; t: number; sent: number; received: number; retransmits: number; rss: number; byType: {sent: Record<string, number>; received: Record<string, number>}; ignored: Record<string, number>; dropped: Record<string, number>};
  const a = await parent.request<Cpu>('cpu');
  if (process.env.BENCH_SYNC_PROFILE) console.log((await parent.request<string[]>('profile', {ms: WINDOW_S * 1000})).join('\n'));
  else await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  const b = await parent.request<Cpu>('cpu');
  const seconds = (b.t - a.t) / 1000;
  const cpuPct = ((b.usage.user - a.usage.user + b.usage.system - a.usage.system) / 1e6 / seconds) * 100;
  const userPct = ((b.usage.user - a.usage.user) / 1e6 / seconds) * 100;
  const inRate = (b.received - a.received) / seconds;
  const outRate = (b.sent - a.sent) / seconds;
  const summary = await parent.request<Record<string, number>>('summary');
  if (process.env.BENCH_SYNC_DEBUG) {
    const delta = (x: Record<string, number>, y: Record<string, number>) => Object.fromEntries(Object.keys(y).map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0)]));
    console.log('window by type', JSON.stringify({sent: delta(a.byType.sent, b.byType.sent), received: delta(a.byType.received, b.byType.received), ignored: delta(a.ignored, b.ignored), dropped: delta(a.dropped, b.dropped)}));
  }

  const best = Math.min(...fanouts.map((f) => f.total));
  const worst = Math.max(...fanouts.map((f) => f.total));
  console.log('');
  console.log(`sync bench, ${N} children on loopback (${PROCS} processes), default timers (hello 10 s, dead 40 s, full state 60 s):`);
  const bestAfterWrite = Math.min(...fanouts.map((f) => f.fromCommit));
  console.log(`  fan-out of a cfg change of every node: best ${best.toFixed(0)} ms, worst ${worst.toFixed(0)} ms from the start of the write  → ratio to the 1 s target: ${(worst / FANOUT_TARGET_MS).toFixed(2)} (< 1 is better)`);
  console.log(`  fan-out once the write is durable: best ${bestAfterWrite.toFixed(0)} ms  → ratio to the baseline (${floorMs.toFixed(0)} ms for the bare signed datagrams, no state): ${(bestAfterWrite / floorMs).toFixed(2)}`);
  console.log(`  steady state, parent: ${inRate.toFixed(0)} datagrams/s in, ${outRate.toFixed(0)} out; CPU ${cpuPct.toFixed(2)}% of one core (user ${userPct.toFixed(2)}%, kernel ${(cpuPct - userPct).toFixed(2)}%) → ratio to the 5% target: ${(cpuPct / CPU_TARGET_PCT).toFixed(2)} (< 1 is better)`);
  const sums = checksumCost(join(dir, 'parent', 'store', 'cfg.journal'));
  const writesMs = applyMs + fanouts.reduce((n, f) => n + f.write, 0);
  console.log(`  checksums: ${sums.ms.toFixed(2)} ms to CRC-32 the ${(sums.bytes / 2 ** 20).toFixed(1)} MB the parent's store wrote: ${(sums.ms / writesMs * 100).toFixed(2)}% of its writes (${writesMs.toFixed(0)} ms: the apply and the fan-out writes), ${(sums.ms / best * 100).toFixed(2)}% of the best fan-out`);
  console.log(`  parent RSS ${(b.rss / 2 ** 20).toFixed(0)} MB; retransmissions in the window ${b.retransmits - a.retransmits}; children SYNC at the end: ${summary.SYNC ?? 0}/${N}`);
  for (const c of children) c.send({op: 'stop'});
  await parent.stop();
} finally {
  await cleanup();
}
