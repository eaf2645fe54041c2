/**
 * The node: plain JSON, the same shape for configured (cfg) and discovered (dsc) state.
 * Enums are strings; the first value of each enum is its zero value and means "unknown / don't care".
 */
import {z} from 'zod';

export const PHYS_STATES = ['PHYS_UNKNOWN', 'POWER_OFF', 'POWER_ON', 'POWER_CYCLE', 'PHYS_HANG', 'PHYS_ERROR'] as const;
export const RUN_STATES = ['UNKNOWN', 'INIT', 'SYNC', 'ERROR'] as const;
export const BUSY_STATES = ['FREE', 'BUSY'] as const;
export const SERVICE_STATES = ['UNKNOWN', 'INIT', 'STOP', 'RUN', 'ERROR'] as const;

export type PhysState = (typeof PHYS_STATES)[number];
export type RunState = (typeof RUN_STATES)[number];
export type Busy = (typeof BUSY_STATES)[number];
export type ServiceState = (typeof SERVICE_STATES)[number];

export type JsonValue = string | number | boolean | null | JsonValue[] | {[key: string]: JsonValue};
export type JsonObject = {[key: string]: JsonValue};

export interface ServiceStatus {
  state: ServiceState;
  /** Why the service is in ERROR, if it is. */
  error?: string;
}

export interface Node {
  id: string;
  nodename: string;
  /** The id of the daemon that manages this node (CHILD-context mutations fire there); "" for none. */
  parentId: string;
  arch: string;
  platform: string;
  physState: PhysState;
  runState: RunState;
  busy: Busy;
  extensions: Record<string, JsonObject>;
  services: Record<string, ServiceStatus>;
}

/** Both views of one node, as the store holds them. */
export interface NodeView {
  cfg: Node;
  dsc: Node;
}

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'expected a UUID');
export const NODENAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$/;

/** The core fields; extensions are validated by their own registered schemas. */
export const coreNodeSchema = z.object({
  id: uuid,
  nodename: z.union([z.literal(''), z.string().regex(NODENAME, 'expected a host name (letters, digits, . _ -)')]).default(''),
  parentId: z.union([z.literal(''), uuid]).default(''),
  arch: z.string().default(''),
  platform: z.string().default(''),
  physState: z.enum(PHYS_STATES).default('PHYS_UNKNOWN'),
  runState: z.enum(RUN_STATES).default('UNKNOWN'),
  busy: z.enum(BUSY_STATES).default('FREE'),
  extensions: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  services: z.record(z.string(), z.object({state: z.enum(SERVICE_STATES).default('UNKNOWN'), error: z.string().optional()}).strict()).default({}),
}).strict();

/** The core enums by URL; extension enums are derived from their schemas by the registry. */
export const CORE_ENUMS: Record<string, readonly string[]> = {
  '/physState': PHYS_STATES,
  '/runState': RUN_STATES,
  '/busy': BUSY_STATES,
  '/services/*/state': SERVICE_STATES,
};

/** A node with every core field at its zero value. */
export function emptyNode(id: string): Node {
  return {
    id, nodename: '', parentId: '', arch: '', platform: '',
    physState: 'PHYS_UNKNOWN', runState: 'UNKNOWN', busy: 'FREE', extensions: {}, services: {},
  };
}
