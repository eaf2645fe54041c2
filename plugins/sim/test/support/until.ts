/** Waiting in the simulated-cluster tests for a state the parent's store will reach (checked every 50 ms). */
export function until(done: () => boolean, ms: number, what: string, state: () => string = () => ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!done()) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve();
    };
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => { clearInterval(poll); reject(new Error(`timed out after ${ms} ms waiting for ${what}: ${state()}`)); }, ms);
    check();
  });
}
