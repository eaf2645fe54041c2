import {PowerCommand} from '../../cli/power-command.js';

export default class PowerCycle extends PowerCommand {
  static override summary = `Power-cycle nodes: off, wait until they are off, then on again as they were configured.`;
  static override description = `Powers the nodes off as \`power off\` does, waits until every one is discovered POWER_OFF (up to --timeout), then powers them on again restoring the values the power-off reset. If a node does not power off, none is powered on again. Asks for confirmation on a terminal when any of the nodes is running; --yes skips it.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-16]"',
    {description: 'Act on every node and follow convergence.', command: '<%= config.bin %> <%= command.id %> --all --wait --yes'},
    {description: 'Show the cfg changes only.', command: '<%= config.bin %> <%= command.id %> n01 --dry-run'},
  ];

  protected readonly action = 'cycle' as const;
}
