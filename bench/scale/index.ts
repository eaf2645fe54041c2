/**
 * bench/scale: N simulated nodes (default 1,000; --nodes 10000 for the large run) with zero simulated
 * delays boot through the real DHCP, HTTP boot, sync and imageset paths on loopback, from power on to
 * image ACTIVE. Baseline: bench/engine's time for the same number of nodes with an instant module set
 * (the engine alone), measured in the same run. Targets (issue 8): 1,000 nodes < 60 s, 10,000 < 10 min,
 * zero failed boots.   Usage: node --expose-gc --import tsx bench/scale/index.ts [--nodes 1000] [--world-processes 2]
 *   [--log-level error] [--json]
 */
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {monitorEventLoopDelay} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import type {ModuleSpec} from '@layercake/sdk';
import {syncModule} from '@layercake/sdk/embed';
import {pxeModule} from '@layercake/plugin-pxe';
import {imagesetModule} from '@layercake/plugin-imageapi';
import {convergence, simModule, startCluster, WorldProcesses} from '@layercake/plugin-sim';

const {values} = parseArgs({options: {nodes: {type: 'string', default: '1000'}, json: {type: 'boolean', default: false}, timeout: {type: 'string', default: '900'}, 'world-processes': {type: 'string', default: '2'}, 'log-level': {type: 'string', default: 'error'}}});
const N = Number(values.nodes);
const root = new URL('../..', import.meta.url).pathname;

const engineOnly = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/engine/index.ts', '--nodes', String(N), '--json'], {cwd: root, encoding: 'utf8'})) as {wallSeconds: number};

/**
 * Boot timeouts: the modules' own (90 s) up to 1,000 nodes. A storm of 10,000 on two cores queues for
 * the simulator's CPU (machines wait in POST for a boot slot) far longer than any one boot takes, so the
 * large run allows what an operator would set for such a storm: 15 minutes.
 */
const bootTimeouts = N <= 1000 ? 'modules' : '15m';
const rss0 = process.memoryUsage().rss;
let lastLog = '';
const cluster = await startCluster({
  nodes: N, modules: [syncModule, pxeModule, imagesetModule, simModule] as ModuleSpec[], bmcDelayMs: 0, postMs: 0,
  log: (message) => { lastLog = message; }, helloInterval: 10_000, bmcTimeout: 10_000, bootTimeouts, logLevel: values['log-level'], worldProcesses: Number(values['world-processes']), cliRoot: root,
});
// Interrupted: stop the cluster, so that no simulated machine (nor its containers' stand-ins) outlives us.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cluster.stop().finally(() => process.exit(130)));
}
let peakRss = 0;
let peakWorldRss = 0;
/** Resident set of a process (bytes), from /proc (the world's processes are not ours to ask). */
const rssOf = (pid: number) => {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0; // gone (the run is failing: its error says why)
  }
};
const worldPids = cluster.world instanceof WorldProcesses ? cluster.world.pids : [];
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  peakWorldRss = Math.max(peakWorldRss, worldPids.reduce((sum, pid) => sum + rssOf(pid), 0));
}, 500);
const t0 = performance.now();
cluster.daemon.store.apply(cluster.nodes, {source: 'bench'});
const deadline = Date.now() + Number(values.timeout) * 1000;
let c = convergence(cluster);
let nextReport = 10;
// The daemon's event-loop delay (the longest stall in each report interval): a stalled daemon misses hellos.
const lag = monitorEventLoopDelay({resolution: 20});
lag.enable();
while (!c.done && Date.now() < deadline) { // done: every node converged or given up
  await new Promise((r) => setTimeout(r, 250));
  c = convergence(cluster);
  const elapsed = (performance.now() - t0) / 1000;
  if (process.stderr.isTTY) process.stderr.write(`\r${elapsed.toFixed(0)} s  ${c.summary}   `);
  else if (elapsed >= nextReport) {
    process.stderr.write(`${elapsed.toFixed(0)} s  ${c.summary}; daemon stalled ≤ ${(lag.max / 1e6).toFixed(0)} ms${lastLog ? `; last: ${lastLog}` : ''}\n`);
    lag.reset();
    nextReport += 10;
  }
}
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
lag.disable();
const failed = [...cluster.daemon.engine.metrics.modules.values()].reduce((n, m) => n + m.failed, 0);
const reboots = [...cluster.world.machines.values()].filter((m) => m.boots !== 1).length;
/** Why things failed, with ids and addresses taken out so that alike reasons count together. */
const reasons = new Map<string, number>();
const count = (reason: string) => {
  const key = reason.replace(/[0-9a-f-]{36}/g, '<id>').replace(/127\.42\.\d+\.\d+/g, '<ip>').replace(/127\.0\.0\.1:\d+/g, '<service>');
  reasons.set(key, (reasons.get(key) ?? 0) + 1);
};
for (const m of cluster.world.machines.values()) if (m.lastError) count(`machine: ${m.lastError}`);
for (const m of cluster.machines) {
  for (const h of cluster.daemon.store.history(m.id)) if (h.kind === 'failure') count(`${h.mutation}: ${h.message ?? ''}`);
}
await cluster.stop();

const target = N <= 1000 ? 60 : 600;
const result = {
  nodes: N, converged: c.converged, seconds: +seconds.toFixed(1), failedMutations: failed, failedBoots: reboots,
  peakRssMB: Math.round(peakRss / 2 ** 20), rssPerNodeKB: Math.round((peakRss - rss0) / N / 1024), worldPeakRssMB: Math.round(peakWorldRss / 2 ** 20),
  failureReasons: Object.fromEntries(reasons), worldProcesses: Number(values['world-processes']),
  engineOnlySeconds: engineOnly.wallSeconds, ratioToEngineOnly: +(seconds / engineOnly.wallSeconds).toFixed(1), targetSeconds: target,
};
if (values.json) console.log(JSON.stringify(result));
else {
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(`bench/scale: ${N} simulated nodes, power on → DHCP → HTTP boot script → phone home → image ACTIVE, zero simulated delays`);
  console.log(`  converged: ${c.converged}/${N} in ${result.seconds} s (target < ${target} s: ${c.converged === N && seconds < target ? 'met' : 'NOT met'})`);
  console.log(`  failed mutations: ${failed}; machines that needed more than one boot: ${reboots} (target 0)`);
  for (const [reason, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`    ${n} × ${reason}`);
  console.log(`  peak RSS of the daemon ${result.peakRssMB} MB (${result.rssPerNodeKB} KB per node); of the world (${worldPids.length} processes: every agent and simulated ImageAPI) ${result.worldPeakRssMB} MB`);
  console.log(`  baseline: the engine alone converges ${N} nodes in ${engineOnly.wallSeconds} s (bench/engine); ratio ${result.ratioToEngineOnly}x`);
}
process.exit(c.converged === N && failed === 0 ? 0 : 1);
