// Real machines, real parts: two qemu VMs, each powered by its own OpenIPMI ipmi_sim BMC through the
// unchanged power-ipmi plugin (RMCP+), boot Layer0 from the network with the stock iPXE ROM off the real
// daemon (pxe: DHCP, the boot script and files over HTTP) in a network namespace of the test's own, and
// their agents phone home (sync) until runState SYNC. The VMs are booted once and shared by the cases.
import {execFile} from 'node:child_process';
import {existsSync, readFileSync} from 'node:fs';
import {homedir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {NodeView} from '@layercake/sdk';
import {labViews, untilNodes} from './support/wait.js';
import {cleanConsole, describeMissing, kvmVerdict, layer0BootRoot, missingForVms, readFrom, startVmLab, VM_ARCH, type VmLab} from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(ROOT, 'bin', 'run.js');
/** The head's key that `layercake layer0 build` authorizes for root on the nodes' sshd (port 2022). */
const HEAD_KEY = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => join(homedir(), '.ssh', k)).find(existsSync);
const run = promisify(execFile);

let bootRoot: string | undefined;
let why = describeMissing(missingForVms());
if (!why) {
  try {
    bootRoot = await layer0BootRoot(() => undefined, ROOT);
    if (!existsSync(join(bootRoot, VM_ARCH, 'layer0-config.img'))) why = `Layer0 was not built into ${bootRoot}`;
  } catch (error) {
    why = `Layer0 cannot be built here: ${(error as Error).message}`;
  }
}

