import {PowerCommand} from '../../cli/power-command.js';

export default class PowerOff extends PowerCommand {
  static override summary = `Power nodes off (cfg intent), resetting what cannot hold while off; asks first for running nodes.`;
  static override description = `Sets the nodes' configured physState to POWER_OFF and resets to zero every configured value that cannot hold while a node is off (its runState, its PXE state, ...), so the engine does not try to boot it. Asks for confirmation on a terminal when any of the nodes is running (dsc runState SYNC); --yes skips the question, and is required off a terminal.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-16]"',
    {description: 'Act on every node and follow convergence.', command: '<%= config.bin %> <%= command.id %> --all --wait --yes'},
    {description: 'Show the cfg changes only.', command: '<%= config.bin %> <%= command.id %> n01 --dry-run'},
  ];

  protected readonly action = 'off' as const;
}
