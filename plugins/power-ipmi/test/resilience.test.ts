/**
 * The shared limiter, the circuit breaker, durations, the config and extension schemas and the
 * password-file rules (no BMC needed).
 */
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {CircuitBreaker} from '../src/bmc/breaker.js';
import {Limiter} from '../src/bmc/limiter.js';
import {ipmiConfigSchema} from '../src/config.js';
import {parseIpmiNode, resolveTarget} from '../src/credentials.js';
import {parseDuration} from '@layercake/sdk';
import {IpmiError} from '../src/errors.js';
import {ipmiExtension} from '../src/extension.js';
import {MUTATIONS} from '../src/module.js';
import {rejects} from './support/assert.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return {promise, resolve};
};

test('limiter: never more than the limit at once, FIFO, and a waiting task can be abandoned', async () => {
  const limiter = new Limiter(3);
  let running = 0, peak = 0;
  const order: number[] = [];
  const gates = Array.from({length: 8}, deferred);
  const tasks = gates.map((g, i) => limiter.run(async () => {
    order.push(i);
    running++; peak = Math.max(peak, running);
    await g.promise;
    running--;
    return i;
  }));
  await new Promise((r) => setImmediate(r));
  assert.is(limiter.running, 3);
  assert.is(limiter.queued, 5);
  const abandon = new AbortController();
  const late = limiter.run(async () => 'never', abandon.signal);
  abandon.abort(new Error('gave up'));
  await rejects(late, /gave up/);
  assert.is(limiter.queued, 5, 'the abandoned task left the queue');
  gates.forEach((g) => g.resolve());
  assert.equal(await Promise.all(tasks), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.is(peak, 3);
  assert.equal(order, [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('breaker: opens after N failures in a row, fails fast with the last error, half-opens for one trial', () => {
  let now = 0;
  const b = new CircuitBreaker('10.0.0.1:623', {failures: 3, cooldown: 30_000}, () => now);
  const err = new IpmiError('unreachable', '10.0.0.1:623', 'BMC 10.0.0.1:623 did not answer');
  for (let i = 0; i < 2; i++) b.failure(b.admit(), err);
  assert.is(b.state, 'closed');
  b.success(b.admit());
  assert.is(b.failures, 0, 'a success resets the count');
  for (let i = 0; i < 3; i++) b.failure(b.admit(), err);
  assert.is(b.state, 'open');
  try {
    b.check();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, IpmiError);
    assert.is((e as IpmiError).kind, 'circuit');
    assert.match((e as IpmiError).message, /BMC 10.0.0.1:623 did not answer \[circuit breaker open after 3 failures in a row; next try in 30s\]/);
  }
  now = 30_000;
  assert.is(b.state, 'half-open');
  b.check(); // does not take the trial
  const trial = b.admit();
  assert.ok(trial.trial);
  assert.throws(() => b.admit(), /a trial request is running/);
  b.failure(trial, err);
  assert.is(b.state, 'open', 'a failed trial opens it again');
  now = 60_000;
  b.success(b.admit());
  assert.is(b.state, 'closed');
  b.failure(b.admit(), err);
  b.reset();
  assert.is(b.failures, 0);
});

test('durations and config defaults', () => {
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('10s'), 10_000);
  assert.is(parseDuration('2m'), 120_000);
  assert.is(parseDuration(250), 250);
  assert.throws(() => parseDuration('soon'), /invalid duration/);
  const c = ipmiConfigSchema.parse({});
  assert.equal({driver: c.driver, concurrency: c.concurrency, attemptTimeout: c.attemptTimeout, retries: c.retries, pollInterval: c.pollInterval,
    breaker: c.breaker, sessionIdle: c.sessionIdle, settleTimeout: c.settleTimeout},
  {driver: 'native', concurrency: 50, attemptTimeout: 1000, retries: 2, pollInterval: 30_000, breaker: {failures: 3, cooldown: 30_000}, sessionIdle: 20_000, settleTimeout: 8000});
  assert.is(ipmiConfigSchema.parse({attemptTimeout: '250ms', driver: 'ipmitool'}).attemptTimeout, 250);
  assert.not.ok(ipmiConfigSchema.safeParse({driver: 'redfish'}).success);
  assert.not.ok(ipmiConfigSchema.safeParse({pollInterval: 'often'}).success);
});

test('extension: defaults, limits, and the password is declared secret', () => {
  const n = parseIpmiNode('n01', {host: '10.0.0.1'});
  assert.equal(n, {host: '10.0.0.1', port: 623, username: '', password: '', passwordFile: '', interface: 'lanplus', cipherSuite: 3,
    privilege: 'ADMINISTRATOR', bootdev: 'none', efiBoot: false, force: false});
  assert.equal(ipmiExtension.secrets, ['/password']);
  assert.throws(() => parseIpmiNode('n01', {host: 'h', cipherSuite: 17}), (e: IpmiError) => e.kind === 'config' && /node n01: ipmi.cipherSuite/.test(e.message));
  assert.throws(() => parseIpmiNode('n01', {host: 'h', password: 'x'.repeat(21)}), /ipmi.password/);
  assert.throws(() => parseIpmiNode('n01', {host: 'h', driver: 'redfish'}), /ipmi.driver/);
});

test('mutations: the four power edges plus the forced power-off, all on platform ipmi, failing to PHYS_HANG', () => {
  const byName = Object.fromEntries(MUTATIONS.map((m) => [m.name, m]));
  assert.equal(Object.keys(byName).sort(), ['HANGtoOFF', 'OFFtoON', 'ONtoOFF', 'ONtoOFFforced', 'UKtoOFF']);
  for (const m of MUTATIONS) {
    assert.is(m.context, 'CHILD');
    assert.is(m.requires?.['/platform'], 'ipmi');
    assert.equal(m.failTo, {url: '/physState', value: 'PHYS_HANG'});
  }
  assert.equal(byName.ONtoOFF.excludes, {'/runState': 'SYNC', '/busy': 'BUSY'});
  assert.is(byName.ONtoOFFforced.excludes, undefined);
  assert.is(byName.ONtoOFFforced.requires?.['/extensions/ipmi/force'], true);
  assert.ok('ONtoOFF' < 'ONtoOFFforced', 'the planner prefers the unforced edge when both apply');
  assert.is(byName.HANGtoOFF.timeout, '20s');
});

test('credentials: inline password, password file (first line), clear errors that never show the password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-ipmi-cred-'));
  try {
    const file = join(dir, 'bmc.pw');
    writeFileSync(file, 'filesecret\nignored\n', {mode: 0o600});
    const t = await resolveTarget('n01', parseIpmiNode('n01', {host: 'h', username: 'admin', passwordFile: file}));
    assert.is(t.password, 'filesecret');
    const rel = await resolveTarget('n01', parseIpmiNode('n01', {host: 'h', passwordFile: 'bmc.pw'}), {baseDir: dir});
    assert.is(rel.password, 'filesecret', 'relative paths resolve under the base dir');
    const warnings: string[] = [];
    chmodSync(file, 0o644);
    await resolveTarget('n01', parseIpmiNode('n01', {host: 'h', passwordFile: file}), {warn: (m) => warnings.push(m)});
    assert.is(warnings.length, 1);
    assert.match(warnings[0], /can be read by group or others \(mode 644\)/);
    assert.not.match(warnings[0], /filesecret/);
    await rejects(resolveTarget('n01', parseIpmiNode('n01', {})), /node n01 has no BMC address \(set ipmi.host\)/);
    await rejects(resolveTarget('n01', parseIpmiNode('n01', {host: 'h'})), /node n01 has no BMC password/);
    await rejects(resolveTarget('n01', parseIpmiNode('n01', {host: 'h', passwordFile: join(dir, 'missing')})), /cannot read ipmi.passwordFile .*missing: ENOENT/);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test.run();
