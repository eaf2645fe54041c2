import {Flags} from '@oclif/core';
import type {ApplyResult} from '../api/types.js';
import {BaseCommand} from '../cli/base-command.js';
import {readNodes} from '../cli/input.js';
import {applySummary, formatChanges} from '../cli/output.js';

export type ApplyCommandResult = ApplyResult;

export default class Apply extends BaseCommand<typeof Apply> {
  static override summary = 'Create or update nodes from a YAML or JSON file, all or nothing, and print the diff.';
  static override description = `The file holds a list of nodes, or {nodes: [...]}. Each node matches an existing one by id, or by nodename when it has no id; matched nodes are merged (fields the file omits are kept), new ones are created. The whole file is validated before anything changes: one bad value and nothing is applied. Applying the same file twice changes nothing.`;
  static override examples = [
    {description: 'Apply a cluster file and show what changed.', command: '<%= config.bin %> <%= command.id %> -f cluster.yaml'},
    {description: 'Show what would change, without changing anything.', command: '<%= config.bin %> <%= command.id %> -f cluster.yaml --dry-run'},
    {description: 'Read the nodes from stdin.', command: 'cat nodes.json | <%= config.bin %> <%= command.id %> -f -'},
  ];

  static override flags = {
    file: Flags.string({char: 'f', summary: 'YAML or JSON file with the nodes, or - for stdin.', required: true}),
    'dry-run': Flags.boolean({summary: 'Validate and print the diff, change nothing.'}),
  };

  public async run(): Promise<ApplyCommandResult> {
    const nodes = await readNodes(this.flags.file);
    const result = await (await this.api()).apply(nodes, {dryRun: this.flags['dry-run']});
    for (const line of formatChanges(result.changes)) this.log(line);
    this.log(applySummary(result));
    return result;
  }
}
