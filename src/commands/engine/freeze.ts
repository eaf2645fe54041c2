import type {EngineStatus} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {describeEngine} from '../../cli/describe.js';

export default class EngineFreeze extends BaseCommand<typeof EngineFreeze> {
  static override summary = 'Freeze the engine: it keeps recording state but plans and fires nothing.';
  static override examples = ['<%= config.bin %> <%= command.id %>'];

  public async run(): Promise<EngineStatus> {
    const client = await this.api();
    const status = await client.freeze();
    this.log(describeEngine(status));
    return status;
  }
}
