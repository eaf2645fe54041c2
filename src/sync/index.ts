/**
 * Parent/child state sync (docs/sync-protocol.md). The daemon constructs one SyncEngine and runs the core
 * module `sync` (createSyncModule, contributed like a plugin's module) handed that engine (withSyncEngine).
 */
export {SyncEngine, type SyncEngineOptions} from './engine.js';
export {sync, createSyncModule, syncExtension, withSyncEngine, type SyncModuleOptions, type InitToSync} from './module.js';
export {syncConfigSchema, parseSyncConfig, parseParentUrl, DEFAULT_SYNC_PORT, type SyncConfig, type SyncConfigInput} from './config.js';
export {DROP_REASONS, type MetricSample, type DropReason} from './metrics.js';
export {newJoinSecret} from './crypto.js';
export type {SyncStore, SyncRegistry, SyncEngineControl} from './deps.js';
