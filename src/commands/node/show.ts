import {Args} from '@oclif/core';
import type {NodeView} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {nodeDetail} from '../../cli/output.js';

export default class NodeShow extends BaseCommand<typeof NodeShow> {
  static override summary = 'Show one node: every configured and discovered value, differences marked.';
  static override examples = ['<%= config.bin %> <%= command.id %> n01', '<%= config.bin %> <%= command.id %> n01 --json'];
  static override args = {node: Args.string({description: 'Node name or id.', required: true})};

  public async run(): Promise<NodeView> {
    const client = await this.api();
    const [view, enums] = await Promise.all([client.getNode(this.args.node), client.stateEnumerables()]);
    this.log(nodeDetail(view, enums));
    return view;
  }
}
