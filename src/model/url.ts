/**
 * URLs: JSON Pointers (RFC 6901) into a node, the `pxe.state` shorthand, canonical comparison and diffs.
 */
import {ValidationError} from './errors.js';
import {canonical} from './canonical.js';
import type {JsonValue} from './node.js';

export {canonical};

const CORE_FIELDS = new Set(['id', 'nodename', 'parentId', 'arch', 'platform', 'physState', 'runState', 'busy', 'extensions', 'services']);

const escape = (s: string) => (s.includes('~') || s.includes('/') ? s.replaceAll('~', '~0').replaceAll('/', '~1') : s);
const unescape = (s: string) => s.replaceAll('~1', '/').replaceAll('~0', '~');

/** `pxe.state` → `/extensions/pxe/state`; `physState` → `/physState`; a pointer is returned as it is. */
export function toPointer(url: string): string {
  if (url === '' || url.startsWith('/')) return url;
  const parts = url.split('.');
  if (!CORE_FIELDS.has(parts[0])) parts.unshift('extensions');
  return '/' + parts.map(escape).join('/');
}

const parsed = new Map<string, readonly string[]>();

/** The unescaped segments of a pointer (cached: the same few hundred pointers are parsed millions of times). */
export function segments(pointer: string): readonly string[] {
  let out = parsed.get(pointer);
  if (out) return out;
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new ValidationError(`"${pointer.slice(0, 200)}" is not a JSON Pointer (it must start with /)`, {url: pointer.slice(0, 200)});
  if (/~(?![01])/.test(pointer)) throw new ValidationError(`"${pointer.slice(0, 200)}" is not a valid JSON Pointer: "~" must be followed by 0 or 1 (RFC 6901)`, {url: pointer.slice(0, 200)});
  out = pointer.slice(1).split('/').map(unescape);
  if (parsed.size < 100_000) parsed.set(pointer, out);
  return out;
}

export function joinPointer(parts: readonly string[]): string {
  return parts.length === 0 ? '' : '/' + parts.map(escape).join('/');
}

/** The shortest spelling of a pointer, for display: `/extensions/pxe/state` → `pxe.state`. */
export function toShorthand(pointer: string): string {
  const parts = [...segments(pointer)];
  if (parts[0] === 'extensions' && parts.length > 1 && !CORE_FIELDS.has(parts[1])) parts.shift();
  return parts.some((p) => p.includes('.')) ? pointer : parts.join('.');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function getAt(root: unknown, pointer: string): JsonValue | undefined {
  let cur: unknown = root;
  for (const seg of segments(pointer)) {
    if (isObject(cur)) cur = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    else if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
    else return undefined;
  }
  return cur as JsonValue | undefined;
}

/** Sets (or with `undefined`, removes) a value in place, creating objects along the way. */
export function setAt(root: Record<string, unknown>, pointer: string, value: JsonValue | undefined): void {
  const parts = segments(pointer);
  if (parts.length === 0) throw new Error('cannot set the whole node through a URL');
  let cur: Record<string, unknown> = root;
  for (const seg of parts.slice(0, -1)) {
    if (!isObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  const last = parts.at(-1)!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

export const sameValue = (a: unknown, b: unknown): boolean => a === b || canonical(a) === canonical(b);

export interface Change {
  url: string;
  previous?: JsonValue;
  value?: JsonValue;
}

/**
 * One change per differing leaf (objects recurse; arrays and scalars compare whole), in key order.
 * It runs for every node of every cfg write (10,000 at once in a fan-out), so equal leaves are skipped
 * before their pointer is built, and only arrays are compared by their canonical text.
 */
export function diff(a: unknown, b: unknown, prefix = ''): Change[] {
  const out: Change[] = [];
  diffInto(a, b, prefix, out);
  return out;
}

function diffInto(a: unknown, b: unknown, prefix: string, out: Change[]): void {
  if (a === b) return;
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    for (const k of Object.keys(b)) if (!Object.hasOwn(a, k)) keys.push(k);
    keys.sort();
    for (const k of keys) if (a[k] !== b[k]) diffInto(a[k], b[k], prefix + '/' + escape(k), out);
    return;
  }
  if (typeof a === 'object' && typeof b === 'object' && canonical(a) === canonical(b)) return;
  out.push({url: prefix, previous: a as JsonValue | undefined, value: b as JsonValue | undefined});
}

/** `*` matches one segment, a trailing `**` any remainder (including nothing). */
export function matchPattern(pattern: string, pointer: string): boolean {
  const p = segments(toPointer(pattern));
  const s = segments(pointer);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '**' && i === p.length - 1) return true;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

export function deepClone<T>(value: T): T {
  return structuredClone(value);
}
