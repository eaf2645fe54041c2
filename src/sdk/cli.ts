/**
 * `@layercake/sdk/cli`: for plugins' commands: the command base classes, the typed API client with its
 * wire types, and the CLI's helpers (output, targets, progress, prompts), so that a plugin's command
 * looks and behaves like the core's.
 */
export {BaseCommand, LocalCommand, type CommandArgs, type CommandFlags} from '../cli/base-command.js';
export {ApiClient, type ApiClientOptions, type EventHandlers, type EventStream, type EventStreamOptions} from '../api/client/client.js';
export {ApiError, DaemonUnreachableError} from '../api/client/errors.js';
export {API_PREFIX} from '../api/types.js';
export {defaultSocketPath, socketLive} from '../api/local-socket.js';
export type {
  ApplyResult, Change, EngineStatus, ExtensionInfo, GraphResult, Health, HistoryEntry, HistoryResult, ModuleInfo,
  MutationInfo, PathResult, SetRequest, StreamMessage, ViewName, WhyResult,
} from '../api/types.js';
export {CliError, formatError, toCliError} from '../cli/errors.js';
export {compressHostlist, expandHostlist, expandHostlists, HostlistError} from '../cli/hostlist.js';
export {matchTargets, resolveTargets, type Targets} from '../cli/targets.js';
export {renderTable, type Column} from '../cli/table.js';
export {bold, colorEnabled, dim, green, red, state as colorState, yellow} from '../cli/color.js';
export {applySummary, formatChanges, formatValue, nodeStatus, nodeTable} from '../cli/output.js';
export {confirmAction, isInteractive} from '../cli/prompts.js';
export {followConvergence, progressMode, type FollowResult} from '../cli/progress.js';
export {parseAssignments} from '../cli/assignments.js';
export {readNodes} from '../cli/input.js';
export {durationFlag} from '../cli/duration-flag.js';
export {busyStatus, setBusy, type BusyResult} from '../cli/busy.js';
export {newEd25519KeyPair} from '../cli/ssh-keys.js';
