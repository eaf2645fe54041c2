/** Convergence of a simulated cluster, as the demo shows it. */
import {colorState, renderTable} from '@layercake/sdk/cli';
import type {SimulatedCluster} from './cluster.js';

export interface Convergence {
  expected: number;
  converged: number;
  /** Nodes the engine has given up on (their reason is in `layercake node why`). */
  unrecoverable: string[];
  done: boolean;
  summary: string;
}

const ext = (node: {extensions: Record<string, Record<string, unknown>>}, name: string, key: string) => String(node.extensions[name]?.[key] ?? '');

/** A node has converged when its dsc shows what the demo asked for: on, synced, its image set ACTIVE. */
export function convergence(cluster: SimulatedCluster): Convergence {
  let converged = 0;
  const unrecoverable: string[] = [];
  for (const m of cluster.machines) {
    const view = cluster.daemon.store.get(m.id);
    if (!view) continue;
    if (view.dsc.physState === 'POWER_ON' && view.dsc.runState === 'SYNC' && ext(view.dsc, 'imageset', 'state') === 'ACTIVE') converged++;
    // Held by the engine, or an image set its module gave up on (FATAL waits for an operator).
    else if (cluster.daemon.engine.why(m.id).held || ext(view.dsc, 'imageset', 'state') === 'FATAL') unrecoverable.push(m.nodename);
  }
  const expected = cluster.machines.length;
  const counts = Object.entries(cluster.world.stages()).map(([s, n]) => `${s} ${n}`).join(', ');
  return {
    expected, converged, unrecoverable, done: converged + unrecoverable.length === expected,
    summary: `${converged}/${expected} converged${unrecoverable.length ? `, ${unrecoverable.length} given up` : ''}  (machines: ${counts})`,
  };
}

export function renderStatus(cluster: SimulatedCluster, c: Convergence, elapsed: number): string {
  const rows = cluster.machines.map((m) => {
    const v = cluster.daemon.store.get(m.id)!;
    const why = cluster.daemon.engine.why(m.id);
    return {
      node: m.nodename, phys: colorState(v.dsc.physState), run: colorState(v.dsc.runState), pxe: colorState(ext(v.dsc, 'pxe', 'state') || 'NONE'),
      images: colorState(ext(v.dsc, 'imageset', 'state') || 'UNKNOWN'), machine: cluster.world.machines.get(m.id)!.stage,
      doing: why.converged ? '' : why.held ? `held: ${why.lastFailure?.reason ?? ''}` : why.current?.mutation ?? '',
    };
  });
  type Row = (typeof rows)[number];
  const col = (header: string, key: keyof Row) => ({header, get: (r: Row) => r[key]});
  const table = renderTable(rows, [col('NODE', 'node'), col('PHYS', 'phys'), col('RUN', 'run'), col('PXE', 'pxe'), col('IMAGES', 'images'), col('MACHINE', 'machine'), col('ENGINE', 'doing')]);
  return `layercake demo  ${elapsed.toFixed(1)} s   ${c.summary}\n\n${table}`;
}
