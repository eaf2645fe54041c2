import type {EngineStatus} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {describeEngine} from '../../cli/describe.js';

export default class EngineThaw extends BaseCommand<typeof EngineThaw> {
  static override summary = 'Thaw the engine: it plans every node again and drives them to their cfg.';
  static override examples = ['<%= config.bin %> <%= command.id %>'];

  public async run(): Promise<EngineStatus> {
    const client = await this.api();
    const status = await client.thaw();
    this.log(describeEngine(status));
    return status;
  }
}
