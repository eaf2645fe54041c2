/**
 * A simulated cluster: the real parent daemon (engine, pxe, sync, sim power) and a world of simulated
 * machines booting from it over loopback. Used by `layercake demo`, the tests and bench/scale.
 */
import {randomUUID} from 'node:crypto';
import {createSocket} from 'node:dgram';
import {copyFile, mkdir, mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {ModuleSpec} from '@layercake/sdk';
import {parseDaemonConfig, startDaemon, type Daemon} from '@layercake/sdk/embed';
import {layer0} from './layer0.js';
import {World, type WorldMachine, type WorldView} from './world.js';
import {WorldProcesses} from './world-processes.js';

export interface ClusterOptions {
  nodes: number;
  /** Inject faults: a share of machines hang on their first boot, one BMC never answers. */
  faults?: boolean;
  /** Every module the plugins contribute (the `layercake:modules` hook). */
  modules: ModuleSpec[];
  /** The parent's API (default 127.0.0.1:0). */
  listen?: string;
  /** The API's local Unix socket: a path, 'private' for api.sock in the state dir, or none (the default). */
  socket?: string;
  /** Where everything lives; default a fresh temp dir, removed by stop(). */
  stateDir?: string;
  /** Simulated delays (ms): the BMC's answer and the firmware's POST. */
  bmcDelayMs?: number;
  postMs?: number;
  /** Sync timers (ms). */
  helloInterval?: number;
  deadTime?: number;
  logLevel?: string;
  log?: (message: string) => void;
  /** Machines booting at once (firmware to Layer0), per world process (default 64). */
  maxBooting?: number;
  /**
   * Run the world in this many child processes, or more if the machines need more file descriptors than
   * one process may have (default 0: in this process). Large clusters need it: the daemon under test then
   * has a core of its own. The agents there load their modules from `cliRoot`.
   */
  worldProcesses?: number;
  /** The layercake CLI whose installed plugins the agents of world processes use (its package root). */
  cliRoot?: string;
  /** Each agent serves its API on a Unix socket in its state dir, as a real node's (for `layercake busy|free`; default off). */
  agentSockets?: boolean;
  /** How long the sim module waits for a BMC (ms; default 2000). */
  bmcTimeout?: number;
  /**
   * How long a machine may take to get its lease (pxe WAITtoINIT) and then to phone home (sync
   * INITtoSYNC): 'quick' (default: 8 s and 15 s, so that the demo power-cycles a hung machine within
   * seconds), 'modules' (the modules' own, 90 s each, as for real hardware), or a duration for both.
   */
  bootTimeouts?: 'quick' | 'modules' | string;
  /**
   * Multiplies every default duration of the cluster (default 1, what the demo shows): the simulated
   * delays (BMC answer, POST) and the timers it gives the daemon (sync hello and dead intervals, BMC
   * timeout, power polling, 'quick' boot timeouts, power mutation timeouts, retry backoff). Tests run
   * the same story faster with a fraction (0.25: a hung machine is power-cycled after 2 s instead of 8 s).
   * What is given explicitly (helloInterval, bmcTimeout, postMs...) is taken as it is; the agents keep
   * their own sync timers unless helloInterval or deadTime is given.
   */
  timeScale?: number;
}

export interface SimulatedCluster {
  daemon: Daemon;
  world: WorldView;
  stateDir: string;
  machines: WorldMachine[];
  /** The generated cluster file's nodes (what `layercake apply` would take). */
  nodes: Record<string, unknown>[];
  stop(): Promise<void>;
}

const pad = (i: number, n: number) => String(i).padStart(Math.max(2, String(n).length), '0');

/** The machines of a cluster of n: names n01…, MACs 52:54:00:…, addresses 127.42.x.y (each its own on loopback). */
export function machinesOf(n: number, faults = false): WorldMachine[] {
  return Array.from({length: n}, (_, k) => {
    const i = k + 1;
    const hang = faults && i % 8 === 3;
    const dead = faults && i === n && n > 1;
    return {
      id: randomUUID(), nodename: `n${pad(i, n)}`,
      mac: `52:54:00:${[(i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
      faults: {hangFirstBoot: hang, deadBmc: dead},
    };
  });
}

export const ipOf = (i: number) => `127.42.${(i >> 8) & 255}.${i & 255}`;

/** The cfg of every machine: on, synced, running one Layer1 image; its BMC answers at `bmcUrlOf(id)`. */
export function clusterNodes(machines: WorldMachine[], bmcUrlOf: (id: string) => string): Record<string, unknown>[] {
  return machines.map((m, k) => ({
    id: m.id, nodename: m.nodename, platform: 'sim', arch: 'amd64', physState: 'POWER_ON', runState: 'SYNC',
    extensions: {
      sim: {bmcUrl: bmcUrlOf(m.id)},
      ipv4: {iface: 'eth0', mac: m.mac, ip: ipOf(k + 1), prefix: 8},
      pxe: {method: 'ipxe'},
      imageset: {state: 'ACTIVE', images: {base: {source: {kind: 'file', path: '/images/layer1-base.sqfs'}, container: {command: '/sbin/init'}}}},
    },
  }));
}

/** A default duration (ms) times the cluster's time scale; a scale must be a positive number. */
function scaler(scale: number): (ms: number) => number {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`startCluster: timeScale must be a number above 0 (got ${scale})`);
  return (ms) => Math.max(1, Math.round(ms * scale));
}

/** A UDP port free right now (the caller binds it at once: the daemon starts right after). */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const {port} = s.address();
  s.close();
  return port;
}

export async function startCluster(options: ClusterOptions): Promise<SimulatedCluster> {
  const scaled = scaler(options.timeScale ?? 1); // a bad scale fails before anything is made
  const owned = !options.stateDir;
  const stateDir = options.stateDir ?? await mkdtemp(join(tmpdir(), 'layercake-demo-'));
  // The world must know the DHCP and sync ports before it starts; the daemon binds them first, right after
  // they are picked. Its HTTP and TFTP servers take any free port (the boot URLs name the one they got).
  const [dhcpPort, syncPort] = await Promise.all([freePort(), freePort()]);
  const machines = machinesOf(options.nodes, options.faults);
  const tftpRoot = join(stateDir, 'tftp');
  await mkdir(tftpRoot, {recursive: true});
  const pxeDir = dirname(dirname(fileURLToPath(import.meta.resolve('@layercake/plugin-pxe'))));
  await copyFile(join(pxeDir, 'templates', 'boot.ipxe.tpl'), join(tftpRoot, 'boot.ipxe.tpl'));

  const shared = {
    bmcDelayMs: options.bmcDelayMs ?? scaled(50), postMs: options.postMs ?? scaled(300), maxBooting: options.maxBooting ?? 64,
    boot: {dhcpHost: '127.0.0.1', dhcpPort, timeoutMs: 1000, tries: 6},
  };
  const agents = {dir: join(stateDir, 'machines'), parentSyncPort: syncPort, helloInterval: options.helloInterval, deadTime: options.deadTime, logLevel: options.logLevel, agentSockets: options.agentSockets};
  const hello = options.helloInterval ?? scaled(2000);
  const boot = options.bootTimeouts ?? 'quick';
  const bootTimeout = (quickMs: number) => (boot === 'modules' ? {} : {timeout: boot === 'quick' ? scaled(quickMs) : boot});
  const bmcTimeout = options.bmcTimeout ?? scaled(2000);
  // Power mutations outlast a BMC request and its retry (their own defaults are 10 s, 20 s for HANGtoOFF).
  const power = (defaultMs: number) => ({timeout: Math.max(scaled(defaultMs), bmcTimeout * 2)});
  const config = parseDaemonConfig({
    stateDir: join(stateDir, 'parent'), listen: options.listen ?? '127.0.0.1:0',
    api: {socket: options.socket === 'private' ? join(stateDir, 'api.sock') : options.socket ?? 'none'}, logLevel: options.logLevel ?? 'warn', nodename: 'head',
    retry: {max: 3, base: scaled(1000), max_backoff: scaled(10_000)},
    sync: {listen: `127.0.0.1:${syncPort}`, helloInterval: hello, deadInterval: options.deadTime ?? hello * 4},
    modules: {
      sim: {requestTimeout: bmcTimeout, pollInterval: scaled(5000), mutations: {UKtoOFF: power(10_000), OFFtoON: power(10_000), ONtoOFF: power(10_000), HANGtoOFF: power(20_000)}},
      pxe: {
        serverIp: '127.0.0.1', bindAddress: '127.0.0.1', dhcp: {port: dhcpPort}, tftp: {port: 0, root: tftpRoot}, http: {port: 0},
        mutations: {WAITtoINIT: bootTimeout(8000)},
      },
      sync: {mutations: {INITtoSYNC: bootTimeout(15_000)}},
    },
  });
  let daemon: Daemon;
  try {
    daemon = await startDaemon({config, modules: options.modules, logTo: 'stderr'}); // stdout is the demo's output
  } catch (error) {
    if (owned) await rm(stateDir, {recursive: true, force: true});
    throw error;
  }
  let world: WorldView;
  let bmcUrlOf: (id: string) => string;
  if (options.worldProcesses) {
    if (!options.cliRoot) throw new Error('startCluster: worldProcesses needs cliRoot (the CLI whose plugins the agents load)');
    const processes = new WorldProcesses({...shared, machines, processes: options.worldProcesses, cliRoot: options.cliRoot, layer0: agents, log: options.log});
    world = processes;
    bmcUrlOf = (id) => processes.bmcUrls.get(id)!;
    await processes.start().catch(async (error: Error) => {
      await processes.stop();
      await daemon.stop();
      if (owned) await rm(stateDir, {recursive: true, force: true});
      throw error;
    });
  } else {
    const local = new World({...shared, machines, log: options.log, layer0: layer0({...agents, modules: options.modules})});
    world = local;
    const url = await local.start();
    bmcUrlOf = () => url;
  }
  const nodes = clusterNodes(machines, bmcUrlOf);
  return {
    daemon, world, stateDir, machines, nodes,
    async stop() {
      await world.stop();
      await daemon.stop();
      if (owned) await rm(stateDir, {recursive: true, force: true});
    },
  };
}
