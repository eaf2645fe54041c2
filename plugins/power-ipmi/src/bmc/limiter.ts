/**
 * A counting semaphore with a FIFO queue: at most `limit` tasks run at once. A waiting task whose
 * signal aborts leaves the queue at once.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<{start: () => void; cancel: () => void}> = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`concurrency limit must be at least 1, got ${limit}`);
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => { signal?.removeEventListener('abort', entry.cancel); this.active++; resolve(); },
        cancel: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal?.reason ?? new Error('aborted'));
        },
      };
      this.waiting.push(entry);
      signal?.addEventListener('abort', entry.cancel, {once: true});
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.start();
  }
}
