/**
 * Both drivers against real OpenIPMI ipmi_sim BMCs: the native RMCP+ client is cross-checked
 * against ipmitool on the same simulators (same answers, same chassis_control calls, same error
 * kinds), then the native driver's session cache, re-open after a BMC restart, and the password
 * staying out of ipmitool's argv.
 */
import {readFileSync} from 'node:fs';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {BmcDriver, BmcTarget} from '../src/drivers/driver.js';
import {IpmitoolDriver} from '../src/drivers/ipmitool.js';
import {NativeDriver} from '../src/drivers/native.js';
import {IpmiError} from '../src/errors.js';
import {rejects} from './support/assert.js';
import {ipmitoolUnavailable, simUnavailable, SIM_PASSWORD, SIM_USER, startSims, type SimFarm} from './support/ipmi-sim.js';

const missing = simUnavailable() ?? ipmitoolUnavailable();
if (missing) {
  console.log(`SKIP: ${missing}`);
  test.skip('both BMC drivers against ipmi_sim BMCs');
  test.run();
} else {
  let farm: SimFarm;
  const timing = {attemptTimeout: 1000, retries: 1};
  const native = new NativeDriver({...timing, sessionIdle: 10_000});
  const ipmitool = new IpmitoolDriver(timing);
  const drivers: BmcDriver[] = [native, ipmitool];
  const target = (i: number, over: Partial<BmcTarget> = {}): BmcTarget => ({
    host: farm.sims[i].host, port: farm.sims[i].port, username: SIM_USER, password: SIM_PASSWORD,
    privilege: 'ADMINISTRATOR', cipherSuite: 3, ...over,
  });
  const outcome = async (p: Promise<unknown>): Promise<unknown> => {
    try {
      return await p;
    } catch (e) {
      return e instanceof IpmiError ? {kind: e.kind} : {error: String(e)};
    }
  };

  test.before(async () => {
    farm = await startSims(3);
  });

  test.after(async () => {
    await native.close();
    await farm?.stop();
  });

  test('both drivers: the same answers and the same chassis_control calls, step by step', async () => {
    const results: Record<string, unknown[]> = {};
    const calls: Record<string, string[]> = {};
    for (const [i, d] of drivers.entries()) {
      const sim = farm.sims[i];
      const t = target(i);
      const r: unknown[] = [];
      r.push(await d.status(t));
      await d.power(t, 'on');
      r.push(sim.power(), await d.status(t));
      await d.bootdev(t, 'pxe');
      r.push(sim.boot());
      await d.bootdev(t, 'disk', {efi: true});
      await d.power(t, 'reset');
      await d.power(t, 'soft');
      await d.power(t, 'off');
      r.push(sim.power(), await d.status(t));
      for (const suite of [1, 2] as const) r.push(await d.status({...t, cipherSuite: suite}));
      results[d.name] = r;
      calls[d.name] = sim.sets();
    }
    assert.equal(results.native, ['off', 1, 'on', 'pxe', 0, 'off', 'off', 'off']);
    assert.equal(results.ipmitool, results.native);
    assert.equal(calls.native, ['set power 1', 'set boot pxe', 'set boot default', 'set reset 1', 'set shutdown 1', 'set power 0']);
    assert.equal(calls.ipmitool, calls.native, 'the machine was told the same things');
  });

  test('both drivers: the same error kinds and messages for bad credentials and dead BMCs', async () => {
    const cases: [string, (i: number) => BmcTarget][] = [
      ['wrong password', (i) => target(i, {password: 'wrong'})],
      ['unknown user', (i) => target(i, {username: 'nobody'})],
      ['closed port', (i) => target(i, {port: 9})],
    ];
    for (const [label, make] of cases) {
      const errors = [];
      for (const d of drivers) {
        try {
          await d.status(make(2));
          assert.unreachable(`${d.name}: ${label} should fail`);
        } catch (e) {
          assert.instance(e, IpmiError, `${d.name}: ${label}`);
          errors.push(e as IpmiError);
        }
      }
      assert.is(errors[0].kind, errors[1].kind, label);
      if (label !== 'closed port') assert.is(errors[0].message, errors[1].message, label);
      for (const e of errors) assert.not.match(e.message, /secret|wrong(?! password)/, 'no password in the message');
    }
    const e = await rejects(native.status(target(2, {password: 'wrong'})));
    assert.is(e.message, `BMC 127.0.0.1:${farm.sims[2].port} rejected the credentials of user "admin": wrong password (RAKP 2 key exchange code does not match)`);
  });

  test('both drivers: a BMC host name that does not resolve is a config error with its own code (not a bad port)', async () => {
    const host = 'no-such-bmc.invalid'; // .invalid never resolves (RFC 6761)
    const errors: IpmiError[] = [];
    for (const d of drivers) errors.push(await rejects(d.status(target(0, {host}))) as IpmiError);
    for (const e of errors) {
      assert.instance(e, IpmiError);
      assert.is(e.kind, 'config', e.message);
      assert.is(e.code, 'LC_ERR_IPMI_HOST');
      assert.match(e.message, /BMC host name "no-such-bmc.invalid" does not resolve \(ENOTFOUND\): give ipmi.host the BMC's IP address/);
      assert.not.match(e.message, /Port should be/);
    }
    assert.is(errors[0].message, errors[1].message, 'both drivers say the same');
  });

  test('both drivers: a user without the privilege for chassis control is refused the same way', async () => {
    const viewer = (i: number) => target(i, {username: 'viewer', password: 'viewpass', privilege: 'USER'});
    for (const d of drivers) {
      assert.is(await d.status(viewer(2)), 'off', `${d.name}: a USER may read the power state`);
      assert.equal(await outcome(d.power(viewer(2), 'on')), {kind: 'auth'}, `${d.name}: but not switch it`);
    }
    assert.is(farm.sims[2].power(), 0);
  });

  test('native: one session serves many requests, and a restarted BMC gets a new one transparently', async () => {
    const sim = farm.sims[0];
    const t = target(0);
    await native.status(t);
    const before = native.openSessions;
    for (let i = 0; i < 20; i++) await native.status(t);
    assert.is(native.openSessions, before, 'no new sessions'); // what that saves per request: bench/ipmi (warm vs cold)
    await sim.restart(); // the BMC forgets every session
    sim.setPower(1);
    assert.is(await native.status(t), 'on', 'the stale session was replaced');
  });

  test('ipmitool: the password is passed in the environment, never on the command line', async () => {
    const t = target(1, {password: 'Pw-not-in-argv'});
    const argv = ipmitool.argv(t, ['chassis', 'power', 'status']);
    assert.not.ok(argv.some((a) => a.includes('Pw-not-in-argv')));
    assert.ok(argv.includes('-E'), 'ipmitool reads IPMI_PASSWORD');
    assert.not.ok(argv.includes('-P'));
    // And for real: watch the running ipmitool's /proc cmdline while it waits on a paused BMC.
    const sim = farm.sims[1];
    sim.pause();
    try {
      const running = ipmitool.status(t).catch(() => undefined);
      const seen = await findProcessCmdline('ipmitool', 3000);
      assert.ok(seen, 'saw ipmitool running');
      assert.not.match(seen!, /Pw-not-in-argv/);
      await running;
    } finally {
      sim.resume();
    }
  });

  test.run();
}

async function findProcessCmdline(name: string, ms: number): Promise<string | undefined> {
  const {readdirSync} = await import('node:fs');
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (cmd[0]?.endsWith(name) && cmd.includes('-E')) return cmd.join(' ');
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}
