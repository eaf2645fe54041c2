/**
 * The ipmitool driver: one `ipmitool -I lanplus` process per request, run through execa. The
 * password reaches ipmitool through the IPMI_PASSWORD environment variable (`-E`), never argv, so
 * it does not show in `ps`. ipmitool's messages are mapped to the same error kinds as the native
 * driver's.
 */
import {abortError, bmcLabel, hostNotFound, IpmiError} from '../errors.js';
import type {BootDevice} from '../extension.js';
import type {BmcDriver, BmcTarget, BootOptions, DriverTiming, PowerAction, PowerState} from './driver.js';

export interface IpmitoolDriverOptions extends DriverTiming {
  /** The program to run (default "ipmitool" on PATH). */
  binary?: string;
}

const ACTIONS: Record<PowerAction, string> = {on: 'on', off: 'off', soft: 'soft', cycle: 'cycle', reset: 'reset'};

export class IpmitoolDriver implements BmcDriver {
  readonly name = 'ipmitool' as const;
  private readonly opts: IpmitoolDriverOptions;

  constructor(opts: IpmitoolDriverOptions) {
    this.opts = opts;
  }

  async status(target: BmcTarget, signal?: AbortSignal): Promise<PowerState> {
    const out = await this.run(target, ['chassis', 'power', 'status'], signal);
    const m = /Chassis Power is (on|off)/i.exec(out);
    if (!m) throw new IpmiError('protocol', label(target), `BMC ${label(target)}: unexpected ipmitool output "${firstLine(out)}"`);
    return m[1].toLowerCase() as PowerState;
  }

  async power(target: BmcTarget, action: PowerAction, signal?: AbortSignal): Promise<void> {
    await this.run(target, ['chassis', 'power', ACTIONS[action]], signal);
  }

  async bootdev(target: BmcTarget, device: BootDevice, options: BootOptions = {}, signal?: AbortSignal): Promise<void> {
    const flags = [options.efi ? 'efiboot' : '', options.persistent ? 'persistent' : ''].filter(Boolean);
    await this.run(target, ['chassis', 'bootdev', device, ...(flags.length ? [`options=${flags.join(',')}`] : [])], signal);
  }

  async close(): Promise<void> {}

  /** The arguments for one request (exported for the test that checks the password is not among them). */
  argv(target: BmcTarget, command: string[]): string[] {
    return [
      '-I', 'lanplus', '-H', target.host, '-p', String(target.port), '-U', target.username, '-E',
      '-C', String(target.cipherSuite), '-L', target.privilege,
      // ipmitool counts whole seconds per try and `-R` tries after the first.
      '-N', String(Math.max(1, Math.ceil(this.opts.attemptTimeout / 1000))), '-R', String(Math.max(1, this.opts.retries)),
      '-v', ...command,
    ];
  }

  private async run(target: BmcTarget, command: string[], signal?: AbortSignal): Promise<string> {
    const bmc = label(target);
    if (signal?.aborted) throw abortError(bmc, signal);
    // Loaded at the first request, not with the plugin: every daemon start (and most never use ipmitool)
    // would otherwise pay ~0.1 s of CPU for execa's hundred-odd files.
    const {execa} = await import('execa');
    const result = await execa(this.opts.binary ?? 'ipmitool', this.argv(target, command), {
      env: {IPMI_PASSWORD: target.password, LC_ALL: 'C'},
      stdin: 'ignore',
      reject: false,
      cancelSignal: signal,
      forceKillAfterDelay: 1000,
    });
    if (signal?.aborted) throw abortError(bmc, signal);
    if (result.failed) {
      const error = (result as {cause?: unknown}).cause as NodeJS.ErrnoException | undefined;
      if (error?.code === 'ENOENT') throw new IpmiError('config', bmc, `ipmitool not found ("${this.opts.binary ?? 'ipmitool'}"): install it or use driver native`);
      throw classify(bmc, target, `${result.stderr}\n${result.stdout}`);
    }
    return result.stdout;
  }
}

const label = (t: BmcTarget): string => bmcLabel(t.host, t.port);
const firstLine = (s: string): string => s.trim().split('\n')[0]?.slice(0, 200) ?? '';

/** Maps ipmitool's diagnostics (with -v) to the error kinds and messages the native driver uses. */
export function classify(bmc: string, target: BmcTarget, output: string): IpmiError {
  const who = `user "${target.username}"`;
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l && !/^Loading IANA PEN Registry/.test(l));
  const has = (re: RegExp): boolean => lines.some((l) => re.test(l));
  if (has(/RAKP 2 HMAC is invalid/i)) return new IpmiError('auth', bmc, `BMC ${bmc} rejected the credentials of ${who}: wrong password (RAKP 2 key exchange code does not match)`);
  if (has(/unauthorized name/i)) return new IpmiError('auth', bmc, `BMC ${bmc} rejected the credentials of ${who}: unknown user name`);
  if (has(/unauthorized role|privilege level.*(exceeds|not available)|Set Session Privilege Level.*(error|failed)/i)) {
    return new IpmiError('auth', bmc, `BMC ${bmc} rejected the credentials of ${who}: privilege ${target.privilege} not allowed`);
  }
  if (has(/Insufficient privilege level/i)) return new IpmiError('auth', bmc, `BMC ${bmc}: ${lastMeaningful(lines)}`);
  if (has(/invalid (authentication|integrity|confidentiality) algorithm|no cipher suite match|no matching/i)) {
    return new IpmiError('protocol', bmc, `BMC ${bmc} does not offer cipher suite ${target.cipherSuite}: ${lastMeaningful(lines)}`);
  }
  const lookup = lines.map((l) => /^Address lookup for (\S+) failed/i.exec(l)).find(Boolean);
  if (lookup) return hostNotFound(bmc, lookup[1], 'ENOTFOUND');
  if (has(/Get Auth Capabilities error|Error issuing Get Channel Authentication Capabilities|No response from remote controller|Unable to establish IPMI v2/i)) {
    return new IpmiError('unreachable', bmc, `BMC ${bmc} did not answer (ipmitool: ${lines.find((l) => /error|no response|unable/i.test(l)) ?? 'no response'})`);
  }
  return new IpmiError('command', bmc, `BMC ${bmc}: ${lastMeaningful(lines) || 'ipmitool failed without a message'}`);
}

function lastMeaningful(lines: string[]): string {
  const errs = lines.filter((l) => /error|fail|invalid|unable|insufficient/i.test(l));
  return (errs[errs.length - 1] ?? lines[lines.length - 1] ?? '').slice(0, 300);
}
