import {Flags} from '@oclif/core';
import {BaseCommand} from '../cli/base-command.js';
import {resolveTargets} from '../cli/targets.js';
import {watch, type WatchResult} from '../cli/watch.js';
import {durationFlag} from '../cli/duration-flag.js';

export default class Watch extends BaseCommand<typeof Watch> {
  static override summary = 'Watch nodes converge, live from the event stream (reconnects if the daemon restarts).';
  static override description = 'On a terminal: a node table redrawn as events arrive, with each node\'s latest activity. Otherwise: one line per event (with --json, one JSON event per line). Stops on Ctrl-C, or after --for.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> "n[01-16]" --columns nodename,physState,runState,pxe.state',
    {description: 'Log events for a minute.', command: '<%= config.bin %> <%= command.id %> --for 1m > events.log'},
  ];

  static override strict = false;
  static override usage = '<%= command.id %> [NODES...] [--type mixed|cfg|dsc] [--columns LIST] [--for DURATION]';
  static override flags = {
    type: Flags.string({char: 't', summary: 'Which state the table shows.', options: ['mixed', 'cfg', 'dsc'], default: 'mixed'}),
    columns: Flags.string({char: 'c', summary: 'Comma-separated table columns (nodename, id, parent, status, or URLs).'}),
    for: durationFlag({summary: 'Stop after this long (e.g. 30s, 5m).'}),
  };

  public async run(): Promise<WatchResult | undefined> {
    const client = await this.api();
    const forMs = this.flags.for;
    const ids = this.argvRest.length ? (await resolveTargets(client, this.argvRest)).views.map((v) => v.cfg.id) : undefined;
    const enums = await client.stateEnumerables();
    const mode = this.jsonEnabled() ? 'json' : process.stdout.isTTY ? 'table' : 'lines';
    const result = await watch(client, enums, {
      ids, type: this.flags.type as 'mixed' | 'cfg' | 'dsc', columns: this.flags.columns?.split(',').map((c) => c.trim()).filter(Boolean),
      mode, forMs, write: (text) => process.stdout.write(text),
    });
    // With --json the events themselves were the output (one per line); no summary object after them.
    return mode === 'json' ? undefined : result;
  }
}
