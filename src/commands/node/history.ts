import {Args, Flags} from '@oclif/core';
import type {HistoryResult} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {historyTable} from '../../cli/describe.js';

export default class NodeHistory extends BaseCommand<typeof NodeHistory> {
  static override summary = 'Show a node\'s recent history: cfg changes, discoveries, mutations, failures.';
  static override examples = ['<%= config.bin %> <%= command.id %> n01', '<%= config.bin %> <%= command.id %> n01 --limit 20'];
  static override args = {node: Args.string({description: 'Node name or id.', required: true})};
  static override flags = {limit: Flags.integer({char: 'n', summary: 'Show only the last N entries.', min: 1})};

  public async run(): Promise<HistoryResult> {
    const history = await (await this.api()).history(this.args.node);
    const entries = this.flags.limit ? history.entries.slice(-this.flags.limit) : history.entries;
    this.log(entries.length ? historyTable(entries) : `no history for ${history.nodename || history.nodeId} yet`);
    return {...history, entries};
  }
}
