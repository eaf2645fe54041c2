import {Flags} from '@oclif/core';
import type {Node, NodeView} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {nodeTable} from '../../cli/output.js';
import {matchTargets} from '../../cli/targets.js';
import {sortParentFirst} from '../../api/order.js';

export interface NodeListResult {
  type: 'mixed' | 'cfg' | 'dsc';
  /** mixed: each node's cfg and dsc; cfg or dsc: the nodes in that view (cfg output can be applied back). */
  nodes: (NodeView | Node)[];
}

export default class NodeList extends BaseCommand<typeof NodeList> {
  static override summary = 'List nodes, parents first, then by name, with their states coloured.';
  static override description = `The mixed view (the default) shows discovered values, with "→ cfg" where the configured value differs and the engine is still converging. The cfg view shows what is configured, the dsc view what is discovered.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Only some nodes, with chosen columns (special names: nodename, id, parent, status; anything else is a URL).', command: '<%= config.bin %> <%= command.id %> "n[01-04]" --columns nodename,physState,pxe.state,ipv4.ip'},
    {description: 'The configured nodes as JSON, ready to apply back.', command: '<%= config.bin %> <%= command.id %> --type cfg --json'},
  ];

  static override strict = false;
  static override args = {};
  static override usage = '<%= command.id %> [NODES...] [--type mixed|cfg|dsc] [--columns LIST]';

  static override flags = {
    type: Flags.string({char: 't', summary: 'Which state to show.', options: ['mixed', 'cfg', 'dsc'], default: 'mixed'}),
    columns: Flags.string({char: 'c', summary: 'Comma-separated columns: nodename, id, parent, status, or URLs (physState, pxe.state, /extensions/ipv4/ip).'}),
  };

  public async run(): Promise<NodeListResult> {
    const client = await this.api();
    const type = this.flags.type as NodeListResult['type'];
    const [all, enums] = await Promise.all([client.listNodes(), client.stateEnumerables()]);
    const sorted = sortParentFirst(all, (v) => v.cfg);
    const views = this.argvRest.length ? sortParentFirst(matchTargets(this.argvRest, all), (v) => v.cfg) : sorted;
    const columns = this.flags.columns?.split(',').map((c) => c.trim()).filter(Boolean);
    if (views.length === 0) this.log('no nodes (add some with layercake apply -f cluster.yaml)');
    else this.log(nodeTable(views, {type, columns, enums, all}));
    return {type, nodes: type === 'mixed' ? views : views.map((v) => (type === 'cfg' ? v.cfg : v.dsc))};
  }
}
