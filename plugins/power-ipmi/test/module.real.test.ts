/**
 * The ipmi module driven through fakeContext() (a ModuleContext double that plays the engine one
 * step at a time) against 20 real ipmi_sim BMCs: power on all, a killed and a hung BMC among them,
 * a wrong password, forced power-off, polling. The real engine and daemon are in daemon.real.test.ts.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {startIpmi} from '../src/module.js';
import type {BmcClient} from '../src/bmc/client.js';
import type {Poller} from '../src/poller.js';
import {fakeContext, nodeId, type FakeContext} from './support/fake-context.js';
import {ipmitoolUnavailable, simUnavailable, SIM_PASSWORD, SIM_USER, startSims, type SimFarm} from './support/ipmi-sim.js';

const N = 20;
const missing = simUnavailable() ?? ipmitoolUnavailable();
if (missing) {
  console.log(`SKIP: ${missing}`);
  test.skip('the ipmi module against 20 ipmi_sim BMCs');
  test.run();
} else {
  let farm: SimFarm;
  let fc: FakeContext;
  let client: BmcClient;
  let poller: Poller;
  const ids = Array.from({length: N}, (_, i) => nodeId(i));
  const ipmi = (i: number, over: Record<string, string | number | boolean> = {}) => ({
    host: '127.0.0.1', port: farm.sims[i].port, username: SIM_USER, password: SIM_PASSWORD, ...over,
  });
  const phys = (i: number) => fc.view(ids[i]).dsc.physState;

  test.before(async () => {
    farm = await startSims(N);
    fc = fakeContext({attemptTimeout: '200ms', retries: 1, breaker: {failures: 2, cooldown: '1s'}, pollInterval: 0,
      verifyInterval: '50ms', settleTimeout: '2s'});
    for (let i = 0; i < N; i++) {
      fc.addNode({id: ids[i], nodename: `n${String(i + 1).padStart(2, '0')}`, extensions: {ipmi: ipmi(i, {bootdev: 'pxe'})}});
    }
    ({client, poller} = startIpmi(fc.ctx));
  });

  test.after(async () => {
    fc?.stop();
    await client?.close();
    await farm?.stop();
  });

  test('power on all 20: every chassis is told "boot from PXE" then "power on", every node discovers POWER_ON', async () => {
    const probes = await Promise.all(ids.map((id) => fc.mutate(id, 'UKtoOFF')));
    assert.ok(probes.every((r) => r.ok), JSON.stringify(probes.filter((r) => !r.ok)));
    assert.ok(ids.every((_, i) => phys(i) === 'POWER_OFF'));
    const results = await Promise.all(ids.map((id) => fc.mutate(id, 'OFFtoON')));
    assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
    for (let i = 0; i < N; i++) {
      assert.is(farm.sims[i].power(), 1, `chassis ${i} is on`);
      assert.equal(farm.sims[i].sets(), ['set boot pxe', 'set power 1'], `chassis ${i} was told pxe, then on`);
      assert.is(phys(i), 'POWER_ON');
    }
  });

  test('UKtoOFF on a machine that is on discovers POWER_ON; a repeated request is idempotent', async () => {
    const i = 19;
    fc.view(ids[i]).dsc.physState = 'PHYS_UNKNOWN';
    assert.ok((await fc.mutate(ids[i], 'UKtoOFF')).ok);
    assert.is(phys(i), 'POWER_ON', 'the probe found it on (the engine re-plans from there)');
    farm.sims[i].clearLog();
    fc.view(ids[i]).dsc.physState = 'POWER_OFF'; // a stale view: the engine asks for OFFtoON on a machine that is on
    const twice = await Promise.all([fc.mutate(ids[i], 'OFFtoON'), fc.mutate(ids[i], 'OFFtoON')]);
    assert.ok(twice.every((r) => r.ok));
    assert.equal(farm.sims[i].sets(), [], 'nothing was switched: it was on already');
    assert.is(phys(i), 'POWER_ON');
  });

  test('a killed BMC and a hung BMC: those nodes fail with a reason; the other 18 are unaffected and answered first', async () => {
    await farm.sims[0].kill();
    farm.sims[1].pause();
    try {
      const done: number[] = []; // the order the answers came in
      const results = await Promise.all(ids.map((id, i) => fc.mutate(id, 'ONtoOFF').then((r) => (done.push(i), r))));
      const [dead, hung, ...healthy] = results;
      assert.not.ok(dead.ok);
      assert.match(dead.reason!, new RegExp(`BMC 127.0.0.1:${farm.sims[0].port} did not answer`));
      assert.not.ok(hung.ok);
      assert.match(hung.reason!, new RegExp(`BMC 127.0.0.1:${farm.sims[1].port} did not answer .*\\(2 tries, 200 ms each\\)`));
      assert.is(phys(0), 'PHYS_HANG');
      assert.is(phys(1), 'PHYS_HANG');
      assert.ok(healthy.every((r) => r.ok), JSON.stringify(healthy.filter((r) => !r.ok)));
      // Requests queued behind the hung BMC would all answer after its 2 tries of 200 ms; running beside it,
      // the healthy ones answer first (on a very busy machine a few may still take longer than those tries).
      const first = done.slice(0, done.indexOf(1)).filter((i) => i >= 2).length;
      assert.ok(first >= (N - 2) / 2, `the healthy nodes did not wait for the hung BMC: ${first} of ${N - 2} answered before it (order ${done.join(' ')})`);
      for (let i = 2; i < N; i++) assert.is(farm.sims[i].power(), 0);

      // The engine retries HANGtoOFF; after 2 failures in a row the breaker opens and the node fails fast.
      const again = await fc.mutate(ids[1], 'HANGtoOFF');
      assert.not.ok(again.ok);
      const fast = await fc.mutate(ids[1], 'HANGtoOFF');
      assert.not.ok(fast.ok);
      assert.match(fast.reason!, /did not answer.*\[circuit breaker open after 2 failures in a row; next try in 1s\]/);
      // Without trying the BMC: the try before waited out 2 attempts of 200 ms, this answer none.
      assert.ok(fast.ms < again.ms, `an open breaker answers at once (${fast.ms.toFixed(1)} ms; with the BMC tried ${again.ms.toFixed(1)} ms)`);
      // Meanwhile a healthy node is served.
      const other = await fc.mutate(ids[5], 'OFFtoON');
      assert.ok(other.ok, other.reason);
      assert.is(farm.sims[5].power(), 1);
    } finally {
      farm.sims[1].resume();
    }
    // The hung BMC recovers: once the cooldown is over, the half-open trial succeeds.
    const recovered = await waitFor(async () => {
      const r = await fc.mutate(ids[1], 'HANGtoOFF');
      return r.ok ? r : undefined;
    }, 3000, 'the hung BMC to recover');
    assert.ok(recovered.ok);
    assert.is(phys(1), 'POWER_OFF');
  });

  test('wrong password: a clear reason (also once the breaker is open); fixing it in cfg works at once', async () => {
    const i = 2;
    fc.setIpmi(ids[i], ipmi(i, {password: 'wrong-one'}));
    const first = await fc.mutate(ids[i], 'OFFtoON');
    assert.not.ok(first.ok);
    assert.is(first.reason, `BMC 127.0.0.1:${farm.sims[i].port} rejected the credentials of user "admin": wrong password (RAKP 2 key exchange code does not match)`);
    assert.not.match(first.reason!, /wrong-one/);
    fc.view(ids[i]).dsc.physState = 'POWER_OFF';
    await fc.mutate(ids[i], 'OFFtoON');
    fc.view(ids[i]).dsc.physState = 'POWER_OFF';
    const open = await fc.mutate(ids[i], 'OFFtoON');
    assert.match(open.reason!, /wrong password .*circuit breaker open/);
    fc.setIpmi(ids[i], ipmi(i)); // the operator fixes the password: the breaker is reset by the cfg change
    fc.view(ids[i]).dsc.physState = 'POWER_OFF';
    const fixed = await fc.mutate(ids[i], 'OFFtoON');
    assert.ok(fixed.ok, fixed.reason);
    assert.is(farm.sims[i].power(), 1);
    assert.not.ok(fc.logs.some((l) => /secret|wrong-one/.test(l.message)), 'no password in the logs');
  });

  test('forced power-off: ONtoOFF is excluded while SYNC; ONtoOFFforced needs ipmi.force', async () => {
    const i = 3;
    fc.view(ids[i]).dsc.physState = 'POWER_ON';
    farm.sims[i].setPower(1);
    fc.view(ids[i]).dsc.runState = 'SYNC';
    await rejectsWith(fc.mutate(ids[i], 'ONtoOFF'), /excluded while \/runState is "SYNC"/);
    await rejectsWith(fc.mutate(ids[i], 'ONtoOFFforced'), /requires \/extensions\/ipmi\/force true/);
    fc.setIpmi(ids[i], ipmi(i, {force: true}));
    assert.ok((await fc.mutate(ids[i], 'ONtoOFFforced')).ok);
    assert.is(farm.sims[i].power(), 0);
    assert.is(phys(i), 'POWER_OFF');
  });

  test('the ipmitool driver, chosen per node, does the same', async () => {
    const i = 4;
    fc.setIpmi(ids[i], ipmi(i, {driver: 'ipmitool', bootdev: 'pxe'}));
    fc.view(ids[i]).dsc.physState = 'POWER_OFF';
    farm.sims[i].setPower(0);
    farm.sims[i].clearLog();
    assert.ok((await fc.mutate(ids[i], 'OFFtoON')).ok);
    assert.equal(farm.sims[i].sets(), ['set boot pxe', 'set power 1']);
    assert.is(phys(i), 'POWER_ON');
  });

  test('polling discovers power changed behind the engine\'s back; an unreachable BMC changes nothing', async () => {
    // Settle every reachable node to what its chassis says.
    for (let i = 2; i < N; i++) fc.view(ids[i]).dsc.physState = farm.sims[i].power() ? 'POWER_ON' : 'POWER_OFF';
    const quiet = await poller.pollOnce();
    assert.is(quiet.changed, 0);
    farm.sims[6].setPower(farm.sims[6].power() ? 0 : 1); // someone pressed the button
    const want6 = farm.sims[6].power() ? 'POWER_ON' : 'POWER_OFF';
    farm.sims[7].pause();
    const seen7 = phys(7);
    try {
      const r = await poller.pollOnce();
      assert.is(r.changed, 1);
      assert.is(phys(6), want6);
      assert.ok(r.failed >= 1);
      assert.is(phys(7), seen7, 'an unreachable BMC is not a power change');
      await poller.pollOnce();
      assert.is(fc.logs.filter((l) => l.level === 'warn' && /n08: power poll failed/.test(l.message)).length, 1, 'logged once per outage');
    } finally {
      farm.sims[7].resume();
    }
    await waitFor(async () => {
      await poller.pollOnce();
      return fc.logs.some((l) => /n08: BMC answers again/.test(l.message)) || undefined;
    }, 3000, 'n08 to answer again');
    assert.is(phys(7), seen7);
  });

  test.run();
}

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('should have been refused');
}

async function waitFor<T>(check: () => Promise<T | undefined>, ms: number, label: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
