/**
 * bench/cli: the CPU a CLI start costs (user + system, the process's own), for `--version` (oclif alone)
 * and for everyday client commands (one with a config file beside it) against an address where nothing
 * listens, so that the figure is the start and not a daemon's answer; each as a ratio to `node -e 0`
 * measured in the same run. Every test that drives the real CLI pays this per run (docs/cli.md,
 * "Start-up"). Usage:
 *   node --import tsx bench/cli/index.ts [--runs 9] [--root CHECKOUT (default this one: compare with another)] [--json]
 */
import {spawnSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer, type AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {parseArgs} from 'node:util';

const {values} = parseArgs({options: {runs: {type: 'string', default: '9'}, root: {type: 'string'}, json: {type: 'boolean', default: false}}});
const RUNS = Number(values.runs);
const BIN = values.root ? join(values.root, 'bin', 'run.js') : new URL('../../bin/run.js', import.meta.url).pathname;
// Run from an empty directory with an empty HOME: no config file found on the way up changes the figure.
const DIR = mkdtempSync(join(tmpdir(), 'lc-bench-cli-'));
const TICKS = 100; // USER_HZ on Linux

/** CPU seconds of this process's waited-for children so far. */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / TICKS;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// And one with a config file in it, as an operator's working directory has (`layercake init` writes one).
const CONFIGURED = join(DIR, 'configured');
mkdirSync(CONFIGURED);
writeFileSync(join(CONFIGURED, 'layercake.config.yaml'), 'stateDir: state\nlogLevel: info\napi: {socket: none}\n');

/** Median CPU seconds of RUNS runs of `node ARGS` in `cwd`. */
function cpuOf(args: string[], env: NodeJS.ProcessEnv, cwd: string): number {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = childrenCpu();
    spawnSync(process.execPath, args, {cwd, env, stdio: 'ignore'});
    samples.push(childrenCpu() - before);
  }
  return median(samples);
}

/** A loopback port that was free a moment ago: connecting to it is refused at once. */
const closedPort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const {port} = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});

const env = {PATH: process.env.PATH, HOME: DIR, LAYERCAKE_URL: `http://127.0.0.1:${await closedPort()}`};
const cases: [string, string[], string][] = [
  ['node -e 0 (baseline)', ['-e', '0'], DIR],
  ['--version', [BIN, '--version'], DIR],
  ['node list', [BIN, 'node', 'list'], DIR],
  ['node list, a config file', [BIN, 'node', 'list'], CONFIGURED],
  ['node set n01 arch=arm64', [BIN, 'node', 'set', 'n01', 'arch=arm64'], DIR],
  ['power on n01', [BIN, 'power', 'on', 'n01'], DIR],
];
const results = cases.map(([name, args, cwd]) => ({name, cpu: cpuOf(args, env, cwd)}));
rmSync(DIR, {recursive: true, force: true});
const baseline = results[0].cpu || 1 / TICKS;
if (values.json) console.log(JSON.stringify({runs: RUNS, results: results.map((r) => ({...r, ratio: r.cpu / baseline}))}));
else {
  console.log(`CLI start CPU, median of ${RUNS} runs (user + system), nothing listening at the address:`);
  for (const r of results) console.log(`  ${r.name.padEnd(26)} ${r.cpu.toFixed(2)} s  ${(r.cpu / baseline).toFixed(1)}x node -e 0`);
}
