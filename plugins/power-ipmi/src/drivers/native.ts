/**
 * The native driver: IPMI v2.0 / RMCP+ in TypeScript (../ipmi). It keeps one session per BMC and
 * reuses it while it is younger than `sessionIdle`, so that polling hundreds of BMCs costs one
 * round trip each instead of a session handshake (five round trips) or a process.
 */
import {createHash} from 'node:crypto';
import {bmcLabel, IpmiError} from '../errors.js';
import {BOOT_FLAGS_EFI, BOOT_FLAGS_PERSISTENT, BOOT_FLAGS_VALID, BootDeviceSelector, ChassisControl, Cmd, NetFn} from '../ipmi/constants.js';
import {RmcpPlusSession} from '../ipmi/session.js';
import type {BootDevice} from '../extension.js';
import type {BmcDriver, BmcTarget, BootOptions, DriverTiming, PowerAction, PowerState} from './driver.js';

export interface NativeDriverOptions extends DriverTiming {
  /** Keep an unused session this long (ms); 0 opens and closes a session for every request. */
  sessionIdle: number;
}

const CONTROL: Record<PowerAction, number> = {
  on: ChassisControl.POWER_UP,
  off: ChassisControl.POWER_DOWN,
  soft: ChassisControl.SOFT_SHUTDOWN,
  cycle: ChassisControl.POWER_CYCLE,
  reset: ChassisControl.HARD_RESET,
};

interface CachedSession {
  /** Identifies the credentials and settings the session was opened with (a password change opens a new one). */
  key: string;
  session: Promise<RmcpPlusSession>;
}

export class NativeDriver implements BmcDriver {
  readonly name = 'native' as const;
  private readonly opts: NativeDriverOptions;
  private readonly sessions = new Map<string, CachedSession>();
  private sweeper?: NodeJS.Timeout;

  constructor(opts: NativeDriverOptions) {
    this.opts = opts;
    if (opts.sessionIdle > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(1000, opts.sessionIdle)).unref();
    }
  }

  /** How many sessions are cached (for tests and metrics). */
  get openSessions(): number {
    return this.sessions.size;
  }

  async status(target: BmcTarget, signal?: AbortSignal): Promise<PowerState> {
    const data = await this.command(target, NetFn.CHASSIS, Cmd.GET_CHASSIS_STATUS, Buffer.alloc(0), signal);
    if (data.length < 1) throw new IpmiError('protocol', bmcLabel(target.host, target.port), `BMC ${bmcLabel(target.host, target.port)} sent an empty Get Chassis Status answer`);
    return data[0] & 0x01 ? 'on' : 'off';
  }

  async power(target: BmcTarget, action: PowerAction, signal?: AbortSignal): Promise<void> {
    await this.command(target, NetFn.CHASSIS, Cmd.CHASSIS_CONTROL, Buffer.from([CONTROL[action]]), signal);
  }

  async bootdev(target: BmcTarget, device: BootDevice, options: BootOptions = {}, signal?: AbortSignal): Promise<void> {
    let flags = BOOT_FLAGS_VALID;
    if (options.persistent) flags |= BOOT_FLAGS_PERSISTENT;
    if (options.efi) flags |= BOOT_FLAGS_EFI;
    // Parameter 5, boot flags: valid/persistent/EFI, device selector, then three bytes of defaults.
    const data = Buffer.from([0x05, flags, BootDeviceSelector[device], 0x00, 0x00, 0x00]);
    await this.command(target, NetFn.CHASSIS, Cmd.SET_SYSTEM_BOOT_OPTIONS, data, signal);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((c) => c.session.then((s) => s.close(), () => undefined)));
  }

  /**
   * Runs one command in the BMC's session. When a reused session fails (the BMC may have dropped
   * it: restart, its own idle timeout), one more try goes through a fresh session.
   */
  private async command(target: BmcTarget, netFn: number, cmd: number, data: Buffer, signal?: AbortSignal): Promise<Buffer> {
    if (this.opts.sessionIdle <= 0) {
      const session = this.newSession(target);
      try {
        await session.open(signal);
        return await session.command(netFn, cmd, data, signal);
      } finally {
        await session.close();
      }
    }
    const {session, reused} = await this.acquire(target, signal);
    try {
      return await session.command(netFn, cmd, data, signal);
    } catch (error) {
      if (session.isOpen) throw error; // the BMC answered (e.g. a completion code): the session is fine
      this.forget(target, session);
      if (!reused || (error instanceof IpmiError && error.kind === 'aborted')) throw error;
      const fresh = await this.acquire(target, signal);
      try {
        return await fresh.session.command(netFn, cmd, data, signal);
      } catch (retryError) {
        if (!fresh.session.isOpen) this.forget(target, fresh.session);
        throw retryError;
      }
    }
  }

  private async acquire(target: BmcTarget, signal?: AbortSignal): Promise<{session: RmcpPlusSession; reused: boolean}> {
    const label = bmcLabel(target.host, target.port);
    const key = sessionKey(target);
    const cached = this.sessions.get(label);
    if (cached && cached.key === key) {
      const session = await cached.session.catch(() => undefined);
      if (session?.isOpen && Date.now() - session.lastUsed < this.opts.sessionIdle) return {session, reused: true};
      if (this.sessions.get(label) === cached) this.sessions.delete(label);
      if (session) void session.close();
      // Another caller may have opened a new one meanwhile.
      const again = this.sessions.get(label);
      if (again && again.key === key) {
        const s = await again.session.catch(() => undefined);
        if (s?.isOpen) return {session: s, reused: false};
      }
    } else if (cached) {
      this.sessions.delete(label);
      void cached.session.then((s) => s.close(), () => undefined);
    }
    const session = this.newSession(target);
    const opening = session.open(signal).then(() => session);
    const entry: CachedSession = {key, session: opening};
    this.sessions.set(label, entry);
    try {
      await opening;
    } catch (error) {
      if (this.sessions.get(label) === entry) this.sessions.delete(label);
      throw error;
    }
    return {session, reused: false};
  }

  private forget(target: BmcTarget, session: RmcpPlusSession): void {
    const label = bmcLabel(target.host, target.port);
    const cached = this.sessions.get(label);
    if (cached) {
      void cached.session.then((s) => {
        if (s === session && this.sessions.get(label) === cached) this.sessions.delete(label);
      }, () => undefined);
    }
    void session.close();
  }

  /** Closes sessions nobody used for `sessionIdle`, so BMC session slots are given back. */
  private sweep(): void {
    const now = Date.now();
    for (const [label, cached] of this.sessions) {
      void cached.session.then((s) => {
        if (now - s.lastUsed >= this.opts.sessionIdle && this.sessions.get(label) === cached) {
          this.sessions.delete(label);
          void s.close();
        }
      }, () => undefined);
    }
  }

  private newSession(target: BmcTarget): RmcpPlusSession {
    return new RmcpPlusSession({...target, attemptTimeout: this.opts.attemptTimeout, retries: this.opts.retries});
  }
}

function sessionKey(t: BmcTarget): string {
  const secret = createHash('sha256').update(t.password).digest('hex');
  return [t.username, secret, t.privilege, t.cipherSuite].join('\n');
}
