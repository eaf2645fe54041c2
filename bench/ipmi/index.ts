/**
 * bench/ipmi: read the power status of N ipmi_sim BMCs (default 200) through the plugin's BmcClient
 * at the same concurrency (default 50), with the ipmitool driver (baseline: one process per request)
 * and with the native RMCP+ driver, first cold (a session opened and closed per request, as ipmitool
 * does) and then warm (its session cache, as the module's periodic polling uses it).
 * Target (issue 5): native >= 5x faster than ipmitool.
 *
 * The simulators are measured first (memory, idle CPU, start-up), since 200 of them share the
 * machine with the benchmark. Usage:
 *   node --import tsx bench/ipmi/index.ts [--bmcs 200] [--concurrency 50] [--rounds 3] [--batch 50] [--json]
 */
import {readFileSync} from 'node:fs';
import {parseArgs} from 'node:util';
import {BmcClient} from '../../plugins/power-ipmi/src/bmc/client.js';
import type {BmcTarget, PowerState} from '../../plugins/power-ipmi/src/drivers/driver.js';
import type {DriverName} from '../../plugins/power-ipmi/src/extension.js';
import {ipmitoolUnavailable, simUnavailable, SIM_PASSWORD, SIM_USER, startSims, type SimFarm} from '../../plugins/power-ipmi/test/support/ipmi-sim.js';

const {values} = parseArgs({options: {
  bmcs: {type: 'string', default: '200'}, concurrency: {type: 'string', default: '50'}, rounds: {type: 'string', default: '3'},
  batch: {type: 'string', default: '50'}, json: {type: 'boolean', default: false},
}});
const N = Number(values.bmcs);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const TICKS = 100; // USER_HZ on Linux

/** CPU seconds used so far by a process (and, for ourselves, by our waited-for children: the ipmitool processes). */
function cpuSeconds(pid: number | 'self', withChildren = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
  const own = Number(f[11]) + Number(f[12]);
  return (withChildren ? own + Number(f[13]) + Number(f[14]) : own) / TICKS;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function pssKb(pid: number): number {
  try {
    const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Pass {
  ms: number;
  cpu: number;
  failures: number;
  answers: PowerState[];
}

async function pass(client: BmcClient, driver: DriverName, targets: BmcTarget[]): Promise<Pass> {
  const cpu0 = cpuSeconds('self', true);
  const t0 = performance.now();
  let failures = 0;
  const answers = await Promise.all(targets.map((t) => client.status(t, {driver}).catch(() => { failures++; return 'off' as PowerState; })));
  return {ms: performance.now() - t0, cpu: cpuSeconds('self', true) - cpu0, failures, answers};
}

async function run(farm: SimFarm) {
  const targets: BmcTarget[] = farm.sims.map((s) => ({host: s.host, port: s.port, username: SIM_USER, password: SIM_PASSWORD, privilege: 'ADMINISTRATOR', cipherSuite: 3}));
  // Half the machines on, so that the answers are worth comparing.
  farm.sims.forEach((s, i) => s.setPower(i % 2 ? 1 : 0));
  const expected = farm.sims.map((s) => (s.power() ? 'on' : 'off'));
  const timing = {concurrency: CONCURRENCY, attemptTimeout: 2000, retries: 2, breaker: {failures: 1000, cooldown: 1000}};
  const ipmitool = new BmcClient({...timing, driver: 'ipmitool', sessionIdle: 0});
  const cold = new BmcClient({...timing, driver: 'native', sessionIdle: 0});
  const warm = new BmcClient({...timing, driver: 'native', sessionIdle: 600_000});
  const results: Record<string, Pass[]> = {ipmitool: [], 'native cold': [], 'native warm': []};
  const sims0 = farm.sims.reduce((n, s) => n + cpuSeconds(s.pid, true), 0);
  await pass(warm, 'native', targets); // opens the sessions the warm passes reuse
  for (let r = 0; r < ROUNDS; r++) {
    results.ipmitool.push(await pass(ipmitool, 'ipmitool', targets));
    results['native cold'].push(await pass(cold, 'native', targets));
    results['native warm'].push(await pass(warm, 'native', targets));
  }
  const simsCpu = farm.sims.reduce((n, s) => n + cpuSeconds(s.pid, true), 0) - sims0;
  await Promise.all([ipmitool.close(), cold.close(), warm.close()]);
  const summary = Object.fromEntries(Object.entries(results).map(([name, passes]) => {
    const wrong = passes.reduce((n, p) => n + p.answers.filter((a, i) => a !== expected[i]).length, 0);
    return [name, {ms: median(passes.map((p) => p.ms)), cpu: median(passes.map((p) => p.cpu)), failures: passes.reduce((n, p) => n + p.failures, 0), wrong}];
  }));
  return {summary, simsCpu};
}

async function main(): Promise<void> {
  const missing = simUnavailable() ?? ipmitoolUnavailable();
  if (missing) {
    console.log(`SKIP: ${missing}`);
    return;
  }
  const t0 = performance.now();
  const farm = await startSims(N, {batch: Number(values.batch)});
  try {
    const startup = performance.now() - t0;
    const pids = farm.sims.map((s) => s.pid);
    const rss = pids.reduce((n, p) => n + rssKb(p), 0);
    const pss = pids.reduce((n, p) => n + pssKb(p), 0);
    const idle0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    await new Promise((r) => setTimeout(r, 2000));
    const idleCpu = (pids.reduce((n, p) => n + cpuSeconds(p), 0) - idle0) / 2;
    const {summary, simsCpu} = await run(farm);
    const ratioWarm = summary.ipmitool.ms / summary['native warm'].ms;
    const ratioCold = summary.ipmitool.ms / summary['native cold'].ms;
    const report = {
      bmcs: N, concurrency: CONCURRENCY, rounds: ROUNDS,
      simulators: {startupMs: Math.round(startup), rssMbTotal: +(rss / 1024).toFixed(1), pssMbTotal: +(pss / 1024).toFixed(1), idleCpuPercent: +(idleCpu * 100).toFixed(1), cpuSecondsDuringRuns: +simsCpu.toFixed(2)},
      runs: summary,
      ratio: {nativeWarmVsIpmitool: +ratioWarm.toFixed(1), nativeColdVsIpmitool: +ratioCold.toFixed(1)},
      target: 'native >= 5x faster than ipmitool',
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(`ipmi_sim x${N}: started in ${report.simulators.startupMs} ms (batches of ${values.batch}); RSS ${report.simulators.rssMbTotal} MB in total (PSS ${report.simulators.pssMbTotal} MB), idle CPU ${report.simulators.idleCpuPercent}% of one core`);
    console.log(`power status of ${N} BMCs at concurrency ${CONCURRENCY}, median of ${ROUNDS} rounds (wall / CPU of the client and its children):`);
    for (const [name, s] of Object.entries(summary)) {
      console.log(`  ${name.padEnd(12)} ${s.ms.toFixed(0).padStart(6)} ms  ${s.cpu.toFixed(2).padStart(5)} s CPU  (${(s.ms / N).toFixed(2)} ms/BMC)${s.failures ? `  ${s.failures} failures` : ''}${s.wrong ? `  ${s.wrong} WRONG ANSWERS` : ''}`);
    }
    console.log(`the simulators used ${report.simulators.cpuSecondsDuringRuns} s CPU answering (same work for every driver)`);
    console.log(`ratio: native (warm sessions, as polling runs) is ${ratioWarm.toFixed(1)}x faster than ipmitool; native cold (a session per request) ${ratioCold.toFixed(1)}x  [target >= 5x]`);
  } finally {
    await farm.stop();
  }
}

await main();
