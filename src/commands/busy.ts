import {Flags} from '@oclif/core';
import {BaseCommand} from '../cli/base-command.js';
import {busyStatus, setBusy, type BusyResult} from '../cli/busy.js';
import {durationFlag} from '../cli/duration-flag.js';
import {describeBusy} from '../model/busy.js';

export default class Busy extends BaseCommand<typeof Busy> {
  static override summary = 'Mark this node BUSY (run on the node, e.g. from a scheduler\'s prolog): image rolls and power-off wait until it is FREE.';
  static override description = `Talks to the daemon of the machine it runs on (on a node: its agent's local socket, /run/layercake/api.sock) and sets that daemon's own node BUSY; the parent sees it through state sync. While BUSY, the node's image set is not rolled and the node is not powered off: \`image roll\` shows it waiting. \`layercake free\` (the epilog) ends it. --for sets an expiry: if the epilog never runs, the parent sets the node FREE once the time has passed (choose longer than the longest job). --status shows the flag and changes nothing. See docs/layer1.md, "Busy and free".`;
  static override examples = [
    {description: 'In a Slurm prolog: BUSY for the job, at most its time limit plus a margin.', command: '<%= config.bin %> <%= command.id %> --reason "slurm job $SLURM_JOB_ID" --for 25h'},
    {description: 'Show whether this node is BUSY.', command: '<%= config.bin %> <%= command.id %> --status'},
  ];

  static override flags = {
    reason: Flags.string({summary: 'Why (shown by `busy --status`, `node list` and a waiting roll); at most 200 characters.'}),
    for: durationFlag({summary: 'Expiry: FREE again after this long even if `layercake free` never comes (e.g. 25h).'}),
    status: Flags.boolean({summary: 'Show the busy flag of this node; change nothing.', exclusive: ['reason', 'for']}),
  };

  public async run(): Promise<BusyResult> {
    const client = await this.api();
    const result = this.flags.status ? await busyStatus(client) : await setBusy(client, true, {reason: this.flags.reason, forMs: this.flags.for});
    this.log(`${result.nodename || result.id}: ${describeBusy(result)}`);
    return result;
  }
}
