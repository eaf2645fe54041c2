/**
 * What a roll changes on a node and how to tell it is done: shared by the single roll and the staged one.
 */
import type {NodeView} from '@layercake/sdk';
import {CliError, type ApiClient, type ApplyResult} from '@layercake/sdk/cli';
import {cfgDigest, completeNew, merge, parseImageAssignment} from '../cli.js';

export interface Assignment {
  name: string;
  patch: Record<string, unknown>;
  /** A catalogue image's http source: it replaces the image's source whole (an old file source's fields would not fit it). */
  source?: Record<string, unknown>;
}

/** NAME:VERSION of the parent's catalogue -> the http source the nodes fetch it from (throws if it is not there). */
export type CatalogueLookup = (ref: string) => Record<string, unknown>;

/**
 * The one place `--image NAME=SPEC` becomes cfg: a path, a JSON object, or NAME:VERSION of the parent's
 * catalogue (looked up there). Throws an error naming the bad value; nothing changes.
 */
export function resolveImages(texts: readonly string[], catalogue: CatalogueLookup): Assignment[] {
  return texts.map((text) => {
    let parsed: ReturnType<typeof parseImageAssignment>;
    try {
      parsed = parseImageAssignment(text);
    } catch (error) {
      throw new CliError((error as Error).message, {code: 'LC_ERR_USAGE', exit: 2});
    }
    return parsed.ref ? {name: parsed.name, patch: parsed.patch, source: catalogue(parsed.ref)} : {name: parsed.name, patch: parsed.patch};
  });
}

type ImageSetCfg = {state?: string; images?: Record<string, unknown>};
type ImageSetDsc = {state?: string; images?: Record<string, {state?: string; applied?: string; lastError?: string}>};
const cfgSet = (view: NodeView) => (view.cfg.extensions.imageset ?? {}) as ImageSetCfg;
const dscSet = (view: NodeView) => (view.dsc.extensions.imageset ?? {}) as ImageSetDsc;

/** The cfg patch that rolls a node: the assigned images merged in, the removed ones dropped, the set ACTIVE if it had no goal. */
export function rollPatch(view: NodeView, assignments: readonly Assignment[], removals: readonly string[]) {
  const set = cfgSet(view);
  const images: Record<string, unknown> = {};
  for (const {name, patch, source} of assignments) {
    const current = set.images?.[name];
    images[name] = current ? merge(current, patch) : completeNew(patch);
    if (source) (images[name] as Record<string, unknown>).source = source;
  }
  for (const name of removals) images[name] = null; // apply: null removes the key
  const state = !set.state || set.state === 'UNKNOWN' ? {state: 'ACTIVE'} : {};
  return {id: view.cfg.id, extensions: {imageset: {...state, images}}};
}

/** The node runs what its cfg says for these images (ACTIVE, or IDLE by its goal), and none of the removed ones. */
export function isRolled(view: NodeView, names: readonly string[], removals: readonly string[]): boolean {
  const cfg = cfgSet(view);
  const dsc = dscSet(view);
  if (dsc.state !== 'ACTIVE') return false;
  if (removals.some((n) => dsc.images?.[n])) return false;
  return names.every((n) => dsc.images?.[n]?.applied === cfgDigest(cfg.images?.[n]) && (dsc.images?.[n]?.state === 'ACTIVE' || dsc.images?.[n]?.state === 'IDLE'));
}

/**
 * Why a roll of these images failed on the node (undefined while it has not): an image of the roll in
 * ERROR or FATAL whose failing spec is the one its cfg now asks for. A lastError left by an earlier spec
 * (a roll back from a failed roll, found on the VMs) is not this roll's failure: it goes once the node
 * applies the new cfg.
 */
export function rollFailure(view: NodeView, names: readonly string[]): string | undefined {
  const cfg = cfgSet(view).images ?? {};
  const dsc = dscSet(view).images ?? {};
  const bad = names.find((n) => ['ERROR', 'FATAL'].includes(dsc[n]?.state ?? '') && dsc[n]?.lastError && cfgDigest(dsc[n]) === cfgDigest(cfg[n]));
  return bad && `image ${bad}: ${dsc[bad]!.lastError}`;
}

/** A node's cfg images of these names as they were before the roll (null: the image was not there). */
export function previousImages(view: NodeView, names: readonly string[], removed: readonly string[]): Record<string, unknown> {
  const images = cfgSet(view).images ?? {};
  return Object.fromEntries([...names, ...removed].map((n) => [n, images[n] ?? null]));
}

/** In service: synced, and its image set where its goal is (ACTIVE; IDLE when configured so). */
export function isAvailable(view: NodeView): boolean {
  const goal = cfgSet(view).state ?? 'ACTIVE';
  return view.dsc.runState === 'SYNC' && dscSet(view).state === (goal === 'IDLE' ? 'IDLE' : 'ACTIVE');
}

/**
 * Writes the roll patches. The images first, then the set's goal, for a node that had no image set:
 * the engine plans on a change of imageset.state itself, and (as of this writing) not when the whole
 * extension appears in one write.
 */
export async function applyRoll(client: ApiClient, views: readonly NodeView[], patches: ReturnType<typeof rollPatch>[], dryRun = false): Promise<ApplyResult> {
  const fresh = patches.filter((_, i) => !views[i].cfg.extensions.imageset && !dryRun);
  if (fresh.length) await client.apply(fresh.map((p) => ({id: p.id, extensions: {imageset: {images: p.extensions.imageset.images}}})));
  const result = await client.apply(patches, {dryRun});
  if (fresh.length) result.changes.unshift(...fresh.map((p) => ({id: p.id, nodename: views.find((v) => v.cfg.id === p.id)!.cfg.nodename, url: '/extensions/imageset/images', value: p.extensions.imageset.images as never})));
  return result;
}
