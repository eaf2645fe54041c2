/**
 * One timer for every peer: a min-heap of due times. When it fires, everything due within `slackMs`
 * runs in the same turn, so that with 10,000 children the hellos go out in batches (one wake-up per
 * batch instead of one per child) and their answers come back in bursts.
 *
 * Entries are lazy: a peer whose due time moved later stays in the heap at its old time and, when
 * popped, simply tells the scheduler its new due time.
 */

export interface Tickable {
  /** Does what is due at `now`; returns when it next needs a tick (undefined: not until rescheduled). */
  tick(now: number): number | undefined;
  /** @internal the due time the scheduler holds for this item */
  scheduledAt?: number;
}

interface Slot {
  at: number;
  item: Tickable;
}

export class Scheduler {
  private heap: Slot[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;

  constructor(private readonly slackMs: number, private readonly now: () => number = Date.now) {}

  /** Makes sure `item` ticks no later than `at`. */
  schedule(item: Tickable, at: number): void {
    if (this.stopped) return;
    if (item.scheduledAt !== undefined && item.scheduledAt <= at) return;
    item.scheduledAt = at;
    this.push({at, item});
    this.arm();
  }

  /** Forgets an item (its heap slots are skipped when popped). */
  cancel(item: Tickable): void {
    item.scheduledAt = undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap = [];
  }

  get size(): number {
    return this.heap.length;
  }

  private arm(): void {
    const top = this.heap[0];
    if (!top || this.stopped) return;
    if (this.timer && this.timerAt <= top.at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = top.at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, top.at - this.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const horizon = now + this.slackMs;
    const due: Tickable[] = [];
    while (this.heap.length && this.heap[0]!.at <= horizon) {
      const slot = this.pop()!;
      if (slot.item.scheduledAt !== slot.at) continue; // stale slot
      slot.item.scheduledAt = undefined;
      due.push(slot.item);
    }
    for (const item of due) {
      if (this.stopped) return;
      let next: number | undefined;
      try {
        next = item.tick(now);
      } catch {
        next = now + 1000; // a tick must not stop the others; the item logs its own errors
      }
      if (next !== undefined) this.schedule(item, Math.max(next, now + 1));
    }
    this.arm();
  }

  private push(slot: Slot): void {
    const h = this.heap;
    h.push(slot);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= slot.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = slot;
  }

  private pop(): Slot | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (!top || !last || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < h.length && h[l]!.at < mAt) { m = l; mAt = h[l]!.at; }
      if (r < h.length && h[r]!.at < mAt) m = r;
      if (m === i) break;
      h[i] = h[m]!;
      i = m;
    }
    h[i] = last;
    return top;
  }
}
