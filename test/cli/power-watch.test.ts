/**
 * power on|off|cycle --wait and watch, through the real CLI, against an API served in this process by
 * the real store and engine with a test module that performs every mutation at once (so nodes converge
 * in milliseconds and the test needs no machines).
 */
import {spawn} from 'node:child_process';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../src/api/client/client.js';
import {createApiServer} from '../../src/api/server/server.js';
import {TOKEN, testDaemon} from '../support/api-daemon.js';
import {BIN, sandbox, until} from '../support/cli.js';

const daemon = testDaemon({fails: ['bad1']});
const box = sandbox('lc-power-');
let server: {address: string; close(): Promise<void>};
test.after(async () => {
  await server?.close();
  daemon.close();
  await box.cleanup();
});

const lc = (args: string[]) => box.run(args, {env: {LAYERCAKE_URL: server.address, LAYERCAKE_TOKEN: TOKEN}});
const dsc = (name: string) => daemon.store.byName(name)!.dsc;
const cfg = (name: string) => daemon.store.byName(name)!.cfg;

test('power on --wait sets cfg intent (with runState SYNC, a boot chain exists) and follows convergence', async () => {
  server = await createApiServer(daemon);
  await new ApiClient({url: `http://${server.address}`, token: TOKEN}).createNodes([{nodename: 'n01'}, {nodename: 'n02'}, {nodename: 'n03'}]);
  const r = await lc(['power', 'on', 'n[01-03]', '--wait', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.wait.converged, 3);
  for (const n of ['n01', 'n02', 'n03']) {
    assert.is(cfg(n).physState, 'POWER_ON');
    assert.is(cfg(n).runState, 'SYNC');
    assert.is(dsc(n).runState, 'SYNC');
  }
  const human = await lc(['power', 'on', 'n01', '--wait']);
  assert.match(human.stdout, /n01 converged/);
  assert.match(human.stdout, /1 converged/);
});

test('power off of running nodes is refused off a terminal without --yes, and changes nothing', async () => {
  const r = await lc(['power', 'off', 'n01']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /Power off 1 running node \(n01\): refusing without confirmation/);
  assert.is(cfg('n01').physState, 'POWER_ON');
});

test('power off --yes --wait resets what cannot hold while off', async () => {
  const r = await lc(['power', 'off', 'n01', '--yes', '--wait', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.changes.map((c: any) => [c.url, c.value]).sort(), [['/extensions/power', {resume: {'/runState': 'SYNC'}}], ['/physState', 'POWER_OFF'], ['/runState', 'UNKNOWN']]);
  assert.is(dsc('n01').physState, 'POWER_OFF');
  assert.is(cfg('n01').runState, 'UNKNOWN');
});

test('power cycle: off, wait for off, then on again as configured', async () => {
  const r = await lc(['power', 'cycle', 'n02', '--yes', '--wait', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.json.changes.some((c: any) => c.url === '/physState' && c.value === 'POWER_OFF'));
  assert.ok(r.json.changes.some((c: any) => c.url === '/physState' && c.value === 'POWER_ON'));
  assert.is(cfg('n02').runState, 'SYNC', 'restored');
  assert.is(dsc('n02').physState, 'POWER_ON');
  assert.ok(daemon.store.history(cfg('n02').id).some((e) => e.kind === 'dsc' && e.url === '/physState' && e.value === 'POWER_OFF'), 'it was off in between');
});

test('node set physState=POWER_OFF on a running node asks first, as power off does; an impossible cfg is refused, naming why', async () => {
  assert.is(dsc('n03').runState, 'SYNC', 'n03 is up');
  const before = JSON.stringify(cfg('n03'));
  const refused = await lc(['node', 'set', 'n03', 'physState=POWER_OFF']);
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /^Error \[LC_ERR_CONFIRM\]: Power off 1 running node \(n03\): refusing without confirmation\n {2}Try this: pass --yes/);
  assert.is(JSON.stringify(cfg('n03')), before, 'nothing changed');
  const impossibleArgs = ['node', 'set', 'n03', 'physState=POWER_OFF', 'runState=SYNC', '--yes'];
  const [impossible, json] = await Promise.all([lc(impossibleArgs), lc([...impossibleArgs, '--json'])]); // both refused: at once
  assert.is(impossible.code, 2, impossible.stderr);
  assert.match(impossible.stderr, /^Error \[LC_ERR_CFG_UNREACHABLE\]: node n03: this cfg can never converge: runState SYNC requires physState POWER_ON, but cfg has POWER_OFF\n {2}Try this: /);
  assert.equal([json.code, json.json?.error?.code, json.json?.error?.status], [2, 'LC_ERR_CFG_UNREACHABLE', 409]);
  assert.is(JSON.stringify(cfg('n03')), before, 'nothing changed');
  const off = await lc(['node', 'set', 'n03', 'physState=POWER_OFF', '--yes']);
  assert.is(off.code, 0, off.stderr);
  assert.match(off.stdout, /n03 runState: SYNC → UNKNOWN/, 'what cannot hold while off is reset, as power off does');
  assert.is(cfg('n03').physState, 'POWER_OFF');
  await until(() => dsc('n03').physState === 'POWER_OFF', 5000, 'n03 off');
  assert.is((await lc(['power', 'on', 'n03', '--wait'])).code, 0);
  assert.is(cfg('n03').runState, 'SYNC', 'power on puts back what node set reset');
});

test('power on --wait reports a node the engine gives up on (its BMC fails, and nothing leads out of PHYS_HANG), and exits 1', async () => {
  await new ApiClient({url: `http://${server.address}`, token: TOKEN}).createNodes([{nodename: 'bad1'}]);
  const r = await lc(['power', 'on', 'bad1', 'n03', '--wait']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /✔ n03 converged/);
  assert.match(r.stdout, /✖ bad1 cannot converge: no mutation leads from \{physState=PHYS_HANG\}/);
  assert.match(r.stderr, /Error \[LC_ERR_NOT_CONVERGED\]: 1 of 2 node\(s\) did not converge\n {2}Try this: layercake node why NODE/);
  const why = await lc(['node', 'why', 'bad1']);
  assert.match(why.stdout, /bad1 cannot converge/);
  assert.match(why.stdout, /Last failure: power\/discover at .*: bad1: the test BMC does not answer/);
});

test('watch follows events and reconnects when the daemon restarts', async () => {
  const child = spawn(process.execPath, [BIN, 'watch', '--for', '60s'], {cwd: box.dir, env: {...box.env, LAYERCAKE_URL: server.address, LAYERCAKE_TOKEN: TOKEN}, stdio: ['ignore', 'pipe', 'pipe']});
  let out = '';
  let waiting: {re: RegExp; resolve(): void} | undefined;
  const onData = (d: Buffer) => {
    out += d;
    if (waiting?.re.test(out)) waiting.resolve();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  /** Resolves as soon as the output matches `re` (checked as each chunk arrives); fails after `ms`, naming `label`. */
  const printed = (re: RegExp, ms: number, label: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s waiting for ${label}:\n${out}`)), ms);
    waiting = {re, resolve: () => (clearTimeout(timer), waiting = undefined, resolve())};
    if (re.test(out)) waiting.resolve();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await printed(/watching http:\/\/127\.0\.0\.1:\d+/, 15_000, 'watch to connect');
    daemon.store.setCfg(cfg('n03').id, 'arch', 'arm64', 'test');
    await printed(/n03 cfg arch: - → arm64/, 5000, 'the change in the watch output');
    const port = server.address.split(':').pop();
    await server.close();
    await printed(/daemon connection lost/, 5000, 'the disconnect notice');
    server = await createApiServer({...daemon, listenAddress: `127.0.0.1:${port}`});
    await printed(/reconnected to/, 15_000, 'the reconnection');
    daemon.store.setCfg(cfg('n03').id, 'arch', 'amd64', 'test');
    await printed(/n03 cfg arch: arm64 → amd64/, 5000, 'events after the reconnection');
  } finally {
    child.kill('SIGINT');
  }
  assert.is(await exited, 0, out);
});

test.run();
