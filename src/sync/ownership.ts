/**
 * Field ownership: which side of a link may write which value.
 *
 * - cfg is the parent's, always (a child never sends cfg; the parent never accepts it).
 * - A dsc value changed only by CHILD-context mutations (fired on the parent: PhysState, pxe.state) is
 *   the parent's: a child's report of it is ignored. A value changed only by SELF-context mutations
 *   (fired on the node itself: the imageset state) is the child's: the parent never sends it down.
 * - Everything else (RunState: INITtoSYNC on the parent, SYNCtoINIT on the child; values no mutation
 *   changes) is shared, and goes by causality: a report is applied unless this side changed the value
 *   after the last state of this side the reporter had seen (then the report is stale).
 */
import type {SyncRegistry} from './deps.js';
import {matchPattern, splitPointer} from './leaves.js';

export type Authority = 'parent' | 'child' | 'shared';

/** The dsc values that sync at all (identity fields such as /nodename are cfg's business). */
export function dscSyncable(ptr: string): boolean {
  const segs = splitPointer(ptr);
  const first = segs[0];
  if (first === 'extensions' || first === 'services') return segs.length >= 2; // never the containers themselves
  return segs.length === 1 && (first === 'physState' || first === 'runState' || first === 'busy');
}

export class Ownership {
  private readonly contexts = new Map<string, Set<string>>();
  private readonly secretPrefixes: string[];
  private readonly cache = new Map<string, Authority>();

  constructor(private readonly registry: SyncRegistry) {
    for (const m of registry.mutations()) {
      for (const ptr of Object.keys(m.mutates)) {
        let set = this.contexts.get(ptr);
        if (!set) this.contexts.set(ptr, (set = new Set()));
        set.add(m.context);
      }
    }
    this.secretPrefixes = registry.extensions().flatMap((e) => e.secrets.map((s) => `/extensions/${e.name}${s.startsWith('/') ? s : '/' + s}`));
  }

  authority(ptr: string): Authority {
    let a = this.cache.get(ptr);
    if (a) return a;
    const ctx = new Set<string>();
    for (const [pattern, set] of this.contexts) if (pattern === ptr || (pattern.includes('*') && matchPattern(pattern, ptr))) for (const c of set) ctx.add(c);
    a = ctx.size === 1 && ctx.has('CHILD') ? 'parent' : ctx.size === 1 && ctx.has('SELF') ? 'child' : 'shared';
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(ptr, a);
    return a;
  }

  /** A cfg leaf that must never leave the parent (extension secrets, the join secret among them). */
  isSecret(ptr: string): boolean {
    for (const s of this.secretPrefixes) if (ptr === s || ptr.startsWith(s + '/')) return true;
    return false;
  }

  /** An enum value that only says "unknown" (its zero value). */
  isZero(ptr: string, value: unknown): boolean {
    return typeof value === 'string' && this.registry.zeroOf?.(ptr) === value;
  }

  /** What the parent sends down: cfg except secrets; its own dsc values except the child's. */
  parentSends(view: 'cfg' | 'dsc', ptr: string): boolean {
    if (view === 'cfg') return !this.isSecret(ptr);
    return dscSyncable(ptr) && this.authority(ptr) !== 'child';
  }

  /** What a child sends up: its own dsc values except the parent's. */
  childSends(ptr: string): boolean {
    return dscSyncable(ptr) && this.authority(ptr) !== 'parent';
  }
}