if (why) {
  console.log(`SKIP: ${why}`);
  test.skip('VMs boot over IPMI and PXE to SYNC', () => {});
  test.run();
} else {
  const started = Date.now();
  let lab: VmLab;
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--url', lab.url], {timeout: 240_000});
  const views = () => labViews(lab);
  const view = async (name: string) => (await views()).find((v) => v.dsc.nodename === name)!;

  const until = (what: string, ok: (views: NodeView[]) => boolean, timeoutMs: number) => untilNodes(lab, what, ok, timeoutMs);
  /** A power off's steps since `since`, in order: the node standing down (imageset/SYNCtoINIT) and the BMC's. */
  const offSteps = async (name: string, since: number) => (await lab.api.history(name)).entries
    .filter((h) => h.time >= since && (h.mutation === 'imageset/SYNCtoINIT' || h.mutation?.startsWith('ipmi/')) && (h.kind === 'complete' || h.kind === 'mutate'))
    .map((h) => `${h.kind.toUpperCase()} ${h.mutation}`);
  const allSync = (vs: NodeView[]) => vs.length === lab.vms.length && vs.every((v) => v.dsc.physState === 'POWER_ON' && v.dsc.runState === 'SYNC');

  test.before(async () => {
    const verdict = await kvmVerdict(join(bootRoot!, VM_ARCH, 'vmlinuz'));
    console.log(`# KVM: ${verdict.usable ? 'yes' : 'no'} (${verdict.reason})`);
    try {
      lab = await startVmLab({vms: 2, bootRoot: bootRoot!, cliRoot: ROOT, accel: verdict.usable ? 'kvm' : 'tcg', logLevel: 'warn'});
      await lab.api.apply(lab.nodes); // power on, boot to SYNC: the engine drives the BMCs
    } catch (error) {
      // uvu counts a failed hook as failed tests without printing why: say it here.
      console.error(`# the VM lab did not start: ${(error as Error).stack}`);
      throw error;
    }
  });

  test.after(async () => {
    await lab?.stop();
  });

  test('2 VMs powered on over IPMI get our lease, fetch the script and Layer0 over HTTP, and phone home: SYNC', async () => {
    await until('both VMs SYNC', allSync, 300_000);
    console.log(`# both VMs SYNC ${((Date.now() - started) / 1000).toFixed(1)} s after the test started`);
    for (const vm of lab.vms) {
      const v = await view(vm.spec.name);
      const lease = (v.dsc.extensions.pxe as {lease?: {ip: string; mac: string; event: string; client: string}}).lease;
      const ip = (v.cfg.extensions.ipv4 as {ip: string}).ip;
      assert.ok(lease, `${vm.spec.name}: the pxe lease is recorded`);
      assert.is(lease!.ip, ip, `${vm.spec.name}: leased its address`);
      assert.is(lease!.mac, vm.spec.mac);
      assert.is(lease!.event, 'ACK');
      assert.match(vm.ipmitool('power', 'status').stdout, /Chassis Power is on/);
      const console_ = cleanConsole(readFrom(vm.consoleLog, 0, 1 << 24).text);
      assert.match(console_, `net0: ${ip}/255.255.255.0`);
      assert.match(console_, /http:\/\/10\.213\.0\.1:8069\/boot\.ipxe\.\.\.[^\n]*ok/);
      // iPXE prints each file's progress (percentages) between its name and "ok".
      for (const file of ['vmlinuz', 'layer0-base.img', 'layer0-kmod.img', 'layer0-config.img']) assert.match(console_, new RegExp(`${file.replace(/\./g, '\\.')}\\.\\.\\.[^\\n]*ok`));
      assert.match(console_, 'Linux version');
    }
  });

  test('power off n02: its qemu ends and ipmitool reads off; power on again: SYNC again', async () => {
    const vm = lab.vmOf('n02')!;
    const pid = vm.qemuPid();
    assert.ok(pid, 'n02 runs');
    const session = async () => {
      const status = await lab.api.syncStatus();
      return status.enabled ? status.children.find((c) => c.nodename === 'n02') : undefined;
    };
    const before = (await session())?.session;
    assert.ok(before, 'n02\'s agent is in session with the parent');
    const asked = Date.now();
    await cli('power', 'off', 'n02', '--yes', '--wait');
    await until('n02 off', (vs) => vs.find((v) => v.dsc.nodename === 'n02')?.dsc.physState === 'POWER_OFF', 60_000);
    // Gracefully (no ipmi.force): n02's agent stood the node down before its BMC powered it off.
    assert.equal(await offSteps('n02', asked), ['COMPLETE imageset/SYNCtoINIT', 'MUTATE ipmi/ONtoOFF', 'COMPLETE ipmi/ONtoOFF']);
    assert.not.ok(existsSync(`/proc/${pid}`), 'the qemu process of n02 has ended');
    assert.is(vm.qemuPid(), undefined);
    assert.match(vm.ipmitool('power', 'status').stdout, /Chassis Power is off/);
    assert.is((await view('n01')).dsc.runState, 'SYNC', 'n01 was left alone');
    await cli('power', 'on', 'n02');
    await until('n02 SYNC again, in a new session', allSync, 240_000);
    // SYNC could be the old session's until its dead interval: the new boot's agent must have phoned home.
    for (const deadline = Date.now() + 240_000; (await session())?.state !== 'synced' || (await session())?.session === before;) {
      assert.ok(Date.now() < deadline, 'n02\'s new agent opened a new session');
      await new Promise((r) => setTimeout(r, 500));
    }
    await until('n02 SYNC in its new session', allSync, 60_000);
    assert.ok(vm.qemuPid() && vm.qemuPid() !== pid, 'a new qemu runs n02');
  });

  test('the agent killed inside a VM (over the sshd on 2022) comes back under supervision and re-syncs without a reboot', async () => {
    const vm = lab.vmOf('n01')!;
    const qemu = vm.qemuPid();
    const ip = '10.213.0.11';
    const ssh = (command: string) => lab.network.ns.exec('ssh', ['-p', '2022', '-i', HEAD_KEY!, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', `root@${ip}`, command], {timeoutMs: 30_000});
    const agentPid = () => ssh('cat /run/layer0/agent.pid').stdout.trim();
    const session = async () => {
      const status = await lab.api.syncStatus();
      return status.enabled ? status.children.find((c) => c.nodename === 'n01') : undefined;
    };
    const before = ssh('cat /run/layer0/agent.pid');
    assert.is(before.status, 0, `ssh to n01 on 2022 with the head key works: ${before.stderr}`);
    const pid = before.stdout.trim();
    assert.ok(/^\d+$/.test(pid), `the agent's pid on n01: ${before.stdout}`);
    const oldSession = (await session())?.session;
    assert.ok(oldSession, 'n01\'s agent is in session with the parent');
    const killed = Date.now();
    assert.is(ssh(`kill -9 ${pid}`).status, 0);
    // Supervision restarts it (after 1 s): a new agent process, and the node SYNC on the parent.
    const deadline = Date.now() + 120_000;
    let now = '';
    while (Date.now() < deadline) {
      now = agentPid();
      if (/^\d+$/.test(now) && now !== pid) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(/^\d+$/.test(now) && now !== pid, `a new agent runs on n01 (was ${pid}, now ${now || 'none'})`);
    assert.match(cleanConsole(readFrom(vm.consoleLog, 0, 1 << 24).text), /layer0: agent exited \(code \d+\) after \d+s; restarting/);
    // The new agent phones home: a new session, and the node SYNC in it (its state taken from the parent,
    // not the restarted agent's "unknown"), on the same boot.
    for (const end = Date.now() + 120_000; (await session())?.state !== 'synced' || (await session())?.session === oldSession;) {
      assert.ok(Date.now() < end, 'n01\'s restarted agent opened a new session');
      await new Promise((r) => setTimeout(r, 500));
    }
    // The agent answers the parent's first state with its own: read once the parent hears from it after now.
    const seen = Date.now();
    for (const end = Date.now() + 60_000; ;) {
      const heard = (await session())?.lastHeardMs;
      if (heard !== undefined && Date.now() - heard > seen) break;
      assert.ok(Date.now() < end, 'the parent hears from n01\'s restarted agent');
      await new Promise((r) => setTimeout(r, 500));
    }
    await until('n01 SYNC after the agent restart', (vs) => vs.find((v) => v.dsc.nodename === 'n01')?.dsc.runState === 'SYNC', 120_000);
    assert.is(vm.qemuPid(), qemu, 'no power cycle: the same qemu runs n01');
    const left = (await lab.api.history('n01')).entries.filter((h) => h.time >= killed && h.kind === 'dsc' && h.url === '/runState');
    assert.equal(left.map((h) => h.value), [], 'the parent\'s runState of n01 never left SYNC');
    // The restarted agent knows its node is SYNC: a graceful power off goes through its SYNCtoINIT.
    const asked = Date.now();
    await cli('power', 'off', 'n01', '--yes', '--wait');
    await until('n01 off', (vs) => vs.find((v) => v.dsc.nodename === 'n01')?.dsc.physState === 'POWER_OFF', 60_000);
    assert.equal(await offSteps('n01', asked), ['COMPLETE imageset/SYNCtoINIT', 'MUTATE ipmi/ONtoOFF', 'COMPLETE ipmi/ONtoOFF']);
  });

  test('stopping the lab leaves no process, namespace, tap or directory behind', async () => {
    const {dir, network} = lab;
    const pids = [...lab.vms.map((vm) => vm.qemuPid()).filter(Boolean), ...network.ns.pids()];
    assert.ok(pids.length > 0);
    await lab.stop();
    assert.not.ok(network.ns.exists, 'the namespace is gone (with its bridge and taps)');
    assert.not.ok(existsSync(dir), 'the lab directory is gone');
    // Processes that were not ours to wait for (qemu is its BMC's child) are reaped by init a moment later.
    for (let i = 0; i < 100 && pids.some((pid) => existsSync(`/proc/${pid}`)); i++) await new Promise((r) => setTimeout(r, 50));
    for (const pid of pids) assert.not.ok(existsSync(`/proc/${pid}`), `process ${pid} is gone (${existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '?'})`);
    console.log(`# whole test: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  test.run();
}
