import {Flags} from '@oclif/core';
import type {ApplyResult} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {CliError} from '../../cli/errors.js';
import {isAssignment, parseAssignments} from '../../cli/assignments.js';
import {applySummary, formatChanges} from '../../cli/output.js';
import {confirmDisruption} from '../../cli/power.js';
import {resolveTargets} from '../../cli/targets.js';

export default class NodeSet extends BaseCommand<typeof NodeSet> {
  static override summary = 'Set configured values on nodes (all or nothing); with no values on a terminal, edit interactively.';
  static override description = `URL=value sets a string (enum values included), URL:=json sets any JSON value (numbers, lists, objects, null to remove). URLs are shorthand (physState, pxe.state) or JSON Pointers (/extensions/pxe/state). Every value is validated on every node before any is written. Without assignments, on a terminal, an editor lets you pick fields and values and shows the diff before applying it.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-16]" physState=POWER_ON runState=SYNC',
    {description: 'A JSON value, and a preview of the diff.', command: '<%= config.bin %> <%= command.id %> n01 ipv4.prefix:=24 --dry-run'},
    {description: 'Reset a value to its zero ("don\'t care").', command: '<%= config.bin %> <%= command.id %> n01 --reset pxe.state'},
    {description: 'Pick fields and values interactively.', command: '<%= config.bin %> <%= command.id %> n01'},
    {description: 'Power off running nodes, as `power off` does (asks first; off a terminal needs --yes).', command: '<%= config.bin %> <%= command.id %> n16 physState=POWER_OFF --yes'},
  ];

  static override strict = false;
  static override usage = '<%= command.id %> NODES... [URL=value | URL:=json ...] [--reset URL] [--dry-run]';
  static override flags = {
    'dry-run': Flags.boolean({summary: 'Validate and print the diff, change nothing.'}),
    reset: Flags.string({summary: 'Reset a URL to its zero value (repeatable).', multiple: true}),
    all: Flags.boolean({summary: 'Act on every node.'}),
    yes: Flags.boolean({char: 'y', summary: 'Do not ask before powering off or cycling running nodes (physState=POWER_OFF).'}),
  };

  public async run(): Promise<ApplyResult | undefined> {
    const targets = this.argvRest.filter((a) => !isAssignment(a));
    const set = parseAssignments(this.argvRest.filter(isAssignment));
    const reset = this.flags.reset ?? [];
    const client = await this.api();
    const {views} = await resolveTargets(client, targets, {all: this.flags.all});
    if (Object.keys(set).length === 0 && reset.length === 0) {
      if (!this.interactive()) {
        throw new CliError('no values to set', {code: 'LC_ERR_USAGE', exit: 2, hint: 'give URL=value pairs, e.g. physState=POWER_ON (the interactive editor needs a terminal)'});
      }
      const {editNodes} = await import('../../cli/node-editor.js');
      return editNodes(client, views);
    }
    // Setting physState resets, as `power off` does, the other values that could not hold (runState,
    // images...; what is set explicitly is kept, and an impossible combination is refused).
    const request = {nodes: views.map((v) => v.cfg.id), set, reset, resetUnknowable: 'physState' in set || '/physState' in set};
    const power = set.physState ?? set['/physState'];
    if ((power === 'POWER_OFF' || power === 'POWER_CYCLE') && !this.flags['dry-run']) {
      await client.setValues(request, {dryRun: true}); // a refused write fails before anyone is asked
      await confirmDisruption(power === 'POWER_OFF' ? 'off' : 'cycle', views, {yes: this.flags.yes, json: this.jsonEnabled()});
    }
    const result = await client.setValues(request, {dryRun: this.flags['dry-run']});
    for (const line of formatChanges(result.changes)) this.log(line);
    this.log(applySummary(result));
    return result;
  }
}
