/**
 * Reassembly of fragmented messages, with bounds: per message (maxMessageBytes), per peer (at most
 * `maxPending` incomplete messages; the oldest is evicted), for the whole daemon (a shared byte
 * budget), and in time (incomplete messages older than `ttlMs` are discarded).
 */

export class ByteBudget {
  used = 0;
  constructor(readonly limit: number) {}
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

interface Pending {
  count: number;
  parts: (Buffer | undefined)[];
  received: number;
  bytes: number;
  started: number;
  /** When the last fragment came, and when we last asked for the missing ones. */
  last: number;
  asked: number;
  asks: number;
}

/** Fragments of one message the sender should send again. */
export interface Missing {
  msgId: number;
  indexes: number[];
}

export type ReassemblyResult = {done: Buffer} | {waiting: true} | {error: 'too_large' | 'budget' | 'inconsistent'};

export class Reassembler {
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly budget: ByteBudget,
    private readonly maxMessageBytes: number,
    private readonly maxPending = 4,
    private readonly ttlMs = 10_000,
  ) {}

  /** Adds one authenticated fragment; returns the message once every fragment is there. */
  add(msgId: number, index: number, count: number, chunk: Buffer, now: number): ReassemblyResult {
    if (count === 1) return {done: chunk};
    this.expire(now);
    let p = this.pending.get(msgId);
    if (!p) {
      if (count > Math.ceil(this.maxMessageBytes / 64)) return {error: 'too_large'}; // fragments are never that small
      while (this.pending.size >= this.maxPending) this.drop(this.pending.keys().next().value!);
      p = {count, parts: new Array(count), received: 0, bytes: 0, started: now, last: now, asked: 0, asks: 0};
      this.pending.set(msgId, p);
    }
    if (p.count !== count) {
      this.drop(msgId);
      return {error: 'inconsistent'};
    }
    if (p.parts[index]) return {waiting: true}; // a duplicate (replay protection works per datagram; this is belt and braces)
    if (p.bytes + chunk.length > this.maxMessageBytes) {
      this.drop(msgId);
      return {error: 'too_large'};
    }
    if (!this.budget.take(chunk.length)) {
      this.drop(msgId);
      return {error: 'budget'};
    }
    p.parts[index] = Buffer.from(chunk); // copy: the datagram buffer is not ours to keep
    p.received++;
    p.last = now;
    p.bytes += chunk.length;
    if (p.received < p.count) return {waiting: true};
    this.pending.delete(msgId);
    this.budget.give(p.bytes);
    return {done: Buffer.concat(p.parts as Buffer[], p.bytes)};
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Incomplete messages quiet for `quietMs` (and not asked about for as long): which fragments are
   * missing. At most `maxAsks` times per message; after that the sender's retransmission timer sends it whole.
   */
  missing(now: number, quietMs: number, maxAsks = 8): Missing[] {
    this.expire(now);
    const out: Missing[] = [];
    for (const [msgId, p] of this.pending) {
      if (now - p.last < quietMs || now - p.asked < quietMs || p.asks >= maxAsks) continue;
      const indexes: number[] = [];
      for (let i = 0; i < p.count && indexes.length < 1000; i++) if (!p.parts[i]) indexes.push(i);
      p.asked = now;
      p.asks++;
      out.push({msgId, indexes});
    }
    return out;
  }

  /** When missing() may next have something to say (undefined: nothing incomplete). */
  nextAsk(quietMs: number): number | undefined {
    let at: number | undefined;
    for (const p of this.pending.values()) {
      const t = Math.max(p.last, p.asked) + quietMs;
      if (at === undefined || t < at) at = t;
    }
    return at;
  }

  clear(): void {
    for (const id of [...this.pending.keys()]) this.drop(id);
  }

  private expire(now: number): void {
    for (const [id, p] of this.pending) if (now - p.started > this.ttlMs) this.drop(id);
  }

  private drop(msgId: number): void {
    const p = this.pending.get(msgId);
    if (!p) return;
    this.pending.delete(msgId);
    this.budget.give(p.bytes);
  }
}
