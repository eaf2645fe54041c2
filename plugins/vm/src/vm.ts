/**
 * A virtual machine with a real BMC: an OpenIPMI `ipmi_sim` process owns the machine's power. Its
 * `startcmd` starts qemu on "chassis power on"; qemu connects back to it through its external-BMC
 * device (`ipmi-bmc-extern` + `isa-ipmi-kcs`), so the BMC knows when the machine runs and can tell it
 * to power off or reset (peers-and-operator-tools.md §4.5). The machine boots from the network with the
 * stock iPXE ROM (`-boot n`), never with `-kernel`.
 *
 * No `-no-reboot`: a reboot from inside the guest and an IPMI "power reset" restart the machine in place
 * (firmware, DHCP, boot script again), as on real hardware; "power off" and a guest that powers itself
 * off end the qemu process, and the BMC then reads "off"; "power cycle" is off, then a new qemu.
 */
import {randomBytes} from 'node:crypto';
import {chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import type {ChildProcess} from 'node:child_process';
import type {Netns} from './netns.js';
import {NIC} from './requirements.js';

export interface VmSpec {
  /** The node name (n01 ...). */
  name: string;
  mac: string;
  /** The tap on the namespace's bridge the VM's NIC is plugged into. */
  tap: string;
  /** The BMC's RMCP+ UDP port (on 127.0.0.1 inside the namespace). */
  bmcPort: number;
  /** The TCP port qemu's external-BMC chardev connects to (inside the namespace). */
  kcsPort: number;
  memoryMb: number;
  accel: 'kvm' | 'tcg';
}

export interface BmcCredentials {
  username: string;
  password: string;
}

/** Fresh credentials for a run's BMCs (IPMI v2.0 passwords are at most 20 bytes). */
export function newCredentials(): BmcCredentials {
  return {username: 'admin', password: randomBytes(8).toString('hex')};
}

const EMU = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** qemu's arguments for a network-booting VM (the console is appended to, across power cycles). */
export function qemuArgs(spec: VmSpec, dir: string): string[] {
  return [
    '-name', spec.name, '-accel', spec.accel, ...(spec.accel === 'kvm' ? ['-cpu', 'host'] : []), '-m', String(spec.memoryMb),
    // -nographic also tells SeaBIOS and iPXE to print on the serial port, which goes to the console log.
    '-nographic', '-monitor', 'none', '-chardev', `file,id=console,path=${join(dir, 'console.log')},append=on`, '-serial', 'chardev:console',
    '-pidfile', join(dir, 'qemu.pid'), '-boot', 'n',
    '-netdev', `tap,id=net0,ifname=${spec.tap},script=no,downscript=no`, '-device', `${NIC.device},netdev=net0,mac=${spec.mac}`,
    '-chardev', `socket,id=ipmi0,host=127.0.0.1,port=${spec.kcsPort},reconnect=10`,
    '-device', 'ipmi-bmc-extern,chardev=ipmi0,id=bmc0', '-device', 'isa-ipmi-kcs,bmc=bmc0',
  ];
}

function lanConf(spec: VmSpec, dir: string, credentials: BmcCredentials, index: number): string {
  const auths = 'none md2 md5 straight';
  const guid = (0xc0000000 + index).toString(16).padStart(8, '0').repeat(4);
  return `# BMC of ${spec.name}: written by layercake's VM harness (plugins/vm); removed with the run.
name "${spec.name}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${spec.bmcPort}
    priv_limit admin
    allowed_auths_callback ${auths}
    allowed_auths_user ${auths}
    allowed_auths_operator ${auths}
    allowed_auths_admin ${auths}
    guid ${guid}
  endlan
  serial kcs 127.0.0.1 ${spec.kcsPort} codec VM
  startcmd "${join(dir, 'start.sh')}"
  startnow false
  poweroff_wait 2
  kill_wait 2
user 2 true "${credentials.username}" "${credentials.password}" admin 10 ${auths}
`;
}

export interface VmOptions {
  ns: Netns;
  /** The VM's own directory (configuration, console log, BMC state). */
  dir: string;
  spec: VmSpec;
  credentials: BmcCredentials;
  index: number;
}

/** One VM and its BMC. The BMC runs from start() to stop(); the VM runs while the BMC says "on". */
export class Vm {
  readonly dir: string;
  readonly spec: VmSpec;
  readonly consoleLog: string;
  private bmc?: ChildProcess;
  private bmcErr = '';

  constructor(private readonly options: VmOptions) {
    this.dir = options.dir;
    this.spec = options.spec;
    this.consoleLog = join(options.dir, 'console.log');
  }

  /** Writes the BMC's files and starts it; resolves once it answers over RMCP+. */
  async start(): Promise<void> {
    const {dir, spec, credentials, index, ns} = this.options;
    mkdirSync(join(dir, 'state'), {recursive: true});
    writeFileSync(join(dir, 'sim.emu'), EMU);
    writeFileSync(join(dir, 'lan.conf'), lanConf(spec, dir, credentials, index), {mode: 0o600});
    writeFileSync(join(dir, 'start.sh'), `#!/bin/sh\n# Run by the BMC on "chassis power on".\nexec qemu-system-x86_64 ${qemuArgs(spec, dir).map(quote).join(' ')}\n`);
    chmodSync(join(dir, 'start.sh'), 0o755);
    writeFileSync(this.consoleLog, '', {flag: 'a'});
    this.bmc = ns.spawn('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-n', '-s', join(dir, 'state')], {cwd: dir, stdio: ['ignore', 'ignore', 'pipe']});
    this.bmc.stderr!.on('data', (d) => { this.bmcErr += d; });
    const deadline = Date.now() + 10_000;
    while (this.ipmitool('power', 'status').status !== 0) {
      if (this.bmc.exitCode !== null) throw new Error(`the BMC of ${spec.name} (ipmi_sim) exited: ${this.bmcErr.trim()}`);
      if (Date.now() > deadline) throw new Error(`the BMC of ${spec.name} (ipmi_sim on port ${spec.bmcPort}) did not answer within 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Runs ipmitool against this VM's BMC (inside the namespace): the operator's tool, used here to check
   * that the BMC is up and by the tests. The password goes through the environment, not the arguments.
   */
  ipmitool(...args: string[]): {status: number | null; stdout: string; stderr: string} {
    const {spec, credentials, ns} = this.options;
    // -C 3: without a cipher suite ipmitool first asks for the list, which ipmi_sim does not answer (10 s).
    return ns.exec('ipmitool', ['-C', '3', '-I', 'lanplus', '-H', '127.0.0.1', '-p', String(spec.bmcPort), '-U', credentials.username, '-E', 'chassis', ...args],
      {timeoutMs: 15_000, env: {IPMI_PASSWORD: credentials.password}});
  }

  /** The qemu process of the machine, while it runs. */
  qemuPid(): number | undefined {
    const file = join(this.dir, 'qemu.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(this.dir, 'console.log')) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stops the BMC and the machine (the machine without a graceful shutdown: the run is over). */
  async stop(): Promise<void> {
    const pid = this.qemuPid();
    if (pid) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      // The BMC (qemu's parent) reaps it: wait for that before the BMC goes, so no zombie is left behind.
      for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
    }
    if (this.bmc && this.bmc.exitCode === null && this.bmc.signalCode === null) {
      const exited = new Promise<void>((r) => this.bmc!.once('exit', () => r()));
      this.bmc.kill('SIGKILL'); // `ip netns exec` execs ipmi_sim: this is its pid
      await exited;
    }
    // A qemu its BMC had not reaped yet is reaped by init once the BMC is gone: wait for that too.
    for (let i = 0; pid && i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  }
}
