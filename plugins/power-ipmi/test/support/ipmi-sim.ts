/**
 * Real BMCs for the tests and the benchmark: OpenIPMI `ipmi_sim` processes (Debian package
 * `openipmi`) on loopback UDP ports, set up as in peers-and-operator-tools.md §4.4. Each has its own
 * directory with a chassis_control script that records every call ("what the machine was told")
 * in `chassis.log` and keeps the power state in `power` (0 or 1) and the boot device in `boot`.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import dgram from 'node:dgram';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {encodeRequest} from '../../src/ipmi/message.js';
import {encodeV15} from '../../src/ipmi/packet.js';

export const SIM_USER = 'admin';
export const SIM_PASSWORD = 'secret';

/** Why the simulator cannot run here, or undefined if it can. */
export function simUnavailable(): string | undefined {
  if (spawnSync('ipmi_sim', ['--version'], {stdio: 'ignore'}).error) return 'ipmi_sim not installed (Debian package openipmi)';
  return undefined;
}

export function ipmitoolUnavailable(): string | undefined {
  if (spawnSync('ipmitool', ['-V'], {stdio: 'ignore'}).error) return 'ipmitool not installed (Debian package ipmitool)';
  return undefined;
}

export interface Sim {
  index: number;
  host: string;
  port: number;
  dir: string;
  /** Every chassis_control call, e.g. "get power", "set power 1", "set boot pxe". */
  calls(): string[];
  /** Only the calls that changed something ("set ..."). */
  sets(): string[];
  /** The machine's power as the chassis script keeps it. */
  power(): 0 | 1;
  setPower(value: 0 | 1): void;
  boot(): string;
  clearLog(): void;
  /** Kills the process (a dead BMC: its port is closed). */
  kill(): Promise<void>;
  /** Kills the process and starts a new one on the same port (a rebooted BMC: it forgot its sessions). */
  restart(): Promise<void>;
  /** Stops the process without killing it (a hung BMC: no answers, port still open). */
  pause(): void;
  resume(): void;
  readonly alive: boolean;
  readonly pid: number;
}

export interface SimFarm {
  root: string;
  sims: Sim[];
  stop(): Promise<void>;
}

const EMU = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`;

function chassisScript(dir: string): string {
  // ipmi_sim runs it as: <script> 0x20 get|set <what> [value]; it must exit 0.
  return `#!/bin/sh
d='${dir}'
shift
echo "$*" >> "$d/chassis.log"
case "$1 $2" in
  "get power") echo "power:$(cat "$d/power" 2>/dev/null || echo 0)" ;;
  "set power") echo "$3" > "$d/power" ;;
  "get boot") echo "boot:$(cat "$d/boot" 2>/dev/null || echo none)" ;;
  "set boot") echo "$3" > "$d/boot" ;;
esac
exit 0
`;
}

function lanConf(dir: string, port: number, index: number): string {
  const guid = (0xa1000000 + index).toString(16).padStart(8, '0').repeat(4);
  const auths = 'none md2 md5 straight';
  return `name "bmc${index}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback ${auths}
    allowed_auths_user ${auths}
    allowed_auths_operator ${auths}
    allowed_auths_admin ${auths}
    guid ${guid}
  endlan
  chassis_control "${join(dir, 'chassis.sh')} 0x20"
