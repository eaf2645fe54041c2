import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../../cli/base-command.js';
import {writeBackup} from '../../daemon/store-tools.js';

export default class StoreBackup extends BaseCommand<typeof StoreBackup> {
  static override summary = 'Write a consistent backup of the running daemon\'s store to FILE.';
  static override description = `The daemon takes a snapshot of every node's cfg at one sequence number (no write can come between) and sends it with its checksum; the file is checked whole before it is written (mode 0600: it holds the nodes' secrets, BMC passwords included). Needs the API token (or the local socket). Restore it with \`layercake store restore FILE --state-dir DIR\`. See docs/store.md.`;
  static override examples = [
    {description: 'Back up the local daemon.', command: '<%= config.bin %> <%= command.id %> /var/backups/layercake-$(date +%F).lcbak'},
    {description: 'Replace yesterday\'s backup.', command: '<%= config.bin %> <%= command.id %> backup.lcbak --force'},
  ];

  static override args = {file: Args.string({description: 'Where to write the backup.', required: true})};
  static override flags = {force: Flags.boolean({summary: 'Replace FILE when it exists.'})};

  public async run(): Promise<{file: string; seq: number; nodes: number; bytes: number}> {
    const data = await (await this.api()).storeBackup();
    const written = writeBackup(data, this.args.file, this.flags.force);
    this.log(`backup of ${written.nodes} nodes at seq ${written.seq} written to ${written.file} (${written.bytes} bytes)`);
    return written;
  }
}
