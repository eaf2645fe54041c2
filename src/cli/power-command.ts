/** The shared body of `power on|off|cycle`: the three command files only name their action. */
import {Flags} from '@oclif/core';
import {BaseCommand} from './base-command.js';
import {CliError} from './errors.js';
import {dim} from './color.js';
import {formatChanges} from './output.js';
import {type PowerAction, type PowerResult, runPowerAction} from './power.js';
import {progressMode} from './progress.js';
import {resolveTargets} from './targets.js';
import {durationFlag} from './duration-flag.js';

export abstract class PowerCommand extends BaseCommand<typeof PowerCommand> {
  static override strict = false;
  static override usage = '<%= command.id %> NODES... | --all [--wait] [--yes] [--dry-run]';
  static override flags = {
    all: Flags.boolean({summary: 'Act on every node (required when no NODES are given).'}),
    wait: Flags.boolean({char: 'w', summary: 'Follow the nodes until they converge (or fail, or the timeout passes).'}),
    timeout: durationFlag({summary: 'How long --wait (and cycle\'s power-off phase) may take.', default: '10m'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask before powering off or cycling running nodes.'}),
    'dry-run': Flags.boolean({summary: 'Print the cfg changes, change nothing.'}),
  };

  protected abstract readonly action: PowerAction;
  /** `on` only: also ask for runState SYNC (see the on command). */
  protected boot = true;

  public async run(): Promise<PowerResult> {
    const client = await this.api();
    const {views} = await resolveTargets(client, this.argvRest, {all: this.flags.all});
    const timeoutMs = this.flags.timeout;
    const result = await runPowerAction(client, this.action, views, {
      yes: this.flags.yes, json: this.jsonEnabled(), wait: this.flags.wait, dryRun: this.flags['dry-run'], boot: this.boot,
      timeoutMs, mode: progressMode(views.length, {json: this.jsonEnabled()}), log: (line) => this.log(line),
      announce: (changes) => {
        for (const line of formatChanges(changes)) this.log(line);
      },
    });
    if (result.dryRun) this.log(`${result.changes.length} change${result.changes.length === 1 ? '' : 's'} ${dim('(dry run: nothing was changed)')}`);
    if (result.wait) {
      const w = result.wait;
      this.log(`${w.converged} converged${w.failed ? `, ${w.failed} failed` : ''}${w.timedOut ? `, ${w.timedOut} still converging at the time limit` : ''}`);
      if (w.failed || w.timedOut) {
        process.exitCode = 1;
        if (this.jsonEnabled()) return result;
        throw new CliError(`${w.failed + w.timedOut} of ${w.nodes.length} node(s) did not converge`, {code: 'LC_ERR_NOT_CONVERGED', hint: 'layercake node why NODE explains each one'});
      }
    }
    return result;
  }
}
