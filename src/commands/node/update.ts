import {Args, Flags} from '@oclif/core';
import type {Node} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {CliError} from '../../cli/errors.js';
import {readNodes} from '../../cli/input.js';

export default class NodeUpdate extends BaseCommand<typeof NodeUpdate> {
  static override summary = 'Update one node from a file: merged into it, or with --replace, replacing it.';
  static override description = 'A merge keeps every field the file omits; --replace makes the file the whole node (omitted fields take their defaults). To change single values use `node set`.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> n01 -f n01.yaml',
    {description: 'Replace the node whole.', command: '<%= config.bin %> <%= command.id %> n01 -f n01.json --replace'},
  ];

  static override args = {node: Args.string({description: 'Node name or id.', required: true})};
  static override flags = {
    file: Flags.string({char: 'f', summary: 'YAML or JSON file with the node, or - for stdin.', required: true}),
    replace: Flags.boolean({summary: 'Replace the node instead of merging into it.'}),
  };

  public async run(): Promise<Node> {
    const inputs = await readNodes(this.flags.file);
    if (inputs.length !== 1) throw new CliError(`${this.flags.file} holds ${inputs.length} nodes; node update takes one`, {code: 'LC_ERR_INPUT_SHAPE', exit: 2, hint: 'use layercake apply -f for several nodes'});
    const node = await (await this.api()).updateNode(this.args.node, inputs[0], {replace: this.flags.replace});
    this.log(`updated ${node.nodename || node.id}`);
    return node;
  }
}
