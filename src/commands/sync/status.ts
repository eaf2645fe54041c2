import {Flags} from '@oclif/core';
import type {SyncStatusResult} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {describeSync} from '../../cli/describe.js';

export default class SyncStatus extends BaseCommand<typeof SyncStatus> {
  static override summary = 'Show state sync: the link to this daemon\'s parent, and its children that are not in session.';
  static override description = 'A child is synced while it has a session with this daemon, pending while state waits for it, and not in session when it never phoned home or went silent past the dead interval (its RunState is ERROR then).';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --all',
    '<%= config.bin %> <%= command.id %> --json | jq \'.children[] | select(.state != "synced") | .nodename\'',
  ];

  static override flags = {
    all: Flags.boolean({summary: 'List every child, synced ones too.'}),
  };

  public async run(): Promise<SyncStatusResult> {
    const status = await (await this.api()).syncStatus();
    this.log(describeSync(status, this.flags.all));
    return status;
  }
}
