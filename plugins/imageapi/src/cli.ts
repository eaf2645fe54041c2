/** What the image commands show: per node and image, what is configured and what runs. */
import type {Node, NodeView} from '@layercake/sdk';
import {CATALOGUE_REF, image as imageSchema, type Image} from './module/extension.js';
import {specDigest, specOf} from './module/spec.js';

export interface ImageRow {
  node: string;
  nodeId: string;
  image: string;
  /** The set's state: discovered, and configured. */
  set: string;
  setGoal: string;
  /** The image's state on the node ('' if the node does not report it yet). */
  state: string;
  container: string;
  containerId: number;
  retries: number;
  lastError: string;
  since: string;
  /** What it runs (dsc) or is to run (cfg). */
  source: string;
  /** The cfg differs from what runs: a roll is due or under way. */
  pending: boolean;
  /** In dsc only: it goes at the next activation. */
  removed: boolean;
}

type ImageSet = {state?: string; images?: Record<string, Partial<Image>>};
const setOf = (n: Node) => (n.extensions.imageset ?? {}) as ImageSet;

export function describeSource(img: Partial<Image> | undefined): string {
  const s = img?.source;
  if (!s) return '';
  switch (s.kind) {
    case 'nfs': return `nfs ${s.host}:${s.path}`;
    case 'rbd': return `rbd ${s.pool}/${s.image}${s.snapshot ? `@${s.snapshot}` : ''}`;
    case 'iscsi': return `iscsi ${s.target} lun ${s.lun ?? 0}`;
    case 'http': return `http ${s.ref ?? s.url} (${s.sha256?.slice(0, 12)})`;
    default: return `${s.kind} ${s.path}`;
  }
}

/** The digest of a cfg image's spec ('' if it does not parse). */
export function cfgDigest(img: unknown): string {
  const parsed = imageSchema.safeParse(img);
  return parsed.success ? specDigest(specOf(parsed.data)) : '';
}

/**
 * Why a roll of these images failed on the node ('' while it has not): an image of the roll in ERROR or
 * FATAL whose failing spec is the one its cfg now asks for. A lastError left by an earlier spec (a roll
 * back from a failed roll, found on the VMs) is not this roll's failure: it goes once the node applies
 * the new cfg.
 */
export function rollFailure(view: NodeView, names: readonly string[]): string {
  const cfg = setOf(view.cfg).images ?? {};
  const dsc = setOf(view.dsc).images ?? {};
  const bad = names.find((n) => ['ERROR', 'FATAL'].includes(dsc[n]?.state ?? '') && dsc[n]?.lastError && cfgDigest(dsc[n]) === cfgDigest(cfg[n]));
  return bad ? `image ${bad}: ${dsc[bad]!.lastError}` : '';
}

export function imageRows(view: NodeView): ImageRow[] {
  const cfg = setOf(view.cfg);
  const dsc = setOf(view.dsc);
  const names = [...new Set([...Object.keys(cfg.images ?? {}), ...Object.keys(dsc.images ?? {})])].sort();
  const node = view.cfg.nodename || view.cfg.id;
  return names.map((name) => {
    const want = cfg.images?.[name];
    const have = dsc.images?.[name];
    const digest = want ? cfgDigest(want) : '';
    return {
      node, nodeId: view.cfg.id, image: name, set: dsc.state ?? 'UNKNOWN', setGoal: cfg.state ?? 'UNKNOWN',
      state: have?.state ?? '', container: have?.containerState ?? '', containerId: have?.containerId ?? 0, retries: have?.retries ?? 0,
      lastError: have?.lastError ?? '', since: have?.since ?? '', source: describeSource(have ?? want),
      pending: !!want && (!have || have.applied !== digest) && (want.container?.state ?? 'running') === 'running', removed: !want,
    };
  });
}

/**
 * `NAME=SPEC` of `image roll`: SPEC is a path (the image file, or for an existing image its new path),
 * or a JSON object merged into the image's cfg.
 */
export function parseImageAssignment(text: string): {name: string; patch: Record<string, unknown>; ref?: string} {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`--image ${text}: expected NAME=SPEC (SPEC: an image path, or a JSON object)`);
  const name = text.slice(0, eq);
  const spec = text.slice(eq + 1).trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new Error(`--image ${text}: "${name}" is not an image name (letters, digits, ".", "-", "_")`);
  if (spec.startsWith('{')) {
    let patch: unknown;
    try {
      patch = JSON.parse(spec);
    } catch (error) {
      throw new Error(`--image ${name}: the spec is not valid JSON (${(error as Error).message})`);
    }
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new Error(`--image ${name}: the spec must be a JSON object`);
    return {name, patch: patch as Record<string, unknown>};
  }
  if (CATALOGUE_REF.test(spec)) return {name, patch: {}, ref: spec};
  if (!spec.startsWith('/')) throw new Error(`--image ${name}: "${spec}" is neither an absolute path, a catalogue NAME:VERSION nor a JSON object`);
  return {name, patch: {source: {path: spec}}};
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function merge(base: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isObject(base) ? {...base} : {};
  for (const [k, v] of Object.entries(patch)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k], v) : v;
  return out;
}

/** A new image from a bare path needs a source kind and an init: a file image, started with /sbin/init. */
export function completeNew(patch: Record<string, unknown>): Record<string, unknown> {
  return merge({source: {kind: 'file'}, container: {command: '/sbin/init', systemd: true}}, patch);
}
