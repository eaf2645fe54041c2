/**
 * Admission control: at most `limit` mutations of a module run at once. Others queue in FIFO order;
 * a freed slot is reserved for the next in line, which is woken to take it.
 */
export class Admission<K> {
  private readonly runningCount = new Map<string, number>();
  private readonly queues = new Map<string, K[]>();
  private readonly grants = new Map<string, Set<K>>();

  constructor(private readonly limits: Record<string, number>, private readonly wake: (key: K) => void) {}

  /** Takes a slot now (true), or joins the queue (false). */
  acquire(module: string, key: K): boolean {
    const limit = this.limits[module];
    if (limit === undefined || limit <= 0) {
      this.runningCount.set(module, this.running(module) + 1);
      return true;
    }
    if (this.takeGrant(module, key)) return true;
    if (this.running(module) < limit && this.queue(module).length === 0) {
      this.runningCount.set(module, this.running(module) + 1);
      return true;
    }
    if (!this.queue(module).includes(key)) this.queue(module).push(key);
    return false;
  }

  /** Whether a slot was reserved for this key while it waited (the slot is then its own). */
  takeGrant(module: string, key: K): boolean {
    return this.grants.get(module)?.delete(key) ?? false;
  }

  release(module: string): void {
    const next = this.queue(module).shift();
    if (next === undefined) {
      this.runningCount.set(module, Math.max(0, this.running(module) - 1));
      return;
    }
    // The slot passes straight to the next in line.
    let granted = this.grants.get(module);
    if (!granted) this.grants.set(module, (granted = new Set()));
    granted.add(next);
    this.wake(next);
  }

  /** The key no longer wants a slot: leave the queue, or give back a reserved slot. */
  cancel(module: string, key: K): void {
    const q = this.queue(module);
    const at = q.indexOf(key);
    if (at >= 0) q.splice(at, 1);
    if (this.grants.get(module)?.delete(key)) this.release(module);
  }

  running(module: string): number {
    return this.runningCount.get(module) ?? 0;
  }

  runningByModule(): Record<string, number> {
    return Object.fromEntries([...this.runningCount].filter(([, n]) => n > 0));
  }

  queuedByModule(): Record<string, number> {
    return Object.fromEntries([...this.queues].filter(([, q]) => q.length > 0).map(([m, q]) => [m, q.length]));
  }

  private queue(module: string): K[] {
    let q = this.queues.get(module);
    if (!q) this.queues.set(module, (q = []));
    return q;
  }
}
