import type {WhyResult} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {resolveTargets} from '../../cli/targets.js';

export default class NodeRetry extends BaseCommand<typeof NodeRetry> {
  static override summary = 'Release nodes the engine holds after too many failures, so it tries again.';
  static override examples = ['<%= config.bin %> <%= command.id %> n07'];
  static override strict = false;
  static override usage = '<%= command.id %> NODES...';

  public async run(): Promise<{nodes: WhyResult[]}> {
    const client = await this.api();
    const {views} = await resolveTargets(client, this.argvRest);
    const nodes = await Promise.all(views.map((v) => client.retry(v.cfg.id)));
    for (const why of nodes) this.log(why.summary);
    return {nodes};
  }
}
