import {Flags} from '@oclif/core';
import type {ApplyResult} from '../api/types.js';
import {BaseCommand} from '../cli/base-command.js';
import {compressHostlist} from '../cli/hostlist.js';
import {readNodes} from '../cli/input.js';
import {confirmAction} from '../cli/prompts.js';
import {applySummary, formatChanges} from '../cli/output.js';

export type ApplyCommandResult = ApplyResult;

export default class Apply extends BaseCommand<typeof Apply> {
  static override summary = 'Create or update nodes from a YAML or JSON file, all or nothing, and print the diff.';
  static override description = `The file holds a list of nodes, or {nodes: [...]}. Each node matches an existing one by id, or by nodename when it has no id; matched nodes are merged (fields the file omits are kept), new ones are created. The whole file is validated before anything changes: one bad value and nothing is applied. Applying the same file twice changes nothing.`;
  static override examples = [
    {description: 'Apply a cluster file and show what changed.', command: '<%= config.bin %> <%= command.id %> -f cluster.yaml'},
    {description: 'Show what would change, without changing anything.', command: '<%= config.bin %> <%= command.id %> -f cluster.yaml --dry-run'},
    {description: 'Read the nodes from stdin.', command: 'cat nodes.json | <%= config.bin %> <%= command.id %> -f -'},
    {description: 'Make the daemon hold exactly the file\'s nodes (deletes the others).', command: '<%= config.bin %> <%= command.id %> -f cluster.yaml --prune'},
  ];

  static override flags = {
    file: Flags.string({char: 'f', summary: 'YAML or JSON file with the nodes, or - for stdin.', required: true}),
    'dry-run': Flags.boolean({summary: 'Validate and print the diff, change nothing.'}),
    prune: Flags.boolean({summary: 'Also delete every node the file does not name (asks first; --yes off a terminal).'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask before --prune deletes nodes.'}),
  };

  public async run(): Promise<ApplyCommandResult> {
    const nodes = await readNodes(this.flags.file);
    const client = await this.api();
    const {prune} = this.flags;
    if (prune && !this.flags['dry-run']) {
      const preview = await client.apply(nodes, {dryRun: true, prune});
      if (preview.deleted.length) {
        const names = compressHostlist(preview.deleted.map((n) => n.nodename || n.id));
        await confirmAction(`Delete ${preview.deleted.length} node${preview.deleted.length === 1 ? '' : 's'} not in ${this.flags.file} (${names})?`, {yes: this.flags.yes, json: this.jsonEnabled()});
      }
    }
    const result = await client.apply(nodes, {dryRun: this.flags['dry-run'], prune});
    for (const line of formatChanges(result.changes, {deleted: result.deleted})) this.log(line);
    this.log(applySummary(result));
    return result;
  }
}
