/**
 * Typed events. The store emits STATE_CHANGE and DISCOVERY, the engine MUTATION and LOG.
 * Every event carries a global sequence number, so events of one node are totally ordered.
 */
import type {JsonValue} from './node.js';

interface Base {
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
  nodeId: string;
}

export interface StateChangeEvent extends Base {
  type: 'STATE_CHANGE';
  /** Which view changed: configured (operator intent) or discovered (what is true). */
  view: 'cfg' | 'dsc';
  op: 'CREATE' | 'UPDATE' | 'DELETE';
  /** JSON Pointer of the changed value; "" for a whole node (CREATE, DELETE). */
  url: string;
  value?: JsonValue;
  previous?: JsonValue;
}

export interface MutationEvent extends Base {
  type: 'MUTATION';
  kind: 'MUTATE' | 'INTERRUPT' | 'COMPLETE' | 'WAIT';
  module: string;
  mutation: string;
  /** For INTERRUPT: why (timeout, module error, superseded). For WAIT: what it waits for. For MUTATE: set when a requeued step is asked again. */
  reason?: string;
}

export interface DiscoveryEvent extends Base {
  type: 'DISCOVERY';
  url: string;
  value: JsonValue;
  /** The module (or "engine", "api", "sync") that discovered it. */
  source: string;
}

export interface LogEvent extends Base {
  type: 'LOG';
  level: 'debug' | 'info' | 'warn' | 'error';
  module?: string;
  message: string;
}

export type LcEvent = StateChangeEvent | MutationEvent | DiscoveryEvent | LogEvent;
export type EventType = LcEvent['type'];

/** An event without the fields the bus assigns. */
export type EventInput = LcEvent extends infer E ? (E extends LcEvent ? Omit<E, 'seq' | 'time'> : never) : never;

export interface EventFilter {
  types?: EventType[];
  /** Node ids; absent means every node. */
  nodes?: string[];
  /**
   * JSON Pointer patterns matched against an event's url (STATE_CHANGE, DISCOVERY): `*` matches one
   * segment, a trailing `/**` any remainder. Events without a url (MUTATION, LOG) pass this test.
   */
  urls?: string[];
}
