/**
 * A node view as a flat map of leaf JSON Pointers → values (what the protocol versions and sends).
 * Objects are walked; arrays and scalars are leaves; an empty object is a leaf `{}` (so that its
 * existence survives the trip).
 */
import type {JsonValue} from '../model/node.js';

export function escapeSegment(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function unescapeSegment(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

const splitCache = new Map<string, readonly string[]>();

/** The unescaped segments of a pointer (cached: the same few hundred pointers come back all the time). */
export function splitPointer(pointer: string): readonly string[] {
  let segs = splitCache.get(pointer);
  if (segs) return segs;
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`not a JSON Pointer: "${pointer}"`);
  segs = pointer.slice(1).split('/').map(unescapeSegment);
  if (splitCache.size > 100_000) splitCache.clear();
  splitCache.set(pointer, segs);
  return segs;
}

export function joinPointer(segments: readonly string[]): string {
  return segments.map((s) => '/' + escapeSegment(s)).join('');
}

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Leaves of `value` under `prefix` (a pointer), into `out`. */
export function flatten(value: unknown, prefix = '', out = new Map<string, JsonValue>()): Map<string, JsonValue> {
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && prefix !== '') out.set(prefix, {});
    for (const k of keys) {
      const v = value[k];
      if (v === undefined) continue;
      flatten(v, prefix + '/' + escapeSegment(k), out);
    }
  } else if (value !== undefined) {
    out.set(prefix, value as JsonValue);
  }
  return out;
}

export function getAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const seg of splitPointer(pointer)) {
    if (!isObject(cur)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

/** Sets a value, creating objects on the way (and replacing a non-object in the way). */
export function setAt(root: Record<string, unknown>, pointer: string, value: unknown): void {
  const segs = splitPointer(pointer);
  if (segs.length === 0) throw new Error('cannot set the root');
  let cur: Record<string, unknown> = root;
  for (const seg of segs.slice(0, -1)) {
    if (!isObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[segs[segs.length - 1]!] = value;
}

export function deleteAt(root: Record<string, unknown>, pointer: string): void {
  const segs = splitPointer(pointer);
  let cur: unknown = root;
  for (const seg of segs.slice(0, -1)) {
    if (!isObject(cur)) return;
    cur = cur[seg];
  }
  if (isObject(cur)) delete cur[segs[segs.length - 1]!];
}

/** Sorted-key JSON: two values are equal when their canonical forms are (the one copy, in model/). */
export {canonical} from '../model/canonical.js';

/** Is `pointer` equal to or below `prefix`? */
export function under(pointer: string, prefix: string): boolean {
  return prefix === '' || pointer === prefix || pointer.startsWith(prefix + '/');
}

/**
 * The "group root" of a leaf: the value the store is asked to discover as a whole when a leaf under it
 * changes: `/physState`, `/extensions/<name>`, `/services/<name>`.
 */
export function groupRoot(pointer: string): string {
  const segs = splitPointer(pointer);
  if ((segs[0] === 'extensions' || segs[0] === 'services') && segs.length >= 2) return joinPointer(segs.slice(0, 2));
  return joinPointer(segs.slice(0, 1));
}

/** Matches a pointer against a pattern where `*` is one segment and a trailing `/**` any remainder. */
export function matchPattern(pattern: string, pointer: string): boolean {
  const p = splitPointer(pattern);
  const s = splitPointer(pointer);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '**' && i === p.length - 1) return true;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
