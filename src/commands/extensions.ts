import type {ExtensionInfo} from '../api/types.js';
import {BaseCommand} from '../cli/base-command.js';
import {extensionsTable} from '../cli/describe.js';

export default class Extensions extends BaseCommand<typeof Extensions> {
  static override summary = 'List the registered node extensions, their enums (zero value first) and secret fields.';
  static override examples = ['<%= config.bin %> <%= command.id %>', {description: 'With each extension\'s JSON Schema.', command: '<%= config.bin %> <%= command.id %> --json'}];

  public async run(): Promise<{extensions: ExtensionInfo[]}> {
    const extensions = await (await this.api()).extensions();
    this.log(extensionsTable(extensions));
    return {extensions};
  }
}
