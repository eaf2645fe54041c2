/**
 * The daemon's /metrics in the Prometheus text format, written by prom-client: nodes by state, mutations
 * by module, service states, what collectors add (the sync engine's counters), and the process metrics
 * prom-client gathers (CPU, memory, event loop lag, GC).
 */
import {collectDefaultMetrics, Counter, Gauge, Registry, type Metric} from 'prom-client';
import type {Engine} from '../engine/engine.js';
import {DURATION_BUCKETS_S, type ModuleCounters} from '../engine/metrics.js';
import {PHYS_STATES, RUN_STATES} from '../model/node.js';
import type {Store} from '../store/store.js';
import type {MetricSample} from '../sync/metrics.js';
import type {ModuleHost} from './module-host.js';

/** A source of extra samples (the sync engine's counters, for example), read at each scrape. */
export type Collector = () => MetricSample[];

type Labels = Record<string, string>;
type Rows = [Labels, number][];

let processRegistry: Registry | undefined;
/** One set of process metrics per process, however many daemons it runs (the simulator runs several). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({register: processRegistry}); // the standard names (process_*, nodejs_*) dashboards expect
  }
  return processRegistry;
}

export class Metrics {
  private readonly registry = new Registry();
  private readonly collectors: Collector[] = [];
  /** Metrics made for collectors' samples, by name. */
  private readonly collected = new Map<string, Counter | Gauge>();
  /** The daemon's own metrics, with how to read their samples. */
  private readonly fixed: {metric: Counter | Gauge; rows: () => Rows}[] = [];
  /** What one scrape reads, taken once at its start. */
  private nodes: ReturnType<Store['list']> = [];
  private status?: ReturnType<Engine['status']>;

  constructor(private readonly store: Store, private readonly engine: Engine, private readonly modules: ModuleHost, private readonly selfId: string) {
    const define = (kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], rows: () => Rows) => {
      const metric = kind === 'gauge' ? new Gauge({name, help, labelNames, registers: [this.registry]}) : new Counter({name, help, labelNames, registers: [this.registry]});
      this.fixed.push({metric, rows});
    };
    const nodes = () => this.nodes;
    const status = () => this.status!;
    const count = (key: 'physState' | 'runState', values: readonly string[]): Rows => values.map((v) => [{state: v}, nodes().filter((n) => n.dsc[key] === v).length]);
    const mods = () => [...engine.metrics.modules];
    define('gauge', 'layercake_nodes', 'Managed nodes', [], () => [[{}, nodes().length]]);
    define('gauge', 'layercake_nodes_phys_state', 'Nodes by discovered physState', ['state'], () => count('physState', PHYS_STATES));
    define('gauge', 'layercake_nodes_run_state', 'Nodes by discovered runState', ['state'], () => count('runState', RUN_STATES));
    define('gauge', 'layercake_nodes_engine', 'Nodes by engine status', ['status'], () => (['converged', 'active', 'waiting', 'blocked', 'held'] as const).map((k) => [{status: k}, status()[k]]));
    define('gauge', 'layercake_engine_frozen', 'Whether the engine is frozen', [], () => [[{}, status().frozen ? 1 : 0]]);
    define('counter', 'layercake_mutations_started_total', 'Mutations fired, by module', ['module'], () => mods().map(([m, c]) => [{module: m}, c.started]));
    define('counter', 'layercake_mutations_completed_total', 'Mutations completed, by module', ['module'], () => mods().map(([m, c]) => [{module: m}, c.completed]));
    define('counter', 'layercake_mutations_failed_total', 'Mutations failed (timeout or error), by module', ['module'], () => mods().map(([m, c]) => [{module: m}, c.failed]));
    this.registry.registerMetric(durationHistogram(mods));
    define('gauge', 'layercake_mutations_in_flight', 'Mutations running, by module', ['module'], () => Object.entries(status().inFlight).map(([m, n]) => [{module: m}, n]));
    define('gauge', 'layercake_mutations_queued', 'Mutations waiting for an admission slot, by module', ['module'], () => Object.entries(status().queued).map(([m, n]) => [{module: m}, n]));
    define('gauge', 'layercake_module_up', 'Module service state is RUN', ['module', 'state'], () => modules.list().map((m) => [{module: m.name, state: m.state}, m.state === 'RUN' ? 1 : 0]));
    define('counter', 'layercake_module_restarts_total', 'Module restarts after a failure', ['module'], () => modules.list().map((m) => [{module: m.name}, m.restarts]));
  }

  addCollector(collector: Collector): void {
    this.collectors.push(collector);
  }

  async render(): Promise<string> {
    this.nodes = this.store.list().filter((v) => v.cfg.id !== this.selfId);
    this.status = this.engine.status();
    for (const {metric, rows} of this.fixed) setSamples(metric, rows());
    for (const collector of this.collectors) this.record(collector());
    return (await this.registry.metrics()) + (await processMetrics().metrics());
  }

  /** Sets the metrics of collected samples (made on first sight, with the labels the samples carry). */
  private record(samples: MetricSample[]): void {
    const byName = new Map<string, MetricSample[]>();
    for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    for (const [name, group] of byName) {
      let metric = this.collected.get(name);
      if (!metric) {
        const {help, type} = group[0]!;
        const labelNames = [...new Set(group.flatMap((s) => Object.keys(s.labels ?? {})))];
        metric = type === 'counter' ? new Counter({name, help, labelNames, registers: [this.registry]}) : new Gauge({name, help, labelNames, registers: [this.registry]});
        this.collected.set(name, metric);
      }
      setSamples(metric, group.map((s) => [s.labels ?? {}, s.value]));
    }
  }
}

/**
 * The engine's mutation durations as a Prometheus histogram. The engine counts them in plain arrays
 * (engine/metrics.ts: its hot path stays a few additions; prom-client's Histogram.observe() measured
 * ~50x slower, 5% of bench/engine), and prom-client writes them from these values at each scrape.
 */
function durationHistogram(mods: () => [string, ModuleCounters][]): Metric {
  const name = 'layercake_mutation_duration_seconds';
  const help = 'Time from MUTATE to COMPLETE';
  const custom = {
    name, help, type: 'histogram', aggregator: 'sum',
    get: async () => ({
      name, help, type: 'histogram', aggregator: 'sum',
      values: mods().flatMap(([module, c]) => [
        ...[...DURATION_BUCKETS_S, '+Inf'].map((le, i) => ({metricName: `${name}_bucket`, labels: {module, le}, value: c.buckets[i]!})),
        {metricName: `${name}_sum`, labels: {module}, value: c.sumSeconds},
        {metricName: `${name}_count`, labels: {module}, value: c.completed},
      ]),
    }),
    reset: () => undefined,
  };
  return custom as unknown as Metric;
}

/** Replaces a metric's samples (the values are read from their owners at each scrape, not counted here). */
function setSamples(metric: Counter | Gauge, rows: Rows): void {
  metric.reset();
  for (const [labels, value] of rows) {
    if (metric instanceof Gauge) metric.set(labels, value);
    else metric.inc(labels, value);
  }
}
