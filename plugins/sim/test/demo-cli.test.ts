// `layercake demo` from the built CLI, as a script would run it: with --json its stdout is the JSON result
// alone, even when the daemon logs errors meanwhile (the faulty BMC's node is given up); logs go to stderr.
// At --time-scale 0.25 the faults play out four times faster (a hung machine is power-cycled after 2 s).
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {requireBuild, sandbox} from '../../../test/support/cli.js';

const box = sandbox('lc-demo-cli-');
test.before(() => requireBuild());
test.after(() => box.cleanup());

test('demo --exit --json prints only its result on stdout; the daemon logs to stderr', async () => {
  const r = await box.run(['demo', '--nodes', '4', '--faults', '--exit', '--timeout', '60', '--listen', '127.0.0.1:0', '--time-scale', '0.25', '--json'], {timeoutMs: 90_000});
  assert.ok(r.json, `stdout is not JSON: ${r.stdout.slice(0, 300)}`);
  assert.is(r.json.nodes, 4);
  assert.is(r.json.converged, 3, 'every node but the one whose BMC never answers');
  assert.equal(r.json.givenUp, ['n04']);
  assert.is(r.code, 0, 'done: every node converged or given up with a reason');
  assert.match(r.stderr, /did not answer within/);
});

test('demo --exit ends on its result line: no status line after it while the cluster stops', async () => {
  const r = await box.run(['demo', '--nodes', '16', '--exit', '--timeout', '60', '--listen', '127.0.0.1:0'], {timeoutMs: 90_000});
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines.at(-1)!, /^all 16 nodes converged in \d+\.\d s$/, `the last line: ${lines.at(-1)}`);
  assert.is(lines.filter((l) => /nodes converged in/.test(l)).length, 1, 'one result line');
});

test.run();
