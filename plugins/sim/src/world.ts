/**
 * The simulated world: machines with BMCs, firmware and Layer0. Only the world is simulated; the daemon
 * that drives it (engine, pxe, sync, imageset) is the real code.
 */
import {BmcService} from './bmc.js';
import type {BootTarget} from './firmware.js';
import {Machine, type Layer0Factory, type MachineFaults, type MachineStatus} from './machine.js';
import {Slots} from './slots.js';

export interface WorldMachine {
  id: string;
  nodename: string;
  mac: string;
  faults?: MachineFaults;
}

export interface WorldOptions {
  machines: WorldMachine[];
  boot: BootTarget;
  layer0: Layer0Factory;
  bmcDelayMs?: number;
  postMs?: number;
  /** Where the BMC service listens (port 0: any free port). */
  bmcHost?: string;
  bmcPort?: number;
  /**
   * How many machines may boot at once, from firmware to a running Layer0 (default unlimited). The world
   * shares this process's CPU: past what it can serve, machines wait in POST instead of timing out in DHCP.
   */
  maxBooting?: number;
  log?: (message: string) => void;
  /** Told of every machine's change of stage. */
  onChange?: (machine: Machine) => void;
}

/** What the cluster needs of a world, whether it runs in this process or in others. */
export interface WorldView {
  readonly machines: ReadonlyMap<string, MachineStatus>;
  /** How many machines are at each stage. */
  stages(): Record<string, number>;
  /** Powers everything off (stopping every Layer0) and closes the BMC services. */
  stop(): Promise<void>;
}

export class World implements WorldView {
  readonly machines = new Map<string, Machine>();
  private readonly bmc: BmcService;
  bmcUrl = '';

  constructor(private readonly options: WorldOptions) {
    const bootSlots = options.maxBooting ? new Slots(options.maxBooting) : undefined;
    for (const m of options.machines) {
      this.machines.set(m.id, new Machine({
        ...m, boot: options.boot, layer0: options.layer0, bootSlots, bmcDelayMs: options.bmcDelayMs, postMs: options.postMs, log: options.log, onChange: options.onChange,
      }));
    }
    this.bmc = new BmcService(this.machines);
  }

  async start(): Promise<string> {
    this.bmcUrl = await this.bmc.listen(this.options.bmcHost, this.options.bmcPort);
    return this.bmcUrl;
  }

  async stop(): Promise<void> {
    await this.bmc.close();
    await Promise.all([...this.machines.values()].map((m) => m.halt()));
  }

  stages(): Record<string, number> {
    return stageCounts(this.machines.values());
  }
}

export function stageCounts(machines: Iterable<MachineStatus>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of machines) out[m.stage] = (out[m.stage] ?? 0) + 1;
  return out;
}
