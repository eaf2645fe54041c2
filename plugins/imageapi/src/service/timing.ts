/** Step timings for a debug log (the service's steps, the client's requests): where a roll spends its time (issue 16, the VM roll). */

export type Debug = ((msg: string) => void) | undefined;

/** Runs `fn`; with a debug log, logs how long it took as `what: N ms` (also when it fails). */
export async function timed<T>(debug: Debug, what: string, fn: () => Promise<T>): Promise<T> {
  if (!debug) return fn();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    debug(`${what}: ${Math.round(performance.now() - t0)} ms`);
  }
}
