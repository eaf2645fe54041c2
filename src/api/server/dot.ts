/** The mutation graph as Graphviz DOT: states are boxes, edges carry the mutation's id; a node's plan is highlighted. */
import type {GraphResult} from '../types.js';

const quote = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;

/**
 * `plan` lists mutation ids in order (the node's path, from the graph's first state, where a node's graph
 * starts). Its edges are drawn green and bold, the first one (the step in progress) red; the states on
 * the path are filled.
 */
export function toDot(graph: GraphResult, opts: {name?: string; plan?: readonly string[]} = {}): string {
  const plan = opts.plan ?? [];
  const lines = [`digraph ${quote(opts.name ?? 'layercake')} {`, '  rankdir=LR;', '  node [shape=box, style=rounded, fontname="monospace"];', '  edge [fontname="monospace", fontsize=10];'];
  const onPath = new Set<string>();
  const pathEdges = new Map<string, number>();
  // Walk the plan along the graph's edges so that only the planned edges (not every edge of the same mutation) are marked.
  // A node's graph is explored from the node's current state, which comes first.
  if (plan.length) {
    let at = graph.nodes[0]?.id;
    const starts = new Set(graph.edges.filter((e) => e.mutation === plan[0]).map((e) => e.from));
    if (at === undefined || !starts.has(at)) at = [...starts][0];
    plan.forEach((mutation, i) => {
      const edge = graph.edges.find((e) => e.from === at && e.mutation === mutation);
      if (!edge) return;
      pathEdges.set(edge.id, i);
      onPath.add(edge.from).add(edge.to);
      at = edge.to;
    });
  }
  for (const n of graph.nodes) {
    const style = onPath.has(n.id) ? ', style="rounded,filled", fillcolor="#c8e6c9"' : '';
    lines.push(`  ${quote(n.id)} [label=${quote(n.label)}${style}];`);
  }
  for (const e of graph.edges) {
    const i = pathEdges.get(e.id);
    const style = i === undefined ? '' : i === 0 ? ', color="#e74c3c", penwidth=2' : ', color="#2e7d32", penwidth=2';
    lines.push(`  ${quote(e.from)} -> ${quote(e.to)} [label=${quote(e.mutation)}, id=${quote(e.id)}${style}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
