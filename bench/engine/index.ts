/**
 * bench/engine: N nodes (default 10,000) converge from wholly unknown to {POWER_ON, SYNC, imageset ACTIVE}
 * through an instant in-process module set. Baseline: the same discoveries applied to the store with no
 * planning. Targets (issue 2): < 5 s wall and < 10 KB per node on a 2-core machine.
 * Usage: node --import tsx bench/engine/index.ts [--nodes 10000] [--json]
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {parseArgs} from 'node:util';
import {Engine} from '../../src/engine/engine.js';
import type {MutationEvent} from '../../src/model/events.js';
import {Registry} from '../../src/model/registry.js';
import type {MutationRequest} from '../../src/model/contract.js';
import {Store} from '../../src/store/store.js';
import {checksumCost} from '../checksums.js';
import {benchModules} from './modules.js';

const {values} = parseArgs({options: {nodes: {type: 'string', default: '10000'}, json: {type: 'boolean', default: false}}});
const N = Number(values.nodes);
const SELF = '00000000-0000-4000-8000-000000000000';
const id = (i: number) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`;
const goal = (i: number) => ({id: id(i), nodename: `n${i}`, platform: 'bench', physState: 'POWER_ON', runState: 'SYNC', extensions: {imageset: {state: 'ACTIVE'}}});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'lc-bench-engine-'));
  const registry = new Registry();
  for (const m of benchModules) registry.registerModule(m);
  const store = Store.open({dir, registry, defaultParentId: SELF, historyLimit: 20});
  return {dir, registry, store};
}

/** Every discovery the engine's path makes for one node, in order: what the baseline replays without planning. */
const PATH: [string, string][] = [
  ['physState', 'POWER_OFF'], ['physState', 'POWER_ON'], ['pxe.state', 'WAIT'], ['pxe.state', 'INIT'], ['runState', 'INIT'],
  ['runState', 'SYNC'], ['imageset.state', 'IDLE'], ['imageset.state', 'ACTIVE'],
];

async function baseline(): Promise<number> {
  const {dir, store} = setup();
  store.apply(Array.from({length: N}, (_, i) => goal(i)));
  const t0 = performance.now();
  for (let i = 0; i < N; i++) for (const [url, value] of PATH) store.discover(id(i), url, value, 'bench');
  const ms = performance.now() - t0;
  store.close();
  rmSync(dir, {recursive: true, force: true});
  return ms;
}

async function engineRun() {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const {dir, registry, store} = setup();
  let mutations = 0, converged = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  store.events.subscribe({types: ['MUTATION']}, (e) => {
    const m = e as MutationEvent;
    if (m.kind === 'MUTATE') mutations++;
    if (m.kind === 'COMPLETE' && m.mutation === 'IDLEtoACTIVE' && ++converged === N) done();
  });
  const instant = async (module: string, r: MutationRequest) => {
    for (const [url, [, to]] of Object.entries(r.mutates)) store.discover(r.nodeId, url, to, module);
  };
  const engine = new Engine({store, registry, selfId: SELF, dispatch: instant, interrupt: () => {}, moduleRunning: () => true});
  const t0 = performance.now();
  store.apply(Array.from({length: N}, (_, i) => goal(i)));
  engine.start();
  await finished;
  const ms = performance.now() - t0;
  // Settle the heap the way a long-running daemon's would be: collect, let V8 return free pages, collect again.
  global.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  const heapAfter = process.memoryUsage().heapUsed;
  const status = engine.status();
  engine.stop();
  store.close();
  const checksums = checksumCost(join(dir, 'cfg.journal'));
  rmSync(dir, {recursive: true, force: true});
  return {ms, mutations, converged: status.converged, bytesPerNode: (rssAfter - rssBefore) / N, heapPerNode: (heapAfter - heapBefore) / N, checksums};
}

const base = await baseline();
const run = await engineRun();
const result = {
  nodes: N, wallSeconds: +(run.ms / 1000).toFixed(3), mutations: run.mutations, mutationsPerSecond: Math.round(run.mutations / (run.ms / 1000)),
  rssKBPerNode: +(run.bytesPerNode / 1024).toFixed(2), heapKBPerNode: +(run.heapPerNode / 1024).toFixed(2), baselineSeconds: +(base / 1000).toFixed(3), ratioToBaseline: +(run.ms / base).toFixed(2),
  converged: run.converged, targets: {wallSeconds: 5, rssKBPerNode: 10},
  checksums: {journalBytes: run.checksums.bytes, ms: +run.checksums.ms.toFixed(3), shareOfRun: +(run.checksums.ms / run.ms).toFixed(5)},
};
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(`bench/engine: ${N} nodes from unknown to {POWER_ON, SYNC, imageset ACTIVE}, ${run.mutations} mutations`);
  console.log(`  engine:   ${result.wallSeconds} s wall, ${result.mutationsPerSecond} mutations/s, ${result.rssKBPerNode} KB RSS per node (${result.heapKBPerNode} KB of it live heap; ${result.converged} converged)`);
  console.log(`  baseline: ${result.baselineSeconds} s to apply the same discoveries to the store with no planning`);
  console.log(`  checksums: ${result.checksums.ms} ms to CRC-32 the ${(run.checksums.bytes / 2 ** 20).toFixed(1)} MB the store wrote: ${(result.checksums.shareOfRun * 100).toFixed(3)}% of the engine run`);
  console.log(`  ratio:    ${result.ratioToBaseline}x the baseline   targets: < 5 s wall, < 10 KB per node: ${result.wallSeconds < 5 && result.rssKBPerNode < 10 ? 'met' : 'NOT met'}`);
}
