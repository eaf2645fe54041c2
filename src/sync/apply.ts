/**
 * Writing a peer's report into the local store, value by value, under the ownership rules.
 */
import type {JsonValue} from '../model/node.js';
import type {Logger, SyncStore} from './deps.js';
import type {Ledger} from './ledger.js';
import {deleteAt, getAt, groupRoot, setAt} from './leaves.js';
import type {SyncCounters} from './metrics.js';
import {dscSyncable, type Ownership} from './ownership.js';

export interface ApplyResult {
  /** Leaves written. */
  applied: number;
  /** The parent refused concurrent child changes and re-asserted its own values: send them. */
  reasserted: boolean;
}

/**
 * Applies dsc leaves reported by the peer. `side` is this daemon's role on the link: 'parent' applies a
 * child's report, 'child' applies its parent's. `peerAck` is the highest version of this side's
 * state the peer had seen when it reported (the causality test for shared values).
 */
export function applyDsc(
  store: SyncStore, ledger: Ledger, ownership: Ownership, counters: SyncCounters, log: Logger,
  nodeId: string, side: 'parent' | 'child', set: Record<string, JsonValue>, del: string[], peerAck: number,
): ApplyResult {
  const result: ApplyResult = {applied: 0, reasserted: false};
  const groups = new Map<string, {ptr: string; value: JsonValue | undefined}[]>();
  const consider = (ptr: string, value: JsonValue | undefined) => {
    if (!dscSyncable(ptr)) return counters.ignore('invalid');
    const authority = ownership.authority(ptr);
    if (side === 'parent' && authority === 'parent') return counters.ignore('parent_owned');
    if (side === 'child' && authority === 'child') return counters.ignore('child_owned');
    if (authority === 'shared') {
      const mine = ledger.dsc.get(ptr);
      // A value changed here after the last state of ours the peer had seen wins over the peer's report,
      // unless it is only "unknown" (its zero: e.g. a restarted agent's runState before its parent told
      // it): not knowing is no change that could conflict, and the peer's knowledge is news.
      if (mine && mine.owner === 'local' && mine.ver > peerAck && !ownership.isZero(ptr, mine.value)) {
        counters.ignore('stale');
        if (side === 'parent') {
          ledger.reassert('dsc', ptr); // concurrent changes: the parent's value wins, and the child must hear it
          result.reasserted = true;
        }
        return;
      }
    }
    const root = groupRoot(ptr);
    let g = groups.get(root);
    if (!g) groups.set(root, (g = []));
    g.push({ptr, value});
  };
  for (const ptr of del) consider(ptr, undefined);
  for (const [ptr, value] of Object.entries(set)) consider(ptr, value);
  if (groups.size === 0) return result;

  for (const [root, leaves] of groups) {
    const view = store.get(nodeId);
    if (!view) return result;
    let next: JsonValue | undefined;
    const direct = leaves.find((l) => l.ptr === root);
    if (direct && leaves.length === 1) {
      if (direct.value === undefined) { counters.ignore('invalid'); continue; } // a top-level value cannot be deleted, only set
      next = direct.value;
    } else {
      const current = getAt(view.dsc, root);
      const obj = (typeof current === 'object' && current !== null && !Array.isArray(current) ? structuredClone(current) : {}) as Record<string, unknown>;
      for (const {ptr, value} of leaves) {
        if (ptr === root) continue;
        const rel = ptr.slice(root.length);
        if (value === undefined) deleteAt(obj, rel);
        else setAt(obj, rel, value);
      }
      next = obj as JsonValue;
    }
    try {
      store.discover(nodeId, root, next, 'sync');
    } catch (error) {
      for (let i = 0; i < leaves.length; i++) counters.ignore('invalid');
      log.debug({node: nodeId, url: root, err: (error as Error).message}, 'sync: a reported value was refused by the store');
      continue;
    }
    const after = store.get(nodeId)?.dsc;
    for (const {ptr} of leaves) ledger.recordPeer('dsc', ptr, getAt(after, ptr) as JsonValue | undefined);
    result.applied += leaves.length;
  }
  return result;
}
