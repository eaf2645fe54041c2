/**
 * The HTTP API's wire types: what every route accepts and returns. The server and the typed client
 * both use them, and so do the commands' `--json` results and the end-to-end tests.
 * See docs/api.md for the routes.
 */
import type {EventFilter, EventType, LcEvent} from '../model/events.js';
import type {JsonValue, Node, NodeView, PhysState, RunState, ServiceState} from '../model/node.js';

export type {EventFilter, EventType, LcEvent, JsonValue, Node, NodeView, PhysState, RunState};

/** The API's path prefix. */
export const API_PREFIX = '/api/v1';

/** Which state a read returns: configured, discovered, both side by side, or dsc merged over cfg. */
export type ViewName = 'cfg' | 'dsc' | 'both' | 'merged';
export const VIEW_NAMES: readonly ViewName[] = ['both', 'cfg', 'dsc', 'merged'];

export interface Health {
  ok: true;
  /** The daemon's own node id. */
  id: string;
  version: string;
  uptimeSeconds: number;
  nodes: number;
  frozen: boolean;
  /** Whether this channel asks for the bearer token: true over TCP, false on the local Unix socket. */
  tokenRequired: boolean;
}

/** GET /nodes?view=both (the default): each node's cfg and dsc, parents first, then by name. */
export interface NodeViewsResult {
  nodes: NodeView[];
}

/** GET /nodes?view=cfg|dsc|merged, and the bodies of writes that return nodes. */
export interface NodesResult {
  nodes: Node[];
}

/** One changed value: `url` is a JSON Pointer, "" for a whole node created or deleted. */
export interface Change {
  id: string;
  nodename: string;
  url: string;
  previous?: JsonValue;
  value?: JsonValue;
}

/** POST /apply, and the bulk writes: what was (or with dryRun, would be) created, updated and left alone. */
export interface ApplyResult {
  dryRun: boolean;
  created: Node[];
  updated: Node[];
  unchanged: Node[];
  deleted: Node[];
  changes: Change[];
}

/** POST /apply body: the nodes (partial nodes merge into existing ones, matched by id or nodename). */
export interface ApplyRequest {
  nodes: unknown[];
}

/** PATCH /nodes body: assign values on several nodes at once, all or nothing. */
export interface SetRequest {
  /** Node ids or nodenames. */
  nodes: string[];
  /** URL (pointer or shorthand) → value. */
  set?: Record<string, JsonValue>;
  /** URLs to reset to their zero value (an enum's first value). */
  reset?: string[];
  /**
   * Also reset every cfg value that cannot hold under the new cfg (the engine's knowability rule), e.g.
   * the boot and run states of a node being powered off.
   */
  resetUnknowable?: boolean;
}

/** DELETE /nodes body. */
export interface DeleteRequest {
  nodes: string[];
}

export interface DeleteResult {
  deleted: Node[];
}

/** A step's state: not yet fired, fired and running, or fired but waiting (module not running, no slot, or performed elsewhere). */
export type StepStatus = 'pending' | 'new' | 'running' | 'requeued' | 'waiting-module' | 'waiting-slot' | 'elsewhere';

/** GET /nodes/:id/path: the node's active plan, first step first. */
export interface PathResult {
  nodeId: string;
  nodename: string;
  steps: {mutation: string; status: StepStatus}[];
  /** Why no plan reaches the cfg (an inconsistent cfg, a missing mutation). */
  blocked?: string;
  /** Why the engine stopped retrying this node. */
  held?: string;
}

/** GET /nodes/:id/why: why the node is (not) where its cfg says. */
export interface WhyResult {
  nodeId: string;
  nodename: string;
  converged: boolean;
  /** One sentence for a person. */
  summary: string;
  /** The mutated URLs where cfg (non-zero) and dsc differ. */
  differences: {url: string; cfg?: JsonValue; dsc?: JsonValue}[];
  /** The planned mutations, in order. */
  plan: string[];
  current?: {mutation: string; status: StepStatus; since: number; attempt: number; timeoutMs: number; waitingFor?: string};
  blocked?: string;
  held?: {reason: string; since: number; failures: number};
  lastFailure?: {mutation: string; reason: string; time: number};
  /** Errors the node reports in its dsc (non-empty `lastError` values under its extensions), where they are. */
  reported?: {url: string; error: string}[];
  frozen: boolean;
}

