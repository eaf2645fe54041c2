/**
 * The sync engine's counters. The daemon's /metrics pulls them with `collect()` (plain samples) and
 * renders them with prom-client (daemon/metrics.ts).
 */

export interface MetricSample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels?: Record<string, string>;
  value: number;
}

/** Why a datagram was dropped (the `reason` label of layercake_sync_dropped_total). */
export const DROP_REASONS = [
  'malformed', // too short, bad magic, bad fragment fields, undecodable payload
  'bad_version', // another protocol version
  'wrong_recipient', // not addressed to this daemon
  'unknown_sender', // a sender id this daemon does not sync with (or a node that is not its child)
  'no_session', // a known peer, but no session with that id (e.g. the parent restarted): answered with RESYNC
  'bad_hmac', // the HMAC does not verify (forged or corrupted)
  'replay', // a sequence number already seen or older than the window, or a stale join reply
  'payload_id', // the payload's node id is neither the sender (child dsc) nor the recipient (parent cfg)
  'reassembly', // a fragmented message over the size or memory bounds, or inconsistent
  'unexpected', // a valid datagram that makes no sense in the current state (e.g. WELCOME while synced)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class SyncCounters {
  readonly dropped = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));
  readonly sent = new Map<string, number>();
  readonly received = new Map<string, number>();
  bytesSent = 0;
  bytesReceived = 0;
  sendErrors = 0;
  retransmits = 0;
  fragmentsResent = 0;
  fullStates = 0;
  phoneHome = {sent: 0, accepted: 0, refused: 0};
  /** Values from a peer that were not applied, by reason (stale, owned by the other side, invalid). */
  readonly ignored = new Map<string, number>([['stale', 0], ['parent_owned', 0], ['child_owned', 0], ['invalid', 0]]);
  childrenDead = 0;
  parentLost = 0;

  drop(reason: DropReason): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }

  ignore(reason: 'stale' | 'parent_owned' | 'child_owned' | 'invalid'): void {
    this.ignored.set(reason, (this.ignored.get(reason) ?? 0) + 1);
  }

  countSent(type: string, bytes: number): void {
    this.sent.set(type, (this.sent.get(type) ?? 0) + 1);
    this.bytesSent += bytes;
  }

  countReceived(type: string, bytes: number): void {
    this.received.set(type, (this.received.get(type) ?? 0) + 1);
    this.bytesReceived += bytes;
  }

  get datagramsSent(): number {
    let n = 0;
    for (const v of this.sent.values()) n += v;
    return n;
  }

  get datagramsReceived(): number {
    let n = 0;
    for (const v of this.received.values()) n += v;
    return n;
  }
}
