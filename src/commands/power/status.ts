import type {PhysState} from '../../api/types.js';
import {BaseCommand} from '../../cli/base-command.js';
import {state} from '../../cli/color.js';
import {renderTable} from '../../cli/table.js';
import {resolveTargets} from '../../cli/targets.js';

export interface PowerStatusResult {
  nodes: {id: string; nodename: string; cfg: PhysState; dsc: PhysState; runState: string}[];
}

export default class PowerStatus extends BaseCommand<typeof PowerStatus> {
  static override summary = 'Show configured and discovered power state of nodes (all nodes when none are named).';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> "n[01-04]" --json'];
  static override strict = false;
  static override usage = '<%= command.id %> [NODES...]';

  public async run(): Promise<PowerStatusResult> {
    const {views} = await resolveTargets(await this.api(), this.argvRest, {allowEmpty: true});
    const nodes = views.map((v) => ({id: v.cfg.id, nodename: v.cfg.nodename, cfg: v.cfg.physState, dsc: v.dsc.physState, runState: v.dsc.runState}));
    this.log(renderTable(nodes, [
      {header: 'NODE', get: (n) => n.nodename || n.id},
      {header: 'POWER', get: (n) => state(n.dsc)},
      {header: 'WANTED', get: (n) => (n.cfg === 'PHYS_UNKNOWN' ? '-' : state(n.cfg))},
      {header: 'RUN', get: (n) => state(n.runState)},
    ]));
    return {nodes};
  }
}
