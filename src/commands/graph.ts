import {Flags} from '@oclif/core';
import type {GraphResult} from '../api/types.js';
import {BaseCommand} from '../cli/base-command.js';
import {dim} from '../cli/color.js';

export default class Graph extends BaseCommand<typeof Graph> {
  static override summary = 'Print the mutation graph (every state and the mutations between them), or one node\'s part of it.';
  static override description = 'States have stable ids (their values); edges are named by mutation. With --node, the graph is restricted to what that node can reach and its plan is highlighted (DOT: the running step red, the rest of the plan green).';
  static override examples = [
    {description: 'Render with Graphviz.', command: '<%= config.bin %> <%= command.id %> --format dot | dot -Tsvg > graph.svg'},
    '<%= config.bin %> <%= command.id %> --node n01',
    '<%= config.bin %> <%= command.id %> --format json',
  ];

  static override flags = {
    node: Flags.string({char: 'n', summary: 'Only the part of the graph this node can reach, with its plan.'}),
    format: Flags.string({char: 'f', summary: 'Output: text (edges, one per line), json, or dot (Graphviz).', options: ['text', 'json', 'dot'], default: 'text'}),
  };

  public async run(): Promise<GraphResult> {
    const client = await this.api();
    const graph = await client.graph({node: this.flags.node});
    if (this.flags.format === 'dot') this.log((await client.graphDot({node: this.flags.node})).trimEnd());
    else if (this.flags.format === 'json') this.log(JSON.stringify(graph, null, 2));
    else {
      const label = new Map(graph.nodes.map((n) => [n.id, n.label]));
      this.log(`${graph.nodes.length} states, ${graph.edges.length} mutations between them`);
      for (const e of graph.edges) this.log(`${label.get(e.from)} ${dim('--')}${e.mutation}${dim('->')} ${label.get(e.to)}`);
      if (graph.path) this.log(`plan: ${graph.path.length ? graph.path.join(' → ') : '(none: converged or blocked)'}`);
    }
    return graph;
  }
}
