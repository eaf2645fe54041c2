/** The one duration grammar (model/duration.ts): every form the four former copies accepted still parses. */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {spawnSync} from 'node:child_process';
import {durationFlag} from '../../src/cli/duration-flag.js';
import {durationSchema} from '../../src/model/duration-schema.js';
import {formatDuration, parseDuration} from '../../src/model/duration.js';

test('units, compounds, spaces, decimals and bare numbers of milliseconds', () => {
  const cases: [number | string, number][] = [
    ['500ms', 500], ['10s', 10_000], ['2m', 120_000], ['1h', 3_600_000], ['1m30s', 90_000], ['1h 30m', 5_400_000],
    ['250', 250], [' 10 s ', 10_000], ['1.5s', 1500], ['0', 0], ['0s', 0], [250, 250], [0, 0], ['1.5', 2],
  ];
  for (const [input, ms] of cases) assert.is(parseDuration(input), ms, JSON.stringify(input));
});

test('a typo is an error that names the value and says what is expected', () => {
  for (const bad of ['soon', '10s!', '10 foo', '10s 5foo', '-5s', '', '5x', '1e3', -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => parseDuration(bad), /invalid duration .*expected a duration such as 500ms, 10s/, JSON.stringify(bad));
  }
  assert.throws(() => parseDuration('soon', 'sync.helloInterval'), /^sync\.helloInterval: invalid duration "soon"/);
});

test('the config schema takes a fallback and reports a bad value as a zod issue', () => {
  const schema = durationSchema('10s');
  assert.is(schema.parse(undefined), 10_000);
  assert.is(schema.parse('1m30s'), 90_000);
  assert.is(schema.parse(42), 42);
  const bad = schema.safeParse('later');
  assert.is(bad.success, false);
  assert.match(bad.error!.issues[0]!.message, /invalid duration "later"/);
});

test('formatDuration writes what parseDuration reads back', () => {
  for (const [ms, text] of [[80, '80ms'], [1500, '1.5s'], [30_000, '30s'], [60_000, '1m'], [90_000, '1m30s'], [3_900_000, '1h5m']] as const) {
    assert.is(formatDuration(ms), text);
    assert.is(parseDuration(text), ms);
  }
});

test('the oclif flag gives milliseconds, its default included, and refuses a bad value', async () => {
  const flag = durationFlag({summary: 'test', default: '10m'});
  assert.is(flag.default, 600_000);
  assert.is(await flag.parse('90s', {} as never, flag as never), 90_000);
  await flag.parse('soon', {} as never, flag as never).then(() => assert.unreachable('accepted "soon"'), (e: Error) => assert.match(e.message, /invalid duration "soon"/));
});

test('a command given a bad duration says so as a usage error (exit 2), before it reaches any daemon', () => {
  const root = new URL('../..', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [`${root}bin/run.js`, 'power', 'on', 'n01', '--timeout', 'soon', '--json'], {encoding: 'utf8', env: {...process.env, LAYERCAKE_URL: 'http://127.0.0.1:9'}});
  assert.is(r.status, 2, r.stderr);
  const {error} = JSON.parse(r.stdout) as {error: {code: string; message: string}};
  assert.is(error.code, 'LC_ERR_USAGE');
  assert.match(error.message, /--timeout[\s\S]*invalid duration "soon"/);
});

test.run();
