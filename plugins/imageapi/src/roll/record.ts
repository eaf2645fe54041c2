/**
 * The record of a staged roll (`image roll NODES --batch N`), kept with the parent: a cfg extension
 * `roll` on the parent daemon's own node, written through the API at every step. So the roll survives
 * the CLI being killed (or the operator's laptop closing): `image roll --resume` reads what to roll,
 * to which nodes, in which batches and how far it got, from the daemon's store, which is journaled and
 * backed up like every node. The module only declares the extension: nothing in the daemon acts on it
 * (the roll is driven by the CLI; the engine rolls each node), and it has no enum, so the engine has
 * nothing to converge there. See docs/layer1.md, "Staged rolls".
 */
import {defineExtension, defineModule, z, type ModuleSpec} from '@layercake/sdk';
import type {ApiClient} from '@layercake/sdk/cli';

const rollSchema = z.strictObject({
  id: z.string().default(''),
  /** rolling (under way, or its CLI was killed), stopped (a batch failed), done. A plain string: no engine state. */
  status: z.string().default(''),
  /** The nodes' names, in hostlist order. */
  nodes: z.array(z.string()).default([]),
  /** The --image assignments as given (NAME=SPEC), resolved again on --resume. */
  images: z.array(z.string()).default([]),
  remove: z.array(z.string()).default([]),
  batch: z.number().int().min(1).default(1),
  maxUnavailable: z.number().int().min(1).default(1),
  /** How many of `nodes` are rolled: the batches before it are done. */
  rolled: z.number().int().min(0).default(0),
  /** Why the roll stopped: the nodes of the failed batch that did not roll. */
  failed: z.array(z.strictObject({node: z.string(), reason: z.string()})).default([]),
  started: z.string().default(''),
  updated: z.string().default(''),
});

export const rollExtension = defineExtension({
  name: 'roll',
  description: 'The last staged image roll (layercake image roll --batch): what, to which nodes, how far it got; on the parent\'s own node',
  schema: rollSchema,
});

export type RollRecord = z.infer<typeof rollSchema>;

export const rollModule: ModuleSpec = defineModule({
  name: 'roll',
  description: 'Keeps the record of a staged image roll on the parent\'s own node, so that `image roll --resume` can continue it',
  extensions: [rollExtension],
  start() {},
});

/** The parent's own node id and its roll record (undefined: no roll was ever recorded). */
export async function readRoll(client: ApiClient): Promise<{self: string; record?: RollRecord}> {
  const {id} = await client.health();
  const view = await client.getNode(id);
  const raw = view.cfg.extensions.roll as RollRecord | undefined;
  return {self: id, record: raw && raw.id ? raw : undefined};
}

/** Writes the whole record (a fresh roll: the old record goes first, so no field of it lingers). */
export async function writeRoll(client: ApiClient, self: string, record: RollRecord, fresh = false): Promise<void> {
  if (fresh) await client.apply([{id: self, extensions: {roll: null}}]);
  await client.apply([{id: self, extensions: {roll: {...record, updated: new Date().toISOString()}}}]);
}

export async function clearRoll(client: ApiClient, self: string): Promise<void> {
  await client.apply([{id: self, extensions: {roll: null}}]);
}
