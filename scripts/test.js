#!/usr/bin/env node
// Runs the uvu suites (test/**/*.test.ts and plugins/*/test/**/*.test.ts), each in its own process so
// that suites which start daemons, servers or namespaces cannot disturb each other.
//
// Usage: node scripts/test.js [--tier unit|real] [--jobs N] [--list] [substring | file ...]
//   --tier unit   only unit tests (*.test.ts that are not *.real.test.ts: no root, no external binaries)
//   --tier real   only real-parts tests (*.real.test.ts: root, namespaces, qemu, ipmi_sim, real tools)
//   --jobs N      unit files run N at a time (default: twice the number of cores, or LC_TEST_JOBS: many
//                 unit files mostly wait on their daemons, CLIs and timers; docs/testing.md has the figures);
//                 real-parts files always run one at a time, after the unit files, alone (they share
//                 namespaces, loop devices, VMs, and their protocol timers should not compete with other suites)
//   --list        print the files that would run, run nothing
//   substring     only files whose path contains one of the substrings
//   file          a test file named by its path is run even where the walker does not look (fixtures)
//
// A file counts honestly: its passed and skipped tests come from uvu's summary, and each `SKIP: <reason>`
// line it prints stands for at least one skipped test. A file FAILS when it exits non-zero, when a test
// fails, when it exits without uvu's summary (it ended before test.run() reported), or when it registered
// no test at all (neither run nor skipped).
import {spawn} from 'node:child_process';
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import {availableParallelism} from 'node:os';
import {dirname, join, relative, resolve} from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const perFileLimitMs = Number(process.env.LC_TEST_FILE_TIMEOUT_MS ?? 600_000);
const TIERS = {unit: (f) => !f.endsWith('.real.test.ts'), real: (f) => f.endsWith('.real.test.ts')};

function parseArgs(argv) {
  const args = {tier: undefined, list: false, jobs: process.env.LC_TEST_JOBS || String(2 * availableParallelism()), filters: [], files: []};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tier' || a.startsWith('--tier=')) {
      args.tier = a.includes('=') ? a.slice('--tier='.length) : argv[++i];
      if (!TIERS[args.tier]) usage(`--tier must be one of ${Object.keys(TIERS).join(', ')} (got ${args.tier ?? 'nothing'})`);
    } else if (a === '--jobs' || a.startsWith('--jobs=')) {
      args.jobs = a.includes('=') ? a.slice('--jobs='.length) : argv[++i];
    } else if (a === '--list') {
      args.list = true;
    } else if (a.startsWith('--')) {
      usage(`unknown option ${a}`);
    } else if (a.endsWith('.test.ts') && existsSync(a) && statSync(a).isFile()) {
      args.files.push(relative(root, resolve(a)));
    } else {
      args.filters.push(a);
    }
  }
  if (!/^[1-9]\d*$/.test(args.jobs ?? '')) usage(`--jobs (or LC_TEST_JOBS) must be a whole number from 1 (got ${args.jobs ?? 'nothing'})`);
  args.jobs = Number(args.jobs);
  return args;
}

function usage(problem) {
  console.error(`scripts/test.js: ${problem}\nUsage: node scripts/test.js [--tier unit|real] [--jobs N] [--list] [substring | file ...]`);
  process.exit(2);
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (name.endsWith('.test.ts')) yield path;
  }
}

function select({tier, filters, files}) {
  const inTier = tier ? TIERS[tier] : () => true;
  if (files.length && !filters.length) return files.filter(inTier);
  const roots = [join(root, 'test'), ...readdirSync(join(root, 'plugins')).map((p) => join(root, 'plugins', p, 'test'))];
  const found = roots.flatMap((dir) => (existsSync(dir) ? [...walk(dir)] : []))
    .map((f) => relative(root, f))
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
  return [...new Set([...found, ...files])].sort().filter(inTier);
}

/** What one file's output and exit code say: counts, and why it failed if it did. */
function judge(out, code) {
  // uvu prints one summary per test.run(): Total (tests run, skipped ones excluded), Passed, Skipped.
  const count = (label) => [...out.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].map((m) => Number(m[1]));
  const totals = count('Total');
  const sum = (xs) => xs.reduce((n, x) => n + x, 0);
  const total = sum(totals), passed = sum(count('Passed'));
  const skipLines = [...out.matchAll(/^SKIP: .*$/gm)].map((m) => m[0]);
  const skipped = Math.max(sum(count('Skipped')), skipLines.length);
  let failed = total - passed;
  let problem = '';
  if (totals.length === 0) problem = 'exited without its uvu summary (it ended before test.run() reported)';
  else if (total + skipped === 0) problem = 'registered no test (a suite that cannot run prints SKIP and registers test.skip)';
  else if (code !== 0 && failed === 0) problem = `exited with ${code} although its tests passed`;
  if (problem && failed === 0) failed = 1;
  return {passed, failed, skipped, skipLines, problem};
}

function run(file) {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, FORCE_COLOR: '0'}});
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n(test file exceeded ${perFileLimitMs / 1000} s, killed)\n`; child.kill('SIGKILL'); }, perFileLimitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({file, out, ...judge(out, code ?? signal), seconds: (Date.now() - started) / 1000});
    });
  });
}

const args = parseArgs(process.argv.slice(2));
const files = select(args);
if (args.list) {
  console.log(files.join('\n'));
  process.exit(files.length === 0 ? 1 : 0);
}
let passed = 0, failed = 0, skipped = 0;
const started = Date.now();
function report(r) {
  passed += r.passed; failed += r.failed; skipped += r.skipped;
  const mark = r.failed ? 'FAIL' : 'ok  ';
  console.log(`${mark} ${r.file}  (${r.passed} passed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.failed ? `, ${r.failed} failed` : ''}, ${r.seconds.toFixed(1)} s)`);
  if (r.problem) console.log(`    ${r.problem}`);
  if (r.failed || process.env.LC_TEST_VERBOSE) console.log(r.out.replace(/^/gm, '    '));
  for (const line of r.skipLines) console.log(`    ${line}`);
}
// How long each file took last time: the pool starts the longest first, so that no long file starts
// last while the other slots idle (files never timed go first).
const timesFile = join(root, 'node_modules', '.cache', 'layercake', 'test-seconds.json');
const lastSeconds = existsSync(timesFile) ? JSON.parse(readFileSync(timesFile, 'utf8')) : {};
const longestFirst = (queue) => [...queue].sort((a, b) => (lastSeconds[b] ?? Infinity) - (lastSeconds[a] ?? Infinity));

/** Runs the files `jobs` at a time, longest first, reporting each as it ends. */
async function runPool(queue, jobs) {
  const next = jobs > 1 ? longestFirst(queue) : [...queue];
  const worker = async () => {
    for (let file = next.shift(); file; file = next.shift()) {
      const r = await run(file);
      lastSeconds[file] = r.seconds;
      report(r);
    }
  };
  await Promise.all(Array.from({length: Math.min(jobs, next.length)}, worker));
}
await runPool(files.filter(TIERS.unit), args.jobs);
await runPool(files.filter(TIERS.real), 1);
mkdirSync(dirname(timesFile), {recursive: true});
writeFileSync(timesFile, JSON.stringify(lastSeconds, null, 1));
const tier = args.tier ? ` (${args.tier} tier)` : '';
const jobs = files.some(TIERS.unit) && args.jobs > 1 ? `, unit files ${args.jobs} at a time` : '';
console.log(`\n${files.length} test files${tier} in ${((Date.now() - started) / 1000).toFixed(1)} s${jobs}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || files.length === 0 ? 1 : 0);
