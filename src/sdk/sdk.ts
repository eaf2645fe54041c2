/**
 * @layercake/sdk: everything a plugin imports. Plugins never reach into src/ internals.
 */
import type {z} from 'zod';
import type {ExtensionSpec, ModuleSpec} from './contract.js';

export {z} from 'zod';
export type * from './contract.js';
export type {EventFilter, LcEvent, StateChangeEvent, MutationEvent, DiscoveryEvent, LogEvent} from '../model/events.js';
export type {Node, NodeView, JsonValue, JsonObject, PhysState, RunState, Busy, ServiceState} from '../model/node.js';
export {PHYS_STATES, RUN_STATES, BUSY_STATES, SERVICE_STATES} from '../model/node.js';
// One copy of each helper, for the core and the plugins alike.
export {parseDuration, formatDuration, durationSchema} from '../model/duration.js';
export {canonical, canonicalDigest} from '../model/canonical.js';
export {ipv4Schema, ipv4Address, type Ipv4} from '../model/ipv4.js';
// What a mutation handler may answer besides done and failed (docs/plugin-authoring.md, "Handlers").
export {requeue, requeueAfter, TerminalError, isRequeue, isTerminal, type Requeue, type HandlerResult} from '../model/handler-result.js';

/** Identity helpers that give a plugin's definitions their types. */
export function defineModule<C extends z.ZodType>(spec: ModuleSpec<C>): ModuleSpec<C> {
  return spec;
}

export function defineExtension(spec: ExtensionSpec): ExtensionSpec {
  return spec;
}

// ---- For plugins' commands: the command base classes, the typed API client and the CLI helpers ----
export {BaseCommand, LocalCommand, type CommandArgs, type CommandFlags} from '../cli/base-command.js';
export {ApiClient, type ApiClientOptions, type EventHandlers, type EventStream, type EventStreamOptions} from '../api/client.js';
export {ApiError, DaemonUnreachableError} from '../api/errors.js';
export {API_PREFIX} from '../api/types.js';
export {defaultSocketPath, socketLive} from '../api/local-socket.js';
export type {
  ApplyResult, Change, EngineStatus, ExtensionInfo, GraphResult, Health, HistoryEntry, HistoryResult, ModuleInfo,
  MutationInfo, PathResult, SetRequest, StreamMessage, ViewName, WhyResult,
} from '../api/types.js';
export {CliError, formatError, toCliError} from '../cli/errors.js';
export {ERRORS, errorSpec, type ErrorCode, type ErrorSpec} from '../model/errors.js';
export {compressHostlist, expandHostlist, expandHostlists, HostlistError} from '../cli/hostlist.js';
export {matchTargets, resolveTargets, type Targets} from '../cli/targets.js';
export {renderTable, type Column} from '../cli/table.js';
export {bold, colorEnabled, dim, green, red, state as colorState, yellow} from '../cli/color.js';
export {applySummary, formatChanges, formatValue, nodeStatus, nodeTable} from '../cli/output.js';
export {confirmAction, isInteractive} from '../cli/prompts.js';
export {followConvergence, progressMode, type FollowResult} from '../cli/progress.js';
export {parseAssignments, readNodes} from '../cli/input.js';
export {durationFlag} from '../cli/duration-flag.js';

// Embedding: the simulator and tests run real daemons and agents in their own processes.
export type {Daemon, DaemonOptions} from '../daemon/daemon.js';
/** Starts a daemon in this process (loaded on demand: it brings the API server and the engine). */
export async function startDaemon(options: import('../daemon/daemon.js').DaemonOptions): Promise<import('../daemon/daemon.js').Daemon> {
  return (await import('../daemon/daemon.js')).startDaemon(options);
}
export {parseDaemonConfig, type DaemonConfig} from '../daemon/config.js';
export {sync as syncModule} from '../sync/module.js';
export {startWorker} from './worker.js';
/** The modules every installed plugin contributes (the `layercake:modules` hook), as the daemon collects them. */
export async function collectModules(config: import('@oclif/core').Config): Promise<import('../cli/daemon-setup.js').HookReport> {
  return (await import('../cli/daemon-setup.js')).collectModules(config);
}
