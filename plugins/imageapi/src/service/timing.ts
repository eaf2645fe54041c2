/** Step timings for a debug log (the service's steps, the client's requests): where a roll spends its time (issue 16, the VM roll). */
import {constants, PerformanceObserver, type PerformanceEntry} from 'node:perf_hooks';

export type Debug = ((msg: string) => void) | undefined;

/**
 * Runs `fn`; with a debug log, logs how long it took as `what: N ms` (also when it fails). With `gc`, adds
 * the garbage collector's pauses inside it (`what: N ms (gc M ms in K pauses)`): a step's time that no
 * step inside it accounts for may be the collector's.
 */
export async function timed<T>(debug: Debug, what: string, fn: () => Promise<T>, options: {gc?: boolean} = {}): Promise<T> {
  if (!debug) return fn();
  const gc = options.gc ? gcPauses() : undefined;
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    debug(`${what}: ${Math.round(performance.now() - t0)} ms${gc ? ` (${gc()})` : ''}`);
  }
}

/** The same for a synchronous step. */
export function timedSync<T>(debug: Debug, what: string, fn: () => T): T {
  if (!debug) return fn();
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    debug(`${what}: ${Math.round(performance.now() - t0)} ms`);
  }
}

/** Watches the collector's pauses from now on; the returned function stops and describes them. */
function gcPauses(): () => string {
  let ms = 0;
  let count = 0;
  let major = 0;
  const add = (entries: PerformanceEntry[]) => {
    for (const e of entries) {
      ms += e.duration;
      count++;
      if (((e as {detail?: {kind?: number}}).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({entryTypes: ['gc']});
  return () => {
    add(observer.takeRecords()); // entries not yet delivered to the callback
    observer.disconnect();
    return `gc ${Math.round(ms)} ms in ${count} pauses, ${major} of them major`;
  };
}

/** A debug log's lines with the wall clock to the millisecond, to line them up with the agent's log. */
export function stamped(debug: Debug): Debug {
  return debug && ((msg) => debug(`${new Date().toISOString().slice(11, 23)} ${msg}`));
}
