/**
 * A node's busy flag in words every layer shares: how to read and write it and its `busy` extension (why,
 * since, until). The module that declares the extension (its schema) and expires it is src/busy/module.ts;
 * the schema lives there so that the client commands reading a node's busy flag do not load zod.
 */
import type {NodeView} from './node.js';

export interface BusyInfo {
  busy: boolean;
  reason: string;
  since: string;
  until: string;
}

/** What a node reports about its busy flag. */
export function busyOf(view: Pick<NodeView, 'dsc'>): BusyInfo {
  const ext = (view.dsc.extensions.busy ?? {}) as Partial<BusyInfo>;
  return {busy: view.dsc.busy === 'BUSY', reason: ext.reason ?? '', since: ext.since ?? '', until: ext.until ?? ''};
}

/** The dsc values that say "BUSY" (with a reason and an expiry) or "FREE". */
export function busyValues(busy: boolean, opts: {reason?: string; forMs?: number; now?: Date} = {}): Record<string, string> {
  const now = opts.now ?? new Date();
  return {
    '/busy': busy ? 'BUSY' : 'FREE',
    '/extensions/busy/reason': busy ? opts.reason ?? '' : '',
    '/extensions/busy/since': now.toISOString(),
    '/extensions/busy/until': busy && opts.forMs ? new Date(now.getTime() + opts.forMs).toISOString() : '',
  };
}

/** One line for people: "BUSY (slurm job 42) since ..., until ..." or "FREE". */
export function describeBusy(info: BusyInfo): string {
  if (!info.busy) return 'FREE';
  return `BUSY${info.reason ? ` (${info.reason})` : ''}${info.since ? ` since ${info.since}` : ''}${info.until ? `, until ${info.until}` : ''}`;
}
