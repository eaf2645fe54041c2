/** Counters and a duration histogram of mutations per module, rendered by the API's /metrics. */
export const DURATION_BUCKETS_S = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300];

export interface ModuleCounters {
  started: number;
  completed: number;
  failed: number;
  /** Cumulative counts per bucket of DURATION_BUCKETS_S, then +Inf. */
  buckets: number[];
  sumSeconds: number;
}

export class EngineMetrics {
  readonly modules = new Map<string, ModuleCounters>();

  private of(module: string): ModuleCounters {
    let c = this.modules.get(module);
    if (!c) this.modules.set(module, (c = {started: 0, completed: 0, failed: 0, buckets: new Array(DURATION_BUCKETS_S.length + 1).fill(0), sumSeconds: 0}));
    return c;
  }

  started(module: string): void {
    this.of(module).started++;
  }

  completed(module: string, ms: number): void {
    const c = this.of(module);
    c.completed++;
    c.sumSeconds += ms / 1000;
    DURATION_BUCKETS_S.forEach((b, i) => { if (ms / 1000 <= b) c.buckets[i]++; });
    c.buckets[DURATION_BUCKETS_S.length]++;
  }

  failed(module: string): void {
    this.of(module).failed++;
  }
}
