import {Flags} from '@oclif/core';
import {LocalCommand} from '../../cli/base-command.js';
import {effectiveConfig} from '../../daemon/setup.js';
import {checkStateDir, type StoreReport} from '../../daemon/store-tools.js';

export default class StoreCheck extends LocalCommand<typeof StoreCheck> {
  static override summary = 'Verify a state dir offline: every checksum of the store, the id and token files.';
  static override description = `Reads the state dir the way the daemon does at start, without changing anything: the snapshot and every journal record are checked against their checksums and sequence numbers. Exits 0 when the store is clean (a torn last line, a write that was never acknowledged, is reported but is not damage: the next start cuts it), 1 when anything is damaged, naming the file, the byte and what to do. It can run while the daemon runs. See docs/store.md.`;
  static override examples = [
    {description: 'Check the state dir of the config file (or ./.layercake).', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Check another state dir, for a script.', command: '<%= config.bin %> <%= command.id %> --state-dir /var/lib/layercake --json'},
  ];

  static override flags = {
    'state-dir': Flags.string({summary: 'The state dir to check (default: the config file\'s stateDir, else ./.layercake).'}),
  };

  public async run(): Promise<StoreReport> {
    const {stateDir} = effectiveConfig({'state-dir': this.flags['state-dir']}, await this.fileConfig());
    const report = checkStateDir(stateDir);
    if (!this.jsonEnabled()) {
      this.log(`state dir ${report.stateDir}: ${report.ok ? 'clean' : 'DAMAGED'}`);
      if (report.seq !== undefined) this.log(`  store: ${report.nodes} nodes at seq ${report.seq} (${report.journalRecords} journal records since the snapshot)`);
      if (report.torn) this.log(`  a torn last line of ${report.torn.bytes} bytes at byte ${report.torn.offset} of ${report.torn.file}: a write that was never acknowledged; the next start cuts it and keeps its bytes beside the journal`);
      for (const p of report.problems) {
        this.log(`  ${p.file}${p.offset === undefined ? '' : ` at byte ${p.offset}`}: ${p.message}`);
        if (p.hint) this.log(`    Try this: ${p.hint}`);
      }
    }
    if (!report.ok) process.exitCode = 1;
    return report;
  }
}
