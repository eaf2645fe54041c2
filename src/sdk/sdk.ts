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

/** Identity helpers that give a plugin's definitions their types. */
export function defineModule<C extends z.ZodType>(spec: ModuleSpec<C>): ModuleSpec<C> {
  return spec;
}

export function defineExtension(spec: ExtensionSpec): ExtensionSpec {
  return spec;
}
