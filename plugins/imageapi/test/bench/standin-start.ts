/**
 * Micro-benchmark (not a test): the time per simulated container start in a process that first makes a
 * large resident heap, as the simulated cluster does with thousands of services in one process. Two ways,
 * in the same run: `spawner` is SimulatedPlatform.start (the stand-in started by the shared spawner
 * process), `direct` is what it did before (spawn the stand-in from this process, as linux.ts still does).
 *   node --import tsx plugins/imageapi/test/bench/standin-start.ts [MB=1536] [starts=100]
 */
import {spawn} from 'node:child_process';
import {closeSync, mkdtempSync, openSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {exitOf, type StartSpec, type Started} from '../../src/service/platform.js';
import {startTime} from '../../src/service/procfs.js';
import {SimulatedPlatform} from '../../src/service/simulated.js';

const mb = Number(process.argv[2] ?? 1536);
const starts = Number(process.argv[3] ?? 100);
const ballast: Buffer[] = [];
for (let i = 0; i < mb; i++) ballast.push(Buffer.alloc(1 << 20, i & 0xff)); // filled: resident, not lazily zero pages
const rssMb = () => Math.round(process.memoryUsage().rss / 2 ** 20);

/** The stand-in start before the spawner (simulated.ts up to this change). */
async function direct(spec: StartSpec): Promise<Started> {
  const log = openSync(spec.logfile, 'a', 0o640);
  let child;
  try {
    child = spawn('sleep', ['infinity'], {detached: true, stdio: ['ignore', log, log]});
  } finally {
    closeSync(log);
  }
  const pid = child.pid!;
  child.unref();
  const exited = exitOf(child);
  const start = startTime(pid) ?? 0;
  return {pid, pidStart: start, initPid: pid, initStart: start, child, exited};
}

const dir = mkdtempSync(join(tmpdir(), 'lc-standin-bench-'));
const platform = new SimulatedPlatform();
await platform.init();
const started: Started[] = [];
let k = 0;
const spec = (): StartSpec => ({id: ++k, name: `c${k}`, root: '/', argv: ['/sbin/init'], systemd: false, hostname: `c${k}`, logfile: join(dir, `c${k}.log`), runDir: dir});
try {
  console.log(`RSS ${rssMb()} MB (ballast ${ballast.length} MB), ${starts} starts each`);
  for (const [name, start] of [['direct', direct], ['spawner', (s: StartSpec) => platform.start(s)]] as const) {
    const t = performance.now();
    started.push(await start(spec())); // the first start pays any one-time setup (the spawner's own start)
    const first = performance.now() - t;
    const t0 = performance.now();
    for (let i = 0; i < starts; i++) started.push(await start(spec()));
    const sequential = (performance.now() - t0) / starts;
    const t1 = performance.now();
    started.push(...await Promise.all(Array.from({length: starts}, () => start(spec()))));
    const concurrent = (performance.now() - t1) / starts;
    console.log(`${name.padEnd(8)} ${sequential.toFixed(2)} ms per start one at a time, ${concurrent.toFixed(2)} ms per start with ${starts} at once (the first: ${first.toFixed(1)} ms)`);
  }
} finally {
  for (const s of started) try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ }
  const alive = setInterval(() => undefined, 1000); // waiting for the ends does not keep a process alive by itself
  await Promise.all(started.map((s) => s.exited));
  clearInterval(alive);
  await platform.shutdown();
  rmSync(dir, {recursive: true, force: true});
}
