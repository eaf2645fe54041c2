/**
 * The test runner (scripts/test.js) counts honestly: it runs the fixture suites of ./fixtures (a
 * directory its walker skips, so they run only when named) and reads its verdict on each: a passing
 * suite is ok, a suite that exits 0 without uvu's summary FAILS, a suite that prints SKIP and registers
 * test.skip is counted as skipped (not passed), as is every test of a suite skipped by runnableOr, a suite that registers nothing FAILS, a failing test
 * FAILS; the tiers select files by name; unit files run side by side (--jobs), real-parts files alone.
 */
import {spawnSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, relative} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = join(import.meta.dirname, '..', '..');
const RUNNER = join(ROOT, 'scripts', 'test.js');
const fixture = (name: string) => relative(ROOT, join(import.meta.dirname, 'fixtures', `${name}.test.ts`));

function runner(...args: string[]): {code: number | null; out: string; line: (name: string) => string} {
  return runnerWith({}, ...args);
}

function runnerWith(env: NodeJS.ProcessEnv, ...args: string[]): {code: number | null; out: string; line: (name: string) => string} {
  const r = spawnSync(process.execPath, [RUNNER, ...args], {cwd: ROOT, encoding: 'utf8', env: {...process.env, LC_TEST_VERBOSE: '', LC_TEST_JOBS: '', ...env}});
  const out = r.stdout + r.stderr;
  const line = (name: string) => out.split('\n').find((l) => l.endsWith('s)') && l.includes(` ${fixture(name)} `)) ?? `(no line for ${name} in:\n${out})`;
  return {code: r.status, out, line};
}

test('each fixture gets its verdict, and the totals add up', () => {
  const r = runner(...['passing', 'no-summary', 'skipping', 'empty', 'failing'].map(fixture));
  assert.match(r.line('passing'), /^ok +\S+ +\(2 passed, /);
  assert.match(r.line('no-summary'), /^FAIL +\S+ +\(0 passed, 1 failed, /);
  assert.match(r.out, /exited without its uvu summary/);
  assert.match(r.line('skipping'), /^ok +\S+ +\(0 passed, 1 skipped, /);
  assert.match(r.out, /^ {4}SKIP: the fixture pretends a tool is missing$/m);
  assert.match(r.line('empty'), /^FAIL +\S+ +\(0 passed, 1 failed, /);
  assert.match(r.out, /registered no test/);
  assert.match(r.line('failing'), /^FAIL +\S+ +\(1 passed, 1 failed, /);
  assert.match(r.out, /^3 passed, 3 failed, 1 skipped$/m);
  assert.is(r.code, 1);
});

test('a run of passing and skipped suites succeeds, the skipped counted apart', () => {
  const r = runner(fixture('passing'), fixture('skipping'), fixture('skipping-suite'));
  assert.match(r.line('skipping-suite'), /^ok +\S+ +\(0 passed, 2 skipped, /); // runnableOr: every test skipped, no hook run
  assert.match(r.out, /^ {4}SKIP: the fixture pretends not to be root$/m);
  assert.match(r.out, /^2 passed, 0 failed, 3 skipped$/m);
  assert.is(r.code, 0, r.out);
});

test('the walker does not run fixtures on its own; --tier picks files by name', () => {
  assert.equal(runner('--list', 'test/runner/').out.trim().split('\n'), ['test/runner/runner.test.ts']); // not its fixtures
  const unit = runner('--list', '--tier', 'unit', 'test/store/').out;
  const real = runner('--list', '--tier', 'real', 'test/store/').out;
  assert.match(unit, /^test\/store\/store\.test\.ts$/m);
  assert.not.match(unit, /\.real\.test\.ts/);
  assert.equal(real.trim().split('\n'), ['test/store/disk-full.real.test.ts']);
  const named = runner('--list', '--tier', 'unit', fixture('passing'), fixture('skipping')).out;
  assert.equal(named.trim().split('\n'), [fixture('passing'), fixture('skipping')]);
});

test('unit files run --jobs at a time; real-parts files after them, one at a time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-runner-'));
  try {
    // The rendezvous pair passes only when both run at once; alone-a and alone-b record when they ran.
    const files = ['rendezvous-a', 'rendezvous-b', 'alone-a.real', 'alone-b.real'].map(fixture);
    // A serial runner would leave the first rendezvous waiting: the per-file limit ends it (not a timing assertion).
    const r = runnerWith({LC_FIXTURE_DIR: dir, LC_TEST_FILE_TIMEOUT_MS: '120000'}, '--jobs', '2', ...files);
    assert.is(r.code, 0, r.out);
    assert.match(r.out, /^4 test files in [\d.]+ s, unit files 2 at a time$/m);
    const span = (name: string) => JSON.parse(readFileSync(join(dir, `${name}.span`), 'utf8')) as [number, number];
    const [a, b] = [span('alone-a'), span('alone-b')].sort((x, y) => x[0] - y[0]);
    assert.ok(a[1] <= b[0], `the real-parts files overlapped: ${JSON.stringify([a, b])}`);
    assert.ok(Math.max(span('a')[1], span('b')[1]) <= a[0], 'a real-parts file started before the unit files ended');
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('--jobs and LC_TEST_JOBS take a whole number from 1, else exit 2 naming it', () => {
  const r = runner('--jobs', '0', '--list');
  assert.is(r.code, 2);
  assert.match(r.out, /--jobs \(or LC_TEST_JOBS\) must be a whole number from 1 \(got 0\)/);
  assert.is(runnerWith({LC_TEST_JOBS: 'many'}, '--list').code, 2);
});

test('a bad --tier is refused with the choices, exit 2, nothing run', () => {
  const r = runner('--tier', 'fast');
  assert.is(r.code, 2);
  assert.match(r.out, /--tier must be one of unit, real \(got fast\)/);
  assert.not.match(r.out, /test files|^ok|^FAIL/m);
});

test.run();
