/**
 * What the module needs from a BMC, whichever way it is spoken to. Both drivers implement this and
 * must give the same answers and the same error kinds (the tests cross-check them).
 */
import type {CipherSuiteId, PrivilegeName} from '../ipmi/constants.js';
import type {BootDevice, DriverName} from '../extension.js';

export interface BmcTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  privilege: PrivilegeName;
  cipherSuite: CipherSuiteId;
}

export type PowerState = 'on' | 'off';
/** on/off are hard (immediate); soft asks the OS to shut down (ACPI); cycle and reset act on a running machine. */
export type PowerAction = 'on' | 'off' | 'soft' | 'cycle' | 'reset';

export interface BootOptions {
  /** UEFI boot (else legacy BIOS). */
  efi?: boolean;
  /** Keep the device for every boot (else the next boot only). */
  persistent?: boolean;
}

export interface DriverTiming {
  /** How long to wait for each answer (ms). */
  attemptTimeout: number;
  /** How many times a request is sent again after the first try. */
  retries: number;
}

export interface BmcDriver {
  readonly name: DriverName;
  status(target: BmcTarget, signal?: AbortSignal): Promise<PowerState>;
  power(target: BmcTarget, action: PowerAction, signal?: AbortSignal): Promise<void>;
  bootdev(target: BmcTarget, device: BootDevice, options?: BootOptions, signal?: AbortSignal): Promise<void>;
  /** Releases what the driver holds (sessions, sockets). */
  close(): Promise<void>;
}