user 2 true "${SIM_USER}" "${SIM_PASSWORD}" admin 10 ${auths}
user 3 true "operator" "oppass" operator 10 ${auths}
user 4 true "viewer" "viewpass" user 10 ${auths}
`;
}

/** Distinct free UDP ports on loopback (held open together, then released). */
export async function freeUdpPorts(n: number): Promise<number[]> {
  const sockets = await Promise.all(Array.from({length: n}, () => new Promise<dgram.Socket>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = sockets.map((s) => s.address().port);
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** Resolves when something answers an IPMI Get Channel Authentication Capabilities on the port. */
export async function waitForBmc(port: number, ms = 5000, alive: () => boolean = () => true): Promise<void> {
  const probe = encodeV15(encodeRequest({netFn: 0x06, cmd: 0x38, rqSeq: 1, data: Buffer.from([0x8e, 0x04])}));
  const socket = dgram.createSocket('udp4');
  socket.on('error', () => undefined); // port unreachable while the sim starts
  const end = Date.now() + ms;
  try {
    await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', () => resolve()));
    for (;;) {
      const answered = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => { socket.off('message', on); resolve(false); }, 50);
        const on = (): void => { clearTimeout(t); resolve(true); };
        socket.once('message', on);
        socket.send(probe);
      });
      if (answered) return;
      if (!alive()) throw new Error(`ipmi_sim on port ${port} exited`);
      if (Date.now() > end) throw new Error(`ipmi_sim on port ${port} did not answer within ${ms} ms`);
    }
  } finally {
    socket.close();
  }
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const p of running) try { p.kill('SIGKILL'); } catch {} });

/**
 * Starts `count` simulators (in batches of `batch`, waiting for each batch to answer). A simulator
 * that fails to start (its port was taken meanwhile) is retried on another port.
 */
export async function startSims(count: number, opts: {batch?: number; root?: string} = {}): Promise<SimFarm> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'lc-ipmi-sim-'));
  const sims: Sim[] = [];
  const farm: SimFarm = {
    root, sims,
    async stop() {
      await Promise.all(sims.map((s) => s.kill()));
      rmSync(root, {recursive: true, force: true});
    },
  };
  try {
    const batch = opts.batch ?? 50;
    for (let first = 0; first < count; first += batch) {
      const size = Math.min(batch, count - first);
      const started = await Promise.all(Array.from({length: size}, (_, k) => startOne(root, first + k)));
      sims.push(...started);
    }
  } catch (error) {
    await farm.stop();
    throw error;
  }
  return farm;
}

interface Proc {
  child: ChildProcess;
  exited: boolean;
  exit: Promise<void>;
  stderr: () => string;
}

function spawnSim(dir: string): Proc {
  const child = spawn('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-n', '-s', join(dir, 'state')],
    {cwd: dir, stdio: ['ignore', 'ignore', 'pipe']});
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr += d; });
  const proc: Proc = {child, exited: false, exit: Promise.resolve(), stderr: () => stderr};
  proc.exit = new Promise<void>((resolve) => child.once('exit', () => { proc.exited = true; running.delete(child); resolve(); }));
  return proc;
}

async function kill(proc: Proc): Promise<void> {
  if (proc.exited) return;
  try { proc.child.kill('SIGCONT'); } catch {}
  proc.child.kill('SIGKILL');
  await proc.exit;
}

async function startOne(root: string, index: number, attempt = 1): Promise<Sim> {
  const [port] = await freeUdpPorts(1);
  const dir = join(root, `bmc${index}`);
  mkdirSync(join(dir, 'state'), {recursive: true});
  writeFileSync(join(dir, 'sim.emu'), EMU);
  writeFileSync(join(dir, 'chassis.sh'), chassisScript(dir));
  chmodSync(join(dir, 'chassis.sh'), 0o755);
  writeFileSync(join(dir, 'lan.conf'), lanConf(dir, port, index));
  writeFileSync(join(dir, 'power'), '0\n');
  writeFileSync(join(dir, 'chassis.log'), '');
  let proc = spawnSim(dir);
  try {
    await waitForBmc(port, 5000, () => !proc.exited);
  } catch (error) {
    await kill(proc);
    if (attempt < 3) return startOne(root, index, attempt + 1);
    throw new Error(`${(error as Error).message}: ${proc.stderr().trim()}`);
  }
  const read = (name: string): string => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');
  const sim: Sim = {
    index, host: '127.0.0.1', port, dir,
    calls: () => read('chassis.log').split('\n').filter(Boolean),
    sets: () => sim.calls().filter((c) => c.startsWith('set ')),
    power: () => (read('power').trim() === '1' ? 1 : 0),
    setPower: (value) => writeFileSync(join(dir, 'power'), `${value}\n`),
    boot: () => read('boot').trim() || 'none',
    clearLog: () => writeFileSync(join(dir, 'chassis.log'), ''),
    kill: () => kill(proc),
    async restart() {
      await kill(proc);
      proc = spawnSim(dir);
      await waitForBmc(port, 5000, () => !proc.exited);
    },
    pause: () => { proc.child.kill('SIGSTOP'); },
    resume: () => { proc.child.kill('SIGCONT'); },
    get alive() { return !proc.exited; },
    get pid() { return proc.child.pid ?? 0; },
  };
  return sim;
}
