/**
 * What the sync engine needs from the runtime (src/store, src/model/registry, src/engine), as
 * structural interfaces: the daemon passes the real Store, Registry and Engine; tests may pass doubles.
 */
import type {Logger, MutationContext} from '../model/contract.js';
import type {EventFilter, LcEvent} from '../model/events.js';
import type {JsonValue, Node, NodeView} from '../model/node.js';

export interface SyncStore {
  readonly events: {subscribe(filter: EventFilter, listener: (event: LcEvent) => void): () => void};
  get(id: string): NodeView | undefined;
  list(): NodeView[];
  /** dsc write (memory only); emits events synchronously. */
  discover(id: string, url: string, value: JsonValue, source: string): void;
  /** Creates nodes (a child uses it for its own node when it first hears from its parent). */
  create(inputs: unknown[], source?: string): Node[];
  /** Upsert (deep merge) of many nodes in one durable write (the parent fills in missing join secrets with it). */
  apply(inputs: unknown[], opts?: {source?: string}): unknown;
  /** Replaces (merge false) or deep-merges (merge true) one node's cfg. */
  update(id: string, input: unknown, opts: {merge: boolean; source?: string}): Node;
}

export interface SyncRegistry {
  mutations(): {id: string; module: string; name: string; mutates: Record<string, [string, string]>; context: MutationContext}[];
  extensions(): {name: string; secrets: string[]}[];
  /** The zero ("unknown") value of an enum URL. */
  zeroOf?(pointer: string): string | undefined;
}

/** The engine, on a child: started frozen, thawed once the parent's state has arrived. */
export interface SyncEngineControl {
  thaw(): void;
  readonly frozen: boolean;
}

export type {Logger};

export const silentLogger: Logger = {debug() {}, info() {}, warn() {}, error() {}};
