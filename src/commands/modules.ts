import type {ModuleInfo} from '../api/types.js';
import {BaseCommand} from '../cli/base-command.js';
import {modulesTable} from '../cli/describe.js';

export default class Modules extends BaseCommand<typeof Modules> {
  static override summary = 'List the daemon\'s modules with their service state, restarts and last error.';
  static override examples = ['<%= config.bin %> <%= command.id %>'];

  public async run(): Promise<{modules: ModuleInfo[]}> {
    const modules = await (await this.api()).modules();
    this.log(modules.length ? modulesTable(modules) : 'no modules (install plugins: layercake plugins)');
    return {modules};
  }
}
