import type {EngineStatus} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {describeEngine} from '../../cli/describe.js';

export default class EngineStatusCommand extends BaseCommand<typeof EngineStatusCommand> {
  static override summary = 'Show the engine\'s state: frozen or running; nodes converged, active, waiting, held; mutations in flight.';
  static override examples = ['<%= config.bin %> <%= command.id %>'];

  public async run(): Promise<EngineStatus> {
    const client = await this.api();
    const status = await client.engineStatus();
    this.log(describeEngine(status));
    return status;
  }
}
