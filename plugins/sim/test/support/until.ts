import {convergence, type SimulatedCluster} from '../../src/index.js';

/**
 * Waits in the simulated-cluster tests for a state the cluster will reach: checked once after each burst
 * of changes in the parent's store, and every 100 ms for what raises no store event there (the world's
 * machines, an agent's own store). Rejects after `ms`, naming what it waited for and where the cluster stood.
 */
export function until(cluster: SimulatedCluster, done: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let queued = false;
    const finish = (error?: Error) => {
      off();
      clearInterval(poll);
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const check = () => {
      queued = false;
      if (done()) finish();
    };
    const off = cluster.daemon.store.events.subscribe({}, () => {
      if (queued) return;
      queued = true;
      setImmediate(check);
    });
    const poll = setInterval(check, 100);
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what}: ${convergence(cluster).summary}`)), ms);
    check();
  });
}
