import {Args} from '@oclif/core';
import type {WhyResult} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {describeWhy} from '../../cli/describe.js';

export default class NodeWhy extends BaseCommand<typeof NodeWhy> {
  static override summary = 'Explain where a node stands: what differs, the plan, the running step, failures.';
  static override examples = ['<%= config.bin %> <%= command.id %> n01'];
  static override args = {node: Args.string({description: 'Node name or id.', required: true})};

  public async run(): Promise<WhyResult> {
    const why = await (await this.api()).why(this.args.node);
    this.log(describeWhy(why));
    return why;
  }
}
