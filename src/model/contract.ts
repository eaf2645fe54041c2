/**
 * The plugin contract (DESIGN §5). A plugin contributes modules through the oclif hook
 * `layercake:modules`; the daemon runs that hook once at start and registers every module returned.
 */
import type {z} from 'zod';
import type {EventFilter, LcEvent} from './events.js';
import type {HandlerResult} from './handler-result.js';
import type {JsonValue, Node, NodeView} from './node.js';

/**
 * A URL names one value of a node: a JSON Pointer (`/physState`, `/extensions/pxe/state`) or the
 * shorthand (`physState`, `pxe.state`, `services.pxe.state`).
 */
export type Url = string;

/** Who fires a mutation: the node's own daemon (SELF), the daemon whose id is the node's parentId (CHILD), or both (ALL). */
export type MutationContext = 'SELF' | 'CHILD' | 'ALL';

export interface MutationSpec {
  /** Unique within the module; the mutation's id is `<module>/<name>`. */
  name: string;
  description?: string;
  /** The enum URLs this mutation changes, each from one value to another. All must reach `to` to complete. */
  mutates: Record<Url, [from: string, to: string]>;
  /** Values that must hold (dsc where a module discovers the URL, cfg otherwise). */
  requires?: Record<Url, JsonValue>;
  /** Values that must not hold. */
  excludes?: Record<Url, JsonValue>;
  /** Default CHILD: most mutations act on a machine from the daemon that manages it. */
  context?: MutationContext;
  /** How long the mutation may take: milliseconds or a duration such as '10s', '2m'. 0 means no limit. */
  timeout?: number | string;
  /** The value discovered when the mutation times out or its handler fails, e.g. {url: 'physState', value: 'PHYS_HANG'}. */
  failTo?: {url: Url; value: string};
}

export interface ExtensionSpec {
  /** The extension's key under /extensions. */
  name: string;
  description?: string;
  /**
   * A zod object schema with defaults. Its z.enum fields are the extension's enumerables; the first
   * option of each is the zero value ("unknown / don't care").
   */
  schema: z.ZodObject;
  /** Pointers inside the extension (e.g. '/password') never returned by the API, logged or synced to children. */
  secrets?: string[];
}

export interface ModuleSpec<C extends z.ZodType = z.ZodType> {
  /** The service instance id, e.g. `pxe`; it names the module's config section and its service state. */
  name: string;
  description?: string;
  extensions?: ExtensionSpec[];
  /** The module's configuration schema (with defaults); the operator sets `modules.<name>` in the daemon config. */
  config?: C;
  mutations?: MutationSpec[];
  /** URLs the module may discover besides those it mutates; `*` matches one segment. */
  discoverables?: Url[];
  /** Admission control: how many of this module's mutations may run at once (default: no limit). */
  maxConcurrent?: number;
  /**
   * Runs the module. Resolve once it is serving (its service state becomes RUN); keep working until
   * ctx.signal aborts. A throw (or ctx.fail) puts the module in ERROR; the daemon restarts it with backoff.
   */
  start(ctx: ModuleContext<z.infer<C>>): Promise<void> | void;
}

/** Identity helpers that give a plugin's definitions their types. */
export function defineModule<C extends z.ZodType>(spec: ModuleSpec<C>): ModuleSpec<C> {
  return spec;
}

export function defineExtension(spec: ExtensionSpec): ExtensionSpec {
  return spec;
}

/** A request to perform one mutation on one node. */
export interface MutationRequest {
  nodeId: string;
  module: string;
  mutation: string;
  /** Normalized pointers → [from, to]. */
  mutates: Record<string, [string, string]>;
  /** The node's cfg when the step fired (read-only: frozen). */
  cfg: Node;
  /** A copy of the node's dsc, taken when first read. */
  dsc: Node;
  /** 1 for the first try since the node last converged or its cfg changed. */
  attempt: number;
  /** Aborted when the engine gives up on this request (timeout, interrupt, new plan, shutdown), before the node's next step is dispatched. */
  signal: AbortSignal;
}

/**
 * What a module handler gets. Handlers must be idempotent: the same mutation may be requested twice.
 * The engine runs one handler per node at a time: a superseded handler's `signal` aborts, and the node's
 * next step is dispatched only once that handler has returned.
 * - Resolving means the work is done; the step completes when dsc shows every `to`.
 * - Resolving to `requeueAfter(T, reason)` or `requeue(reason)` means "not yet": the engine calls again
 *   later (a handler never sleeps to retry: the engine owns every wait).
 * - Throwing (or rejecting) fails the mutation at once with the error's message as the reason, exactly as
 *   a timeout would: the failTo value is discovered, the engine backs off and re-plans (bounded retries).
 * - Throwing a `TerminalError` fails it for good: failTo is discovered and the node is held, not retried.
 */
export type MutationHandler = (request: MutationRequest) => HandlerResult | Promise<HandlerResult>;
export type InterruptHandler = (request: MutationRequest, reason: string) => void;

export interface Logger {
  debug(msg: string, ...args: unknown[]): void;
  debug(obj: object, msg?: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  info(obj: object, msg?: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  warn(obj: object, msg?: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
  error(obj: object, msg?: string, ...args: unknown[]): void;
}

export interface NodeQuery {
  get(id: string): NodeView | undefined;
  byName(nodename: string): NodeView | undefined;
  list(): NodeView[];
}

export interface ModuleContext<C = unknown> {
  readonly name: string;
  /** The id of this daemon's own node. */
  readonly selfId: string;
  readonly config: C;
  /** The daemon's state directory (modules keep their files under `<stateDir>/<module name>`). */
  readonly stateDir: string;
  readonly log: Logger;
  /** Aborts when the module is stopped (shutdown or restart). */
  readonly signal: AbortSignal;
  /** Report a discovered value; validated against the registry (throws a clear error if invalid). */
  discover(nodeId: string, url: Url, value: JsonValue): void;
  onMutate(handler: MutationHandler): void;
  onInterrupt(handler: InterruptHandler): void;
  readonly nodes: NodeQuery;
  /**
   * Events, delivered in order but never inside the engine's evaluation: after the change that made them,
   * in a later turn of the event loop. A listener may discover at once; one that throws is logged.
   */
  subscribe(filter: EventFilter, listener: (event: LcEvent) => void): () => void;
  /** The module is broken and must be restarted (for failures outside a handler, e.g. a server socket error). */
  fail(error: Error): void;
}
