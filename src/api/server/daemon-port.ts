/**
 * What the API needs from the daemon: its store, engine, registry and module host, the token and the
 * address to listen on. The daemon's own `Daemon` object satisfies this structurally; tests can build
 * one from the real parts without starting a whole daemon.
 */
import type {Engine} from '../../engine/engine.js';
import type {ApiLimits} from './gate.js';
import type {Registry} from '../../model/registry.js';
import type {ServiceState} from '../../model/node.js';
import type {Store} from '../../store/store.js';
import type {SyncStatus} from '../types.js';

export interface ApiLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ApiDaemon {
  store: Store;
  engine: Engine;
  registry: Registry;
  modules: {list(): {name: string; state: ServiceState; error?: string; restarts: number; startedAt?: number}[]};
  metrics: {render(): Promise<string>};
  /** State sync, when the daemon runs it. */
  sync?: {status(): SyncStatus};
  /** The daemon's own node id. */
  selfId: string;
  /** The bearer token every request over TCP needs (the local socket needs none). */
  token: string;
  /** `host:port` to listen on (port 0 picks a free one), or 'none'. */
  listenAddress: string;
  /** The local channel's Unix socket path, if the API listens on one. */
  socketPath?: string;
  /** Size limits and allowed host names (docs/api.md, "Limits"); defaults where absent. */
  apiLimits?: Partial<ApiLimits>;
  logger?: ApiLogger;
}
