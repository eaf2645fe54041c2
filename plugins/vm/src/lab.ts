/**
 * A VM lab: a network namespace with a bridge, the real layercake daemon running inside it (pxe serving
 * the bridge, power-ipmi driving the BMCs, sync for the agents), and N virtual machines, each with its
 * own ipmi_sim BMC. The host reaches the daemon through its API's local channel, a Unix socket in the
 * lab's directory. Used by `layercake demo --vms`, the boot test and bench/boot. stop() removes
 * everything it made: VMs, BMCs, daemon, namespace (with its bridge and taps) and the lab's directory.
 */
import {randomUUID} from 'node:crypto';
import {constants, copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {ChildProcess} from 'node:child_process';
import {ApiClient} from '@layercake/sdk/cli';
import {hasCommand} from './requirements.js';
import {bridgedNetwork, type BridgedNetwork} from './netns.js';
import {newCredentials, Vm, type BmcCredentials} from './vm.js';

/** The lab's network: the head on .1, the nodes from .11, the host's end of the host link (if any) on .254. */
export const LAB_SUBNET = {address: '10.213.0.1', prefix: 24, firstNode: 11, host: '10.213.0.254'} as const;
/** The daemon's pxe HTTP server on the lab's network: the nodes fetch their boot files and Layer1 images there. */
export const LAB_HTTP = {port: 8069, url: `http://${LAB_SUBNET.address}:8069`} as const;
/** The architecture directory of the boot root the VMs boot from (`<bootRoot>/amd64/vmlinuz` ...). */
export const VM_ARCH = 'amd64';

export interface VmLabOptions {
  vms: number;
  /** Where Layer0 was built: `<bootRoot>/amd64/{vmlinuz,layer0-*.img}` (copied into the lab; left untouched). */
  bootRoot: string;
  /** The layercake CLI the daemon runs from (its package root, holding bin/run.js). */
  cliRoot: string;
  accel: 'kvm' | 'tcg';
  memoryMb?: number;
  /** The lab's directory; default a fresh temp dir. Removed by stop() either way. */
  dir?: string;
  /** The namespace's name (default lcvm<pid>). */
  name?: string;
  logLevel?: string;
  /** The API's local socket (default `<dir>/api.sock`; `layercake demo --vms` takes the default socket when it is free). */
  socket?: string;
  /** Power state the nodes are applied with: 'POWER_ON' boots them at once (default), 'POWER_OFF' waits for a power on. */
  physState?: 'POWER_ON' | 'POWER_OFF';
  /**
   * A link from the host into the lab's network (the host gets LAB_SUBNET.host on it): the host reaches
   * the nodes' addresses, e.g. `layercake exec` into their Layer1's sshd. One lab at a time can have it.
   */
  hostLink?: boolean;
  /** The image set the nodes are applied with while powered on (default: none, IDLE). */
  imageset?: Record<string, unknown>;
  /** The Layer1 image catalogue the daemon's pxe HTTP server serves (`image build --catalogue`); default `<lab>/daemon/images`. */
  catalogue?: string;
}

export interface VmLab {
  dir: string;
  network: BridgedNetwork;
  vms: Vm[];
  /** The nodes as `layercake apply` takes them (passwords included: they stay in the lab). */
  nodes: Record<string, unknown>[];
  credentials: BmcCredentials;
  /** The daemon's API through its local channel. */
  api: ApiClient;
  /** `unix:<socket>`: the --url other terminals use. */
  url: string;
  /** The daemon's log (pino JSON lines). */
  daemonLog: string;
  vmOf(nodename: string): Vm | undefined;
  stop(): Promise<void>;
}

const pad = (i: number, n: number) => String(i).padStart(Math.max(2, String(n).length), '0');

/** The daemon's configuration inside the lab. */
function daemonConfig(dir: string, socket: string, bootRoot: string, network: BridgedNetwork, logLevel: string, catalogue?: string): Record<string, unknown> {
  return {
    stateDir: join(dir, 'daemon'), nodename: 'head', logLevel,
    listen: '127.0.0.1:3141', // inside the namespace; the host uses the socket
    api: {socket},
    sync: {listen: `${network.address}:31415`}, // the agents phone home to the bridge address (layercake.parent)
    modules: {
      pxe: {interface: network.bridge, serverIp: network.address, tftp: {root: bootRoot}, http: {port: LAB_HTTP.port, ...(catalogue ? {imagesDir: catalogue} : {})}},
      // A VM that powers itself off is noticed within seconds; a TCG boot may take a while to phone home.
      ipmi: {pollInterval: '5s'},
      sync: {mutations: {INITtoSYNC: {timeout: '180s'}}},
    },
  };
}

/**
 * Kernel arguments the VMs add to the stock boot script. no_timer_check: under TCG on a busy host the
 * kernel's check that the timer interrupt arrives can run out of (emulated) time and panic with "IO-APIC +
 * timer doesn't work!" (seen here with two VMs on two busy cores); virtual machines skip the check (Debian's
 * cloud images do the same).
 */
export const VM_KERNEL_ARGS = 'no_timer_check';

/** Layer0's files, as the build names them in `<boot root>/<arch>/`. */
const LAYER0_FILES = ['vmlinuz', 'layer0-base.img', 'layer0-kmod.img', 'layer0-config.img'];

/**
 * The lab's own boot root (`<lab>/boot`): Layer0's files copied from `bootRoot` (left untouched: it may be
 * an operator's) and the pxe plugin's boot script template with the VMs' kernel arguments.
 */
function labBootRoot(dir: string, bootRoot: string): string {
  const root = join(dir, 'boot');
  mkdirSync(join(root, VM_ARCH), {recursive: true});
  for (const file of LAYER0_FILES) {
    const from = join(bootRoot, VM_ARCH, file);
    if (!existsSync(from)) throw new Error(`${from} is missing: build Layer0 first (layercake layer0 build --out ${bootRoot})`);
    copyFileSync(from, join(root, VM_ARCH, file), constants.COPYFILE_FICLONE);
  }
  const pxeDir = dirname(dirname(fileURLToPath(import.meta.resolve('@layercake/plugin-pxe'))));
  const stock = readFileSync(join(pxeDir, 'templates', 'boot.ipxe.tpl'), 'utf8');
  if (!/^kernel .*$/m.test(stock)) throw new Error(`the pxe plugin's boot.ipxe.tpl has no kernel line: cannot add ${VM_KERNEL_ARGS}`);
  writeFileSync(join(root, 'boot.ipxe.tpl'), stock.replace(/^(kernel .*)$/m, `$1 ${VM_KERNEL_ARGS}`)
    .replace(/^(#!ipxe\n)/, `$1# The pxe plugin's template with the VMs' kernel arguments (${VM_KERNEL_ARGS}), written by the VM lab (plugins/vm).\n`));
  return root;
}

/**
 * Router advertisements on the bridge (radvd, no prefix, not a default router), when radvd is installed.
 * The stock iPXE configures IPv6 alongside DHCP and, on a network without an IPv6 router, waits about 16 s
 * for one before it boots (measured: "Configuring (net0 ...)" 18 s without, 3 s from power-on with).
 */
function startRadvd(lab: {dir: string; network: BridgedNetwork}): ChildProcess | undefined {
  if (!hasCommand('radvd')) return undefined;
  const conf = join(lab.dir, 'radvd.conf');
  writeFileSync(conf, `# Written by layercake's VM lab: tells iPXE there is no IPv6 router, so it does not wait for one.\ninterface ${lab.network.bridge} {\n  AdvSendAdvert on;\n  AdvDefaultLifetime 0;\n  MinRtrAdvInterval 30;\n  MaxRtrAdvInterval 100;\n};\n`);
  lab.network.ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']); // inside the namespace only; radvd wants it
  const radvd = lab.network.ns.spawn('radvd', ['-n', '-C', conf, '-p', join(lab.dir, 'radvd.pid'), '-m', 'stderr'], {stdio: ['ignore', 'ignore', 'pipe']});
  radvd.stderr!.pipe(createWriteStream(join(lab.dir, 'radvd.log')));
  return radvd;
}

async function startDaemon(lab: {dir: string; network: BridgedNetwork; socket: string}, cliRoot: string, log: string): Promise<{child: ChildProcess; api: ApiClient; url: string}> {
  const child = lab.network.ns.spawn(process.execPath, [join(cliRoot, 'bin', 'run.js'), 'daemon', '--config', join(lab.dir, 'layercake.config.json')],
    {stdio: ['ignore', 'pipe', 'pipe']});
  const out = createWriteStream(log);
  child.stdout!.pipe(out);
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; out.write(d); });
  const url = `unix:${lab.socket}`;
  const api = new ApiClient({url, source: 'the VM lab', timeoutMs: 5000});
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the daemon exited at start: ${stderr.trim().split('\n').slice(-5).join('\n')}`);
    try {
      await api.health();
      return {child, api, url};
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the daemon did not answer on ${url} within 30 s: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Signals a child and waits for its exit (and reaping: no zombie left); SIGKILL after 5 s. */
async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function startVmLab(options: VmLabOptions): Promise<VmLab> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'layercake-vms-'));
  mkdirSync(dir, {recursive: true});
  const credentials = newCredentials();
  const name = options.name ?? `lcvm${process.pid}`;
  let network: BridgedNetwork | undefined;
  let daemon: ChildProcess | undefined;
  let radvd: ChildProcess | undefined;
  const vms: Vm[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopAll());
  const stopAll = async () => {
    await Promise.all(vms.map((vm) => vm.stop()));
    await Promise.all([stopProcess(daemon, 'SIGTERM'), stopProcess(radvd, 'SIGKILL')]);
    network?.delete();
    rmSync(dir, {recursive: true, force: true});
  };
  try {
    network = bridgedNetwork(name, {address: LAB_SUBNET.address, prefix: LAB_SUBNET.prefix, taps: options.vms, hostAddress: options.hostLink ? LAB_SUBNET.host : undefined});
    const bootRoot = labBootRoot(dir, options.bootRoot);
    radvd = startRadvd({dir, network});
    const socket = options.socket ?? join(dir, 'api.sock');
    writeFileSync(join(dir, 'layercake.config.json'), JSON.stringify(daemonConfig(dir, socket, bootRoot, network, options.logLevel ?? 'info', options.catalogue), null, 2));
    const daemonLog = join(dir, 'daemon.log');
    const started = await startDaemon({dir, network, socket}, options.cliRoot, daemonLog);
    daemon = started.child;
    for (let k = 0; k < options.vms; k++) {
      const i = k + 1;
      const nodename = `n${pad(i, options.vms)}`;
      vms.push(new Vm({
        ns: network.ns, dir: join(dir, 'vms', nodename), credentials, index: i,
        spec: {name: nodename, mac: `52:54:00:13:00:${i.toString(16).padStart(2, '0')}`, tap: network.taps[k]!, bmcPort: 6230 + i, kcsPort: 9100 + i,
          memoryMb: options.memoryMb ?? 1024, accel: options.accel},
      }));
    }
    await Promise.all(vms.map((vm) => vm.start()));
    // A node applied powered off wants nothing that needs power (the daemon refuses a cfg that can never hold).
    const off = options.physState === 'POWER_OFF';
    const nodes = vms.map((vm, k) => ({
      id: randomUUID(), nodename: vm.spec.name, platform: 'ipmi', arch: VM_ARCH, physState: off ? 'POWER_OFF' : 'POWER_ON', runState: off ? 'UNKNOWN' : 'SYNC',
      extensions: {
        // No ipmi.force: `power off` is graceful, as on a server (the node's agent stands it down, imageset
        // SYNCtoINIT, then the BMC powers it off).
        ipmi: {host: '127.0.0.1', port: vm.spec.bmcPort, username: credentials.username, password: credentials.password},
        ipv4: {iface: 'eth0', mac: vm.spec.mac, ip: `10.213.0.${LAB_SUBNET.firstNode + k}`, prefix: LAB_SUBNET.prefix},
        pxe: {method: 'ipxe'},
        // Without images, an image set the agent brings to IDLE: powering a SYNC node off goes through
        // imageset SYNCtoINIT, which needs the node's image set known (with none asked for it stays UNKNOWN and
        // the power-off waits for ever on imageset/UKtoIDLE, a step only the node's agent can take).
        imageset: off ? {state: 'UNKNOWN'} : options.imageset ?? {state: 'IDLE'},
      },
    }));
    return {
      dir, network, vms, nodes, credentials, api: started.api, url: started.url, daemonLog,
      vmOf: (nodename) => vms.find((vm) => vm.spec.name === nodename),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
