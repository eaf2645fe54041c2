/**
 * bench/boot: the power-on command (cfg physState POWER_ON + runState SYNC, as `layercake power on` sets
 * it) to runState SYNC, for 1 and for 2 qemu VMs booting Layer0 from the network (IPMI power through
 * ipmi_sim, stock iPXE ROM, our DHCP, the boot script and files over HTTP), against the same Layer0
 * booted by qemu directly (-kernel/-initrd: no firmware, no network boot) until its agent starts, in the
 * same run. Target (issue 15): the whole network boot of one VM <= 1.5x the direct boot.
 *
 * Where the time goes comes from each VM's serial console, read every 20 ms and timestamped as lines
 * appear (firmware, DHCP, downloads, kernel, init), and from the daemon's view (power, SYNC).
 * Then Layer1 (layer1.ts): power-on to the demo image ACTIVE, and rolls, against a direct start of the image
 * inside the same VM.
 * Needs root, qemu, openipmi, ipmitool. Usage: node --import tsx bench/boot/index.ts [--rounds 1] [--rolls 5]
 * [--part layer0|layer1] [--node-debug: the node's ImageAPI and agent step timings, Layer1] [--json]
 */
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {
  cleanConsole, describeMissing, kvmVerdict, layer0BootRoot, missingForVms, readFrom, startVmLab, VM_ARCH, type Vm, type VmLab,
} from '../../plugins/vm/src/index.js';
import {layer1Bench} from './layer1.js';
import {median, s} from './support.js';

const {values} = parseArgs({options: {rounds: {type: 'string', default: '1'}, rolls: {type: 'string', default: '5'}, json: {type: 'boolean', default: false},
  memory: {type: 'string', default: '1024'}, part: {type: 'string'}, 'node-debug': {type: 'boolean', default: false}}});
const ROUNDS = Number(values.rounds);
const MEMORY = Number(values.memory);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const log = (line: string) => { if (!values.json) console.log(line); };

