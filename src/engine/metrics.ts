/** Counters and a duration histogram of mutations per module, rendered by the API's /metrics. */
import {Histogram} from 'prom-client';

const DURATION_BUCKETS_S = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300];

export interface ModuleCounters {
  started: number;
  completed: number;
  failed: number;
}

export class EngineMetrics {
  readonly modules = new Map<string, ModuleCounters>();
  /** Time from MUTATE to COMPLETE by module (prom-client's histogram; the daemon's /metrics registers it). */
  readonly duration = new Histogram({
    name: 'layercake_mutation_duration_seconds', help: 'Time from MUTATE to COMPLETE', labelNames: ['module'], buckets: DURATION_BUCKETS_S, registers: [],
  });

  private of(module: string): ModuleCounters {
    let c = this.modules.get(module);
    if (!c) this.modules.set(module, (c = {started: 0, completed: 0, failed: 0}));
    return c;
  }

  started(module: string): void {
    this.of(module).started++;
  }

  completed(module: string, ms: number): void {
    this.of(module).completed++;
    this.duration.observe({module}, ms / 1000);
  }

  failed(module: string): void {
    this.of(module).failed++;
  }
}
