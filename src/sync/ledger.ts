/**
 * The versioned state of one node on one side of a link.
 *
 * Every leaf this side may send carries the version at which it last changed here (a per-node counter,
 * bumped on each local change) and its owner: `local` (written by this daemon: its modules, its engine,
 * its API, or the sync engine's own discoveries such as RunState SYNC) or `peer` (last written from the
 * other side's report, so not this side's to send). A delta "since version A" is every local leaf (and
 * deletion) with a version above A; the peer acknowledges the highest version it has applied, so the
 * sender always knows what to resend.
 */
import type {JsonValue} from '../model/node.js';
import {canonical, under} from './leaves.js';

export type Owner = 'local' | 'peer';

export interface Entry {
  /** undefined: deleted (a tombstone, kept until the peer has acknowledged it). */
  value: JsonValue | undefined;
  canon: string;
  ver: number;
  owner: Owner;
}

export interface Changes {
  set: Record<string, JsonValue>;
  del: string[];
}

export class Ledger {
  /** This side's version counter for the node. */
  ver = 0;
  readonly cfg = new Map<string, Entry>();
  readonly dsc = new Map<string, Entry>();
  /** How many tombstones there may be (prune has nothing to do at 0). */
  private tombstones = 0;

  map(view: 'cfg' | 'dsc'): Map<string, Entry> {
    return view === 'cfg' ? this.cfg : this.dsc;
  }

  /**
   * Compares the current leaves under `prefix` with what the ledger knows: whatever differs changed
   * here (values written from the peer were recorded when they were applied). Returns the changed leaves.
   */
  rescan(view: 'cfg' | 'dsc', leaves: Map<string, JsonValue>, prefix = ''): string[] {
    const map = this.map(view);
    const changed: string[] = [];
    for (const [ptr, value] of leaves) {
      if (!under(ptr, prefix)) continue;
      const e = map.get(ptr);
      const canon = canonical(value);
      if (e && e.value !== undefined && e.canon === canon) continue;
      map.set(ptr, {value, canon, ver: ++this.ver, owner: 'local'});
      changed.push(ptr);
    }
    for (const [ptr, e] of map) {
      if (e.value === undefined || !under(ptr, prefix) || leaves.has(ptr)) continue;
      map.set(ptr, {value: undefined, canon: '', ver: ++this.ver, owner: 'local'});
      this.tombstones++;
      changed.push(ptr);
    }
    return changed;
  }

  /** Records a value written from the peer's report (undefined: deleted). */
  recordPeer(view: 'cfg' | 'dsc', ptr: string, value: JsonValue | undefined): void {
    const map = this.map(view);
    const prev = map.get(ptr);
    map.set(ptr, {value, canon: value === undefined ? '' : canonical(value), ver: prev?.ver ?? 0, owner: 'peer'});
    if (value === undefined) this.tombstones++;
  }

  /** Makes a local leaf newer than anything the peer has seen (to re-assert it after refusing a concurrent peer change). */
  reassert(view: 'cfg' | 'dsc', ptr: string): void {
    const e = this.map(view).get(ptr);
    if (e && e.owner === 'local') e.ver = ++this.ver;
  }

  /** Local leaves (and deletions) changed after version `since`, filtered by `sendable`. */
  changes(view: 'cfg' | 'dsc', since: number, sendable: (ptr: string) => boolean): Changes {
    const out: Changes = {set: {}, del: []};
    for (const [ptr, e] of this.map(view)) {
      if (e.owner !== 'local' || e.ver <= since || !sendable(ptr)) continue;
      if (e.value === undefined) out.del.push(ptr);
      else out.set[ptr] = e.value;
    }
    return out;
  }

  /** Forgets tombstones the peer has acknowledged. */
  prune(acked: number): void {
    if (!this.tombstones) return;
    this.tombstones = 0;
    for (const map of [this.cfg, this.dsc]) {
      for (const [ptr, e] of map) {
        if (e.value !== undefined) continue;
        if (e.ver <= acked) map.delete(ptr);
        else this.tombstones++;
      }
    }
  }
}
