/**
 * `@layercake/sdk/embed`: run real daemons and agents in this process, as the simulator, the tests and the
 * benchmarks do. The daemon is loaded on demand: it brings the API server and the engine.
 */
import type {Config} from '@oclif/core';
import type {Daemon, DaemonOptions} from '../daemon/daemon.js';
import type {HookReport} from '../daemon/setup.js';

export type {Daemon, DaemonOptions, HookReport};
export {parseDaemonConfig, type DaemonConfig} from '../daemon/config.js';
export {sync as syncModule} from '../sync/module.js';
export {busyModule} from '../busy/module.js';
export {startWorker} from './worker.js';

/** Starts a daemon in this process. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  return (await import('../daemon/daemon.js')).startDaemon(options);
}

/** The modules every installed plugin contributes (the `layercake:modules` hook), as the daemon collects them. */
export async function collectModules(config: Config): Promise<HookReport> {
  return (await import('../daemon/setup.js')).collectModules(config);
}
