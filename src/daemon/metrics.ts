/** Prometheus text exposition of the daemon's state: nodes by state, mutations by module, service states. */
import type {Engine} from '../engine/engine.js';
import {DURATION_BUCKETS_S} from '../engine/metrics.js';
import {PHYS_STATES, RUN_STATES} from '../model/node.js';
import type {Store} from '../store/store.js';
import type {ModuleHost} from './module-host.js';

/** A source of extra metric lines (the sync engine's counters, for example). */
export type Collector = () => string;

export class Metrics {
  private readonly collectors: Collector[] = [];

  constructor(private readonly store: Store, private readonly engine: Engine, private readonly modules: ModuleHost, private readonly selfId: string) {}

  addCollector(collector: Collector): void {
    this.collectors.push(collector);
  }

  render(): string {
    const out: string[] = [];
    const gauge = (name: string, help: string, rows: [Record<string, string>, number][], type = 'gauge') => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of rows) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');
        out.push(`${name}${l ? `{${l}}` : ''} ${value}`);
      }
    };
    const nodes = this.store.list().filter((v) => v.cfg.id !== this.selfId);
    const count = (key: 'physState' | 'runState', values: readonly string[]) =>
      values.map((v) => [{state: v}, nodes.filter((n) => n.dsc[key] === v).length] as [Record<string, string>, number]);
    gauge('layercake_nodes', 'Managed nodes', [[{}, nodes.length]]);
    gauge('layercake_nodes_phys_state', 'Nodes by discovered physState', count('physState', PHYS_STATES));
    gauge('layercake_nodes_run_state', 'Nodes by discovered runState', count('runState', RUN_STATES));
    const status = this.engine.status();
    gauge('layercake_nodes_engine', 'Nodes by engine status', (['converged', 'active', 'waiting', 'blocked', 'held'] as const).map((k) => [{status: k}, status[k]]));
    gauge('layercake_engine_frozen', 'Whether the engine is frozen', [[{}, status.frozen ? 1 : 0]]);
    const mods = [...this.engine.metrics.modules];
    gauge('layercake_mutations_started_total', 'Mutations fired, by module', mods.map(([m, c]) => [{module: m}, c.started]), 'counter');
    gauge('layercake_mutations_completed_total', 'Mutations completed, by module', mods.map(([m, c]) => [{module: m}, c.completed]), 'counter');
    gauge('layercake_mutations_failed_total', 'Mutations failed (timeout or error), by module', mods.map(([m, c]) => [{module: m}, c.failed]), 'counter');
    out.push('# HELP layercake_mutation_duration_seconds Time from MUTATE to COMPLETE', '# TYPE layercake_mutation_duration_seconds histogram');
    for (const [m, c] of mods) {
      DURATION_BUCKETS_S.forEach((b, i) => out.push(`layercake_mutation_duration_seconds_bucket{module="${m}",le="${b}"} ${c.buckets[i]}`));
      out.push(`layercake_mutation_duration_seconds_bucket{module="${m}",le="+Inf"} ${c.buckets.at(-1)}`);
      out.push(`layercake_mutation_duration_seconds_sum{module="${m}"} ${c.sumSeconds}`, `layercake_mutation_duration_seconds_count{module="${m}"} ${c.completed}`);
    }
    gauge('layercake_mutations_in_flight', 'Mutations running, by module', Object.entries(status.inFlight).map(([m, n]) => [{module: m}, n]));
    gauge('layercake_mutations_queued', 'Mutations waiting for an admission slot, by module', Object.entries(status.queued).map(([m, n]) => [{module: m}, n]));
    gauge('layercake_module_up', 'Module service state is RUN', this.modules.list().map((m) => [{module: m.name, state: m.state}, m.state === 'RUN' ? 1 : 0]));
    gauge('layercake_module_restarts_total', 'Module restarts after a failure', this.modules.list().map((m) => [{module: m.name}, m.restarts]), 'counter');
    for (const c of this.collectors) out.push(c().trimEnd());
    return out.join('\n') + '\n';
  }
}
