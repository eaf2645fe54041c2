/**
 * End to end through the real daemon (store, engine, module host, API) with the pxe module from the
 * plugin's hook: a powered-on node with pxe.state INIT in cfg is registered by NONEtoWAIT, a relay-style
 * DHCP client on loopback gets its lease, the ACK completes WAITtoINIT (pxe.state and runState INIT); a
 * node that never DHCPs times out (WAITtoINIT timeout overridden from the config), fails to PHYS_HANG and
 * is unregistered. Then the `layercake pxe render|leases|check` commands run against that daemon (from the
 * build, which `npm test` makes; without one the suite fails).
 */
import {execFile} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '@layercake/sdk/cli';
import {parseDaemonConfig, startDaemon, type Daemon} from '@layercake/sdk/embed';
import modulesHook from '../src/hooks/modules.js';
import {requireBuild} from '../../../test/support/cli.js';
import {until} from './support/context.js';
import {RelayClient, request, MessageType} from './support/dhcp-client.js';
import {freeTcpPort, freeUdpPort} from './support/ports.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

let daemon: Daemon;
let api: ApiClient;
let dir: string;
let configFile: string;
let client: RelayClient;
let dhcpPort: number;

function cli(args: string[]): Promise<{code: number; json: any; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args, '--config', configFile, '--url', `http://${daemon.listenAddress}`],
      {cwd: dir, env: {...process.env, NO_COLOR: '1'}, timeout: 60_000}, (error, stdout, stderr) => {
        let json: any;
        try { json = JSON.parse(stdout); } catch { json = undefined; }
        resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, json, stdout, stderr});
      });
  });
}

test.before(async () => {
  requireBuild('plugins/pxe/dist/commands/pxe/render.js');
  dir = mkdtempSync(join(tmpdir(), 'lc-pxe-daemon-'));
  dhcpPort = await freeUdpPort();
  const pxe = {
    serverIp: '127.0.0.1', dhcp: {port: dhcpPort}, tftp: {port: await freeUdpPort()}, http: {port: await freeTcpPort()},
    mutations: {WAITtoINIT: {timeout: '1500ms'}},
  };
  const stateDir = join(dir, 'state');
  const root = join(stateDir, 'pxe', 'tftp');
  mkdirSync(join(root, 'amd64'), {recursive: true});
  writeFileSync(join(root, 'boot.ipxe.tpl'), '#!ipxe\nkernel vmlinuz layercake.id={{.ID}} layercake.parent={{.ParentIP}}\nboot\n');
  writeFileSync(join(root, 'undionly.kpxe'), 'fake ROM');
  configFile = join(dir, 'layercake.config.json');
  writeFileSync(configFile, JSON.stringify({stateDir, modules: {pxe}}));
  const config = parseDaemonConfig({stateDir, listen: '127.0.0.1:0', api: {socket: 'none'}, logLevel: 'silent', retry: {max: 0, base: '100ms', max_backoff: '100ms'}, modules: {pxe}});
  daemon = await startDaemon({config, modules: await modulesHook()});
  api = new ApiClient({url: `http://${daemon.listenAddress}`, token: daemon.token});
  client = await RelayClient.open({address: '127.0.0.1', port: dhcpPort});
});

test.after(async () => {
  client?.close();
  await daemon?.stop();
  if (dir) rmSync(dir, {recursive: true, force: true});
});

test('the hook contributes the pxe module and the daemon runs it', async () => {
  const modules = await api.modules();
  assert.is(modules.find((m) => m.name === 'pxe')?.state, 'RUN');
  const ids = (await api.mutations()).map((m) => m.id).filter((id) => id.startsWith('pxe/')).sort();
  assert.equal(ids, ['pxe/NONEtoWAIT', 'pxe/WAITtoINIT']);
});