/** Console milestones, in boot order: the first line matching each, after the boot began. */
const MILESTONES: [string, RegExp][] = [
  ['ipxe', /iPXE initialising devices/],
  ['dhcp', /net0: \d+\.\d+\.\d+\.\d+\//],
  ['script', /boot\.ipxe : \d+ bytes/],
  ['fetched', /layer0-config\.img\.\.\.[^\n]*ok/],
  ['setup', /Probing EDD/],
  ['kernel', /Linux version/],
  ['init', /Run \/init as init process/],
  ['agent', /layer0: agent started/],
];

/** Watches a console log from its current end and notes when each milestone's line first appears. */
function watchConsole(file: string, t0: number): {seen: Map<string, number>; stop: () => void} {
  let offset = existsSync(file) ? statSync(file).size : 0; // the console is appended to across power cycles
  let text = '';
  const seen = new Map<string, number>();
  const timer = setInterval(() => {
    const more = readFrom(file, offset, 1 << 24);
    offset = more.next;
    if (!more.text) return;
    text += more.text;
    const clean = cleanConsole(text);
    for (const [name, re] of MILESTONES) if (!seen.has(name) && re.test(clean)) seen.set(name, Date.now() - t0);
  }, 20);
  return {seen, stop: () => clearInterval(timer)};
}


interface NetBoot { node: string; qemu?: number; milestones: Record<string, number>; power?: number; sync: number }

/** Powers on `vms` (the others stay off) and times each to SYNC. */
async function networkBoot(lab: VmLab, vms: Vm[]): Promise<NetBoot[]> {
  const t0 = Date.now();
  const watches = vms.map((vm) => watchConsole(vm.consoleLog, t0));
  const qemu = new Map<string, number>();
  const power = new Map<string, number>();
  const sync = new Map<string, number>();
  const names = vms.map((vm) => vm.spec.name);
  await lab.api.setValues({nodes: names, set: {physState: 'POWER_ON', runState: 'SYNC', 'imageset.state': 'IDLE'}});
  const deadline = t0 + 300_000;
  while (sync.size < vms.length) {
    if (Date.now() > deadline) throw new Error(`not SYNC within 300 s: ${names.filter((n) => !sync.has(n)).join(', ')}`);
    for (const vm of vms) if (!qemu.has(vm.spec.name) && vm.qemuPid()) qemu.set(vm.spec.name, Date.now() - t0);
    for (const v of await lab.api.listNodes()) {
      const n = v.dsc.nodename;
      if (!names.includes(n)) continue;
      if (v.dsc.physState === 'POWER_ON' && !power.has(n)) power.set(n, Date.now() - t0);
      if (v.dsc.runState === 'SYNC' && !sync.has(n)) sync.set(n, Date.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const w of watches) w.stop();
  return vms.map((vm, k) => ({node: vm.spec.name, qemu: qemu.get(vm.spec.name), power: power.get(vm.spec.name),
    milestones: Object.fromEntries(watches[k]!.seen), sync: sync.get(vm.spec.name)!}));
}

async function powerOff(lab: VmLab, names: string[]): Promise<void> {
  await lab.api.setValues({nodes: names, set: {physState: 'POWER_OFF'}, resetUnknowable: true});
  const deadline = Date.now() + 120_000;
  // Off, no longer SYNC, and its agent's session over on the parent (a forced power-off leaves the session
  // until its dead interval; the next power-on would otherwise read the old SYNC as the new one).
  const down = (v: {dsc: {physState: string; runState: string}}) => v.dsc.physState === 'POWER_OFF' && v.dsc.runState !== 'SYNC';
  const sessionOver = async () => {
    const status = await lab.api.syncStatus();
    return status.enabled && status.children.filter((c) => names.includes(c.nodename)).every((c) => c.state !== 'synced');
  };
  while (!(await lab.api.listNodes()).filter((v) => names.includes(v.dsc.nodename)).every(down) || !await sessionOver()) {
    if (Date.now() > deadline) throw new Error(`${names.join(', ')} not off within 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The same Layer0 booted by qemu directly (kernel and the three initrds as one), timed until its agent starts. */
async function directBoot(bootRoot: string, accel: 'kvm' | 'tcg'): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'layercake-bench-boot-'));
  try {
    const arch = join(bootRoot, VM_ARCH);
    // Concatenated initramfs archives are one initramfs to the kernel, as iPXE's three initrds are.
    writeFileSync(join(dir, 'initrd'), Buffer.concat(['layer0-base.img', 'layer0-kmod.img', 'layer0-config.img'].map((f) => readFileSync(join(arch, f)))));
    const consoleLog = join(dir, 'console.log');
    writeFileSync(consoleLog, '');
    const t0 = Date.now();
    const watch = watchConsole(consoleLog, t0);
    const append = 'console=tty0 console=ttyS0,115200 root=/dev/ram0 layercake.iface=eth0 layercake.ip=10.213.0.99 layercake.net=24 '
      + 'layercake.id=00000000-0000-4000-8000-000000000099 layercake.parent=10.213.0.1 layercake.name=direct';
    const vm = spawn('qemu-system-x86_64', ['-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host'] : []), '-m', String(MEMORY), '-nographic', '-monitor', 'none',
      '-serial', `file:${consoleLog}`, '-nic', 'none', '-kernel', join(arch, 'vmlinuz'), '-initrd', join(dir, 'initrd'), '-append', append], {stdio: 'ignore'});
    const exited = new Promise<void>((r) => vm.once('exit', () => r()));
    const deadline = t0 + 180_000;
    while (!watch.seen.has('agent') && Date.now() < deadline && vm.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    watch.stop();
    vm.kill('SIGKILL');
    await exited;
    if (!watch.seen.has('agent')) throw new Error(`the directly booted Layer0 did not start its agent:\n${cleanConsole(readFileSync(consoleLog, 'utf8')).slice(-2000)}`);
    return Object.fromEntries(watch.seen);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

function phases(b: NetBoot): string {
  const m = b.milestones;
  const parts: [string, number | undefined, number | undefined][] = [
    ['power (engine+BMC)', 0, b.qemu], ['firmware', b.qemu, m.ipxe], ['DHCP', m.ipxe, m.dhcp], ['downloads', m.dhcp, m.fetched],
    ['iPXE to kernel setup', m.fetched, m.setup], ['setup+decompress', m.setup, m.kernel], ['kernel', m.kernel, m.init],
    ['init', m.init, m.agent], ['agent+phone home', m.agent, b.sync],
  ];
  return parts.map(([name, a, z]) => `${name} ${a === undefined || z === undefined ? '?' : ((z - a) / 1000).toFixed(1)}`).join(' | ');
}

async function main(): Promise<void> {
  const missing = describeMissing(missingForVms());
  if (missing) {
    console.log(`SKIP: bench/boot needs ${missing}`);
    return;
  }
  const bootRoot = await layer0BootRoot(log, ROOT);
  const verdict = await kvmVerdict(join(bootRoot, VM_ARCH, 'vmlinuz'));
  const accel = verdict.usable ? 'kvm' : 'tcg';
  log(`accelerator: ${accel.toUpperCase()} (KVM probe: ${verdict.reason}); ${MEMORY} MiB per VM; ${ROUNDS} round(s)`);
  const lab = await startVmLab({vms: 2, bootRoot, cliRoot: ROOT, accel, memoryMb: MEMORY, physState: 'POWER_OFF', logLevel: 'warn'});
  const result = {accel, direct: [] as Record<string, number>[], one: [] as NetBoot[], two: [] as NetBoot[][]};
  try {
    await lab.api.apply(lab.nodes);
    await powerOff(lab, ['n01', 'n02']);
    for (let round = 1; round <= ROUNDS; round++) {
      const direct = await directBoot(bootRoot, accel);
      result.direct.push(direct);
      log(`round ${round}: direct boot: setup ${s(direct.setup)} s, kernel ${s(direct.kernel)} s, init ${s(direct.init)} s, agent started ${s(direct.agent)} s (from qemu's start)`);
      const [one] = await networkBoot(lab, [lab.vmOf('n01')!]);
      result.one.push(one!);
      log(`round ${round}: 1 VM network boot: SYNC ${s(one!.sync)} s (agent started ${s(one!.milestones.agent)} s)\n    ${phases(one!)}`);
      await powerOff(lab, ['n01']);
      const two = await networkBoot(lab, lab.vms);
      result.two.push(two);
      for (const b of two) log(`round ${round}: 2 VMs network boot: ${b.node} SYNC ${s(b.sync)} s\n    ${phases(b)}`);
      await powerOff(lab, ['n01', 'n02']);
    }
  } finally {
    await lab.stop();
  }
  const direct = median(result.direct.map((d) => d.agent!));
  const one = median(result.one.map((b) => b.sync));
  const oneAgent = median(result.one.map((b) => b.milestones.agent ?? Number.NaN));
  const two = median(result.two.map((r) => Math.max(...r.map((b) => b.sync))));
  const summary = {
    accel, rounds: ROUNDS, directAgentStartedS: direct / 1000, oneVmSyncS: one / 1000, oneVmAgentStartedS: oneAgent / 1000, twoVmsSyncS: two / 1000,
    ratio: +(one / direct).toFixed(2), ratioSameEndpoint: +(oneAgent / direct).toFixed(2), target: 1.5,
  };
  if (values.json) {
    console.log(JSON.stringify({...summary, runs: result}, null, 2));
    return;
  }
  console.log(`\nbaseline: Layer0 booted directly (-kernel/-initrd) until its agent starts: ${s(direct)} s`);
  console.log(`1 VM:  power-on command -> SYNC ${s(one)} s = ${summary.ratio}x the direct boot (target <= 1.5x); to its agent starting ${s(oneAgent)} s = ${summary.ratioSameEndpoint}x`);
  console.log(`2 VMs: power-on command -> both SYNC ${s(two)} s (${(two / direct).toFixed(2)}x)`);
}

if (values.part !== 'layer1') await main();
if (values.part !== 'layer0') await layer1Bench({rolls: Number(values.rolls), memoryMb: MEMORY, json: values.json, nodeDebug: values['node-debug']});
