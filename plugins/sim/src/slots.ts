/** Boot slots: how many simulated machines may boot at once (the world's admission of boot storms). */
/** At most `n` holders at a time; the others wait their turn, in order, unless their signal aborts. */
export class Slots {
  private held = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly n: number) {}

  /** Resolves with the release function once a slot is free. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.held >= this.n) {
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          this.queue.splice(this.queue.indexOf(turn), 1);
          reject(signal.reason as Error);
        };
        this.queue.push(turn);
        signal.addEventListener('abort', onAbort, {once: true});
      });
    } else this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next(); // the slot passes on
      else this.held--;
    };
  }
}
