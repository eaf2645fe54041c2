import {Args, Flags} from '@oclif/core';
import {LocalCommand} from '../../cli/base-command.js';
import {effectiveConfig} from '../../daemon/setup.js';
import {restoreBackup} from '../../daemon/store-tools.js';

export default class StoreRestore extends LocalCommand<typeof StoreRestore> {
  static override summary = 'Restore a backup into a state dir (offline: stop the daemon first).';
  static override description = `Checks the backup whole (a damaged one is refused), then writes it as the store's snapshot and restores the daemon's id. A state dir that already holds a store (or another daemon's id) is refused unless --force: the current store is then moved aside to store.replaced-<time>, never deleted. Start the daemon on the state dir afterwards: it holds every write up to the backup's sequence number. See docs/store.md.`;
  static override examples = [
    {description: 'Restore into a new state dir.', command: '<%= config.bin %> <%= command.id %> backup.lcbak --state-dir /var/lib/layercake'},
    {description: 'Replace a damaged store (the daemon is stopped).', command: '<%= config.bin %> <%= command.id %> backup.lcbak --state-dir /var/lib/layercake --force'},
  ];

  static override args = {file: Args.string({description: 'The backup file (from `layercake store backup`).', required: true})};
  static override flags = {
    'state-dir': Flags.string({summary: 'The state dir to restore into (default: the config file\'s stateDir, else ./.layercake).'}),
    force: Flags.boolean({summary: 'Replace the store already there (moved aside, not deleted).'}),
  };

  public async run(): Promise<{stateDir: string; seq: number; nodes: number; movedAside?: string}> {
    const {stateDir} = effectiveConfig({'state-dir': this.flags['state-dir']}, await this.fileConfig());
    const result = restoreBackup(this.args.file, stateDir, this.flags.force);
    if (result.movedAside) this.log(`the store that was there is kept in ${result.movedAside}`);
    this.log(`restored ${result.nodes} nodes at seq ${result.seq} into ${result.stateDir}; start the daemon with --state-dir ${result.stateDir}`);
    return result;
  }
}
