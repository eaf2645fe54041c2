import type {MutationInfo} from '../api/types.js';
import {BaseCommand} from '../cli/base-command.js';
import {mutationsTable} from '../cli/describe.js';

export default class Mutations extends BaseCommand<typeof Mutations> {
  static override summary = 'List the registered mutations: what each changes, requires, its context, timeout and failure value.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];

  public async run(): Promise<{mutations: MutationInfo[]}> {
    const mutations = await (await this.api()).mutations();
    this.log(mutations.length ? mutationsTable(mutations) : 'no mutations registered (install plugins: layercake plugins)');
    return {mutations};
  }
}
