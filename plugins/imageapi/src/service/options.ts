/** How an ImageAPI service is opened: shared by the service and its parts (table, containers). */
import type {Platform} from './platform.js';

export interface ServiceLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Step timings (off unless the service runs with debug logging). */
  debug?(msg: string): void;
}

export interface ServiceOptions {
  stateDir: string;
  simulate?: boolean;
  /** With simulate: the image files that exist in the simulated world (default: any path does); read live, so adding one makes it exist. */
  simulatedFiles?: ReadonlySet<string>;
  /** Overrides the platform (tests). */
  platform?: Platform;
  log?: ServiceLogger;
  /** How often containers found again after a restart (not our children) are checked (default 250 ms). */
  adoptPollMs?: number;
  /** How long a stop waits for the init to end before killing the whole container (default 5 s, systemd 30 s). */
  stopTimeoutMs?: number;
  systemdStopTimeoutMs?: number;
}