export interface HistoryEntry {
  time: number;
  kind: 'cfg' | 'dsc' | 'mutate' | 'complete' | 'interrupt' | 'failure' | 'log';
  url?: string;
  value?: JsonValue;
  mutation?: string;
  message?: string;
  source?: string;
}

export interface HistoryResult {
  nodeId: string;
  nodename: string;
  entries: HistoryEntry[];
}

export interface GraphNode {
  /** Stable: a short hash of the canonical spec. */
  id: string;
  label: string;
  spec: Record<string, JsonValue>;
}

export interface GraphEdge {
  /** Stable: `<module>/<mutation>:<from>-><to>`. */
  id: string;
  from: string;
  to: string;
  mutation: string;
}

/** GET /graph and /nodes/:id/graph (?format=json); with ?format=dot the same as Graphviz text. */
export interface GraphResult {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Per-node graphs: the node's plan as edge ids, in order. */
  path?: string[];
}

/** A child of this daemon, as its sync sees it (sync/parent.ts). */
export interface ChildStatus {
  id: string;
  nodename: string;
  /** synced: in session; pending: not in session, with state waiting for it; none: not in session. */
  state: 'pending' | 'synced' | 'none';
  address?: string;
  /** Milliseconds since the child was last heard from. */
  lastHeardMs?: number;
  session?: number;
}

/** This daemon's session with its parent: phoning home, confirming the parent's state, or synced (sync/child.ts). */
export type ChildState = 'phoning' | 'confirming' | 'synced';

export interface ParentStatus {
  state: ChildState;
  parentId?: string;
  address: string;
  session?: number;
  lastHeardMs?: number;
  syncedSince?: number;
  phoneHomeAttempts: number;
  lastRefusal?: string;
}

/** This daemon's state sync (sync/engine.ts): where it listens, its children and, with --parent, its parent. */
export interface SyncStatus {
  selfId: string;
  listen: string;
  children: ChildStatus[];
  parent?: ParentStatus;
}

/** GET /sync: this daemon's state sync, as parent of its children and, with --parent, as a child. */
export type SyncStatusResult =
  | {enabled: false}
  | ({enabled: true} & SyncStatus);

export interface EngineStatus {
  frozen: boolean;
  nodes: number;
  converged: number;
  active: number;
  waiting: number;
  blocked: number;
  held: number;
  inFlight: Record<string, number>;
  queued: Record<string, number>;
}

export interface MutationInfo {
  id: string;
  module: string;
  name: string;
  description: string;
  mutates: Record<string, [string, string]>;
  requires: Record<string, JsonValue>;
  excludes: Record<string, JsonValue>;
  context: 'SELF' | 'CHILD' | 'ALL';
  timeoutMs: number;
  failTo?: {url: string; value: string};
}

export interface ExtensionInfo {
  name: string;
  module: string;
  description: string;
  jsonSchema: unknown;
  enums: Record<string, readonly string[]>;
  secrets: string[];
}

export interface ModuleInfo {
  name: string;
  description: string;
  state: ServiceState;
  error?: string;
  restarts: number;
  startedAt?: number;
  mutations: number;
  extensions: string[];
}

export interface MutationsResult {
  mutations: MutationInfo[];
}
export interface ExtensionsResult {
  extensions: ExtensionInfo[];
}
export interface ModulesResult {
  modules: ModuleInfo[];
}
/** Pointer pattern (`*` matches one segment) → the enum's values, zero first. */
export interface EnumerablesResult {
  enumerables: Record<string, readonly string[]>;
}

/** The error body of every non-2xx response. */
export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    node?: string;
    url?: string;
    value?: unknown;
    expected?: string;
    hint?: string;
  };
}

/** Messages on the event stream (GET /events, WebSocket). */
export type StreamMessage =
  | {kind: 'hello'; id: string; version: string; filter: EventFilter}
  | {kind: 'event'; event: LcEvent}
  /** The answer to a StreamCommand: the filter now in force. */
  | {kind: 'subscribed'; filter: EventFilter}
  /** A bad filter (in the query, the connection then closes with code 1008, or in a command). */
  | {kind: 'error'; error: ApiErrorBody['error']};

/** What a client may send on the event stream: replace its filter. */
export interface StreamCommand {
  subscribe: EventFilter;
}
