/**
 * What the `layercake ipmi status|bootdev|test` commands do (src/actions.ts), against real ipmi_sim
 * BMCs and nodes as the API returns them (inline passwords redacted).
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {Node, NodeView} from '@layercake/sdk';
import {REDACTED, runAction} from '../src/actions.js';
import {BmcClient} from '../src/bmc/client.js';
import {nodeId} from './support/fake-context.js';
import {simUnavailable, SIM_PASSWORD, SIM_USER, startSims, type SimFarm} from './support/ipmi-sim.js';

const missing = simUnavailable();
if (missing) {
  console.log(`SKIP: ${missing}`);
  test.skip('what the ipmi commands do, against ipmi_sim BMCs');
  test.run();
} else {
  let farm: SimFarm;
  let dir: string;
  const client = new BmcClient({driver: 'native', concurrency: 50, attemptTimeout: 200, retries: 1, sessionIdle: 0, breaker: {failures: 3, cooldown: 1000}});

  const view = (i: number, ipmi: Record<string, unknown>): NodeView => {
    const cfg = {id: nodeId(i), nodename: `n0${i + 1}`, parentId: '', arch: '', platform: 'ipmi', physState: 'POWER_ON', runState: 'UNKNOWN',
      busy: 'FREE', services: {}, extensions: {ipmi: {host: '127.0.0.1', port: farm.sims[i].port, username: SIM_USER, ...ipmi}}} as unknown as Node;
    return {cfg, dsc: {...cfg, physState: 'POWER_OFF'}};
  };

  test.before(async () => {
    farm = await startSims(3);
    dir = mkdtempSync(join(tmpdir(), 'lc-ipmi-actions-'));
    writeFileSync(join(dir, 'bmc.pw'), `${SIM_PASSWORD}\n`, {mode: 0o600});
  });

  test.after(async () => {
    await client.close();
    await farm?.stop();
    rmSync(dir, {recursive: true, force: true});
  });

  test('status: a redacted password is reported with what to do; a password file or --password-file works', async () => {
    farm.sims[1].setPower(1);
    const views = [view(0, {password: REDACTED}), view(1, {password: REDACTED, passwordFile: join(dir, 'bmc.pw')}), view(2, {password: REDACTED})];
    const plain = await runAction(views, {kind: 'status'}, client);
    assert.equal(plain.map((r) => [r.nodename, r.ok, r.power, r.error?.kind]), [['n01', false, undefined, 'config'], ['n02', true, 'on', undefined], ['n03', false, undefined, 'config']]);
    assert.match(plain[0].error!.message, /held by the daemon .* --password-file or IPMI_PASSWORD/);
    assert.is(plain[1].physState, 'POWER_OFF', 'the daemon\'s belief is shown next to the BMC\'s answer');
    const given = await runAction(views, {kind: 'status'}, client, {password: SIM_PASSWORD});
    assert.equal(given.map((r) => r.power), ['off', 'on', 'off']);
  });

  test('test: wrong credentials and a dead BMC are told apart', async () => {
    await farm.sims[2].kill();
    const r = await runAction([view(0, {password: 'nope'}), view(1, {password: SIM_PASSWORD}), view(2, {password: SIM_PASSWORD})], {kind: 'test'}, client);
    assert.equal(r.map((x) => x.error?.kind ?? 'ok'), ['auth', 'ok', 'unreachable']);
    assert.match(r[0].error!.message, /rejected the credentials of user "admin": wrong password/);
  });

  test('bootdev: the machine is told to boot from PXE', async () => {
    const r = await runAction([view(0, {password: SIM_PASSWORD}), view(1, {password: SIM_PASSWORD})], {kind: 'bootdev', device: 'pxe'}, client);
    assert.ok(r.every((x) => x.ok));
    assert.equal([farm.sims[0].boot(), farm.sims[1].boot()], ['pxe', 'pxe']);
  });

  test.run();
}
