import {BaseCommand} from '../cli/base-command.js';
import {setBusy, type BusyResult} from '../cli/busy.js';
import {describeBusy} from '../model/busy.js';

export default class Free extends BaseCommand<typeof Free> {
  static override summary = 'Mark this node FREE again (run on the node, e.g. from a scheduler\'s epilog): held image rolls and power-off go on.';
  static override description = 'Ends what `layercake busy` started: sets the own node of the daemon this runs beside (on a node: its agent\'s local socket) FREE. FREE is the default; freeing a FREE node changes nothing but the time. See docs/layer1.md, "Busy and free".';
  static override examples = ['<%= config.bin %> <%= command.id %>'];

  public async run(): Promise<BusyResult> {
    const result = await setBusy(await this.api(), false);
    this.log(`${result.nodename || result.id}: ${describeBusy(result)}`);
    return result;
  }
}
