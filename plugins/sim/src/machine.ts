/**
 * One simulated machine: a BMC, firmware that network-boots through the pxe plugin, and, once booted,
 * a Layer0 (a real child agent and a simulated ImageAPI) started by the world's agent factory.
 */
import type {Daemon} from '@layercake/sdk/embed';
import type {PowerAction, SimulatedBmc} from './bmc.js';
import type {Slots} from './slots.js';
import {bootScript, dhcpLease, kernelArgs, type BootTarget} from './firmware.js';

export interface MachineFaults {
  /** Hangs (never sends DHCP) on its first boot; recovers after a power cycle. */
  hangFirstBoot?: boolean;
  /** Its BMC never answers. */
  deadBmc?: boolean;
}

export interface Layer0 {
  /** The child agent now running, if any (tests look at its own view of the node). */
  readonly agent: Daemon | undefined;
  /** The agent dies (the machine stays on). */
  killAgent(): Promise<void>;
  /** Layer0's init starts the agent again (if it is not running). */
  startAgent(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Layer0 from the kernel command line the boot script carries (`layercake.id=` …). */
export type Layer0Factory = (machine: Machine, args: Record<string, string>, signal: AbortSignal) => Promise<Layer0>;

export interface MachineOptions {
  id: string;
  nodename: string;
  mac: string;
  faults?: MachineFaults;
  bmcDelayMs?: number;
  /** Time from power on to the firmware's first DHCP (a POST, in ms). */
  postMs?: number;
  boot: BootTarget;
  layer0: Layer0Factory;
  /** The world's boot slots: a machine holds one from its first DHCP until its Layer0 runs. */
  bootSlots?: Slots;
  log?: (message: string) => void;
  /** Told of every change of stage (a world in another process reports them to the cluster). */
  onChange?: (machine: Machine) => void;
}

export type MachineStage = 'off' | 'post' | 'dhcp' | 'loading' | 'layer0' | 'hung' | 'failed';

/** What the cluster sees of a machine, wherever its world runs. */
export interface MachineStatus {
  readonly stage: MachineStage;
  readonly boots: number;
  readonly lastError?: string;
}

export class Machine implements SimulatedBmc, MachineStatus {
  private current: MachineStage = 'off';
  lastError?: string;
  boots = 0;
  private abort?: AbortController;
  private layer0?: Layer0;

  constructor(readonly options: MachineOptions) {}

  get stage(): MachineStage {
    return this.current;
  }

  private set stage(stage: MachineStage) {
    this.current = stage;
    this.options.onChange?.(this);
  }

  get id(): string {
    return this.options.id;
  }

  get dead(): boolean {
    return Boolean(this.options.faults?.deadBmc);
  }

  get delayMs(): number {
    return this.options.bmcDelayMs ?? 0;
  }

  async act(action: PowerAction): Promise<void> {
    if (action !== 'on') await this.halt();
    if (action !== 'off' && this.stage === 'off') this.powerOn();
  }

  private powerOn(): void {
    this.boots++;
    this.stage = 'post';
    const abort = new AbortController();
    this.abort = abort;
    void this.boot(abort.signal).catch((error: Error) => {
      if (abort.signal.aborted) return;
      this.lastError = error.message;
      this.stage = 'failed'; // stays "on" but never phones home: the engine's timeout sees a hang
      this.options.log?.(`${this.options.nodename}: boot failed: ${error.message}`);
    });
  }

  private async boot(signal: AbortSignal): Promise<void> {
    if (this.options.postMs) await new Promise((r) => setTimeout(r, this.options.postMs));
    if (signal.aborted) return;
    if (this.options.faults?.hangFirstBoot && this.boots === 1) {
      this.stage = 'hung';
      return;
    }
    const release = await this.options.bootSlots?.acquire(signal);
    try {
      this.stage = 'dhcp';
      const lease = await dhcpLease(this.options.mac, this.options.boot, signal);
      this.stage = 'loading';
      const args = kernelArgs(await bootScript(lease, signal));
      if (args.id !== this.id) throw new Error(`the boot script is for node ${args.id ?? '(none)'}, not ${this.id}`);
      const layer0 = await this.options.layer0(this, args, signal);
      if (signal.aborted) {
        await layer0.stop();
        return;
      }
      this.layer0 = layer0;
      this.stage = 'layer0';
    } finally {
      release?.();
    }
  }

  /** The running Layer0's agent, if the machine has booted it and it is alive. */
  get agent(): Daemon | undefined {
    return this.layer0?.agent;
  }

  /** The agent dies; the machine stays on (Layer0's init would start it again: `startAgent`). */
  async killAgent(): Promise<void> {
    await this.booted('kill').killAgent();
  }

  /** Layer0's init starts the agent again, its state dir kept, its in-memory state gone. */
  async startAgent(): Promise<void> {
    await this.booted('start').startAgent();
  }

  private booted(what: string): Layer0 {
    if (!this.layer0) throw new Error(`${this.options.nodename} runs no Layer0 (stage ${this.stage}): no agent to ${what}`);
    return this.layer0;
  }

  /** Power off: whatever runs is gone at once. */
  async halt(): Promise<void> {
    this.abort?.abort();
    this.abort = undefined;
    const layer0 = this.layer0;
    this.layer0 = undefined;
    this.stage = 'off';
    await layer0?.stop().catch(() => undefined);
  }
}
