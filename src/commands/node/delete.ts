import {Flags} from '@oclif/core';
import type {Node} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {compressHostlist} from '../../cli/hostlist.js';
import {confirmAction} from '../../cli/prompts.js';
import {resolveTargets} from '../../cli/targets.js';

export interface NodeDeleteResult {
  deleted: Node[];
}

export default class NodeDelete extends BaseCommand<typeof NodeDelete> {
  static override summary = 'Delete nodes (their cfg and dsc); asks first on a terminal.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> n05',
    {description: 'Delete a range without asking (scripts need --yes).', command: '<%= config.bin %> <%= command.id %> "n[10-20]" --yes'},
  ];

  static override strict = false;
  static override usage = '<%= command.id %> NODES... [--yes]';
  static override flags = {
    yes: Flags.boolean({char: 'y', summary: 'Do not ask for confirmation.'}),
  };

  public async run(): Promise<NodeDeleteResult> {
    const client = await this.api();
    const {views} = await resolveTargets(client, this.argvRest);
    const names = compressHostlist(views.map((v) => v.cfg.nodename || v.cfg.id));
    await confirmAction(`Delete ${views.length} node${views.length === 1 ? '' : 's'} (${names})?`, {yes: this.flags.yes, json: this.jsonEnabled()});
    const deleted = await client.deleteNodes(views.map((v) => v.cfg.id));
    this.log(`deleted ${compressHostlist(deleted.map((n) => n.nodename || n.id))}`);
    return {deleted};
  }
}