test('a booting node: NONEtoWAIT registers it, the DHCP ACK completes WAITtoINIT', async () => {
  await api.createNodes([{nodename: 'p01', arch: 'amd64', platform: 'sim', physState: 'POWER_ON', runState: 'INIT',
    extensions: {ipv4: {mac: '02:00:00:00:09:01', ip: '127.0.0.51', prefix: 8}, pxe: {state: 'INIT'}}}]);
  await api.discover('p01', {physState: 'POWER_ON'});
  await until(async () => ((await api.getNodeIn('p01', 'dsc')).extensions.pxe as {state?: string})?.state === 'WAIT', 'pxe.state WAIT', 10_000, 50);
  const {ack} = await client.dora({mac: '02:00:00:00:09:01'});
  assert.is(ack?.yiaddr, '127.0.0.51');
  await until(async () => {
    const d = await api.getNodeIn('p01', 'dsc');
    return (d.extensions.pxe as {state?: string}).state === 'INIT' && d.runState === 'INIT';
  }, 'pxe.state INIT and runState INIT', 10_000, 50);
});

test('a node that never DHCPs times out to PHYS_HANG and is unregistered', async () => {
  await api.createNodes([{nodename: 'p02', arch: 'amd64', platform: 'sim', physState: 'POWER_ON', runState: 'INIT',
    extensions: {ipv4: {mac: '02:00:00:00:09:02', ip: '127.0.0.52', prefix: 8}, pxe: {state: 'INIT'}}}]);
  await api.discover('p02', {physState: 'POWER_ON'});
  await until(async () => (await api.getNodeIn('p02', 'dsc')).physState === 'PHYS_HANG', 'PHYS_HANG after the WAITtoINIT timeout', 15_000, 50);
  const r = await client.exchange(request({type: MessageType.DISCOVER, mac: '02:00:00:00:09:02'}), 300);
  assert.is(r, undefined, 'no answer once interrupted');
  const why = await api.why('p02');
  assert.ok(JSON.stringify(why).includes('WAITtoINIT'), JSON.stringify(why));
});

test('layercake pxe leases shows who got what', async () => {
  const r = await cli(['pxe', 'leases', '--json']);
  assert.is(r.code, 0, r.stderr);
  const p01 = r.json.leases.find((l: {node: string}) => l.node === 'p01');
  assert.ok(p01, JSON.stringify(r.json));
  assert.is(p01.ip, '127.0.0.51');
  assert.is(p01.event, 'ACK');
  const text = await cli(['pxe', 'leases']);
  assert.match(text.stdout, /p01\s+02:00:00:00:09:01\s+127\.0\.0\.51\s+ACK/);
  const local = await cli(['pxe', 'leases', '--local', '--json']);
  assert.ok(local.json.leases.some((l: {node: string}) => l.node === 'p01'), 'the lease file on this host too');
});

test('layercake pxe render prints what a node would receive', async () => {
  const id = (await api.getNode('p01')).cfg.id;
  const r = await cli(['pxe', 'render', 'p01', 'boot.ipxe']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, `#!ipxe\nkernel vmlinuz layercake.id=${id} layercake.parent=127.0.0.1\nboot\n`);
  const j = await cli(['pxe', 'render', 'p01', '--json']);
  assert.is(j.json.dhcp.bios, 'undionly.kpxe');
  assert.match(j.json.dhcp.ipxe, /^http:\/\/127\.0\.0\.1:\d+\/boot\.ipxe$/);
  const missing = await cli(['pxe', 'render', 'p01', 'nope.cfg']);
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /no such file for node p01: nope.cfg/);
});

test('layercake pxe check passes (the native TFTP sender is built), then names a broken template', async () => {
  const ok = await cli(['pxe', 'check', '--json']);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  assert.ok(ok.json.ok);
  assert.equal(ok.json.checks.find((c: {check: string}) => c.check === 'TFTP sender'), {check: 'TFTP sender', status: 'ok', detail: 'the native sender is built'});
  writeFileSync(join(dir, 'state', 'pxe', 'tftp', 'amd64', 'boot.ipxe.tpl'), 'echo {{.Nodenam}}\n');
  const bad = await cli(['pxe', 'check']);
  assert.is(bad.code, 1);
  assert.match(bad.stdout, /node p01\s+FAIL\s+boot\.ipxe: boot\.ipxe\.tpl:1: unknown variable \.Nodenam/);
});

test.run();
