import {Flags} from '@oclif/core';
import {PowerCommand} from '../../cli/power-command.js';

export default class PowerOn extends PowerCommand {
  static override summary = `Power nodes on (cfg intent): physState POWER_ON, and runState SYNC when a boot chain is installed.`;
  static override description = `Sets the nodes' configured power state; the engine and the power plugin do the rest. When some module can bring runState to SYNC (PXE, image and agent plugins installed), runState SYNC is asked for too, so the nodes come up; --no-boot powers on only. With --wait, follows the nodes until they converge.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-16]"',
    {description: 'Act on every node and follow convergence.', command: '<%= config.bin %> <%= command.id %> --all --wait'},
    {description: 'Show the cfg changes only.', command: '<%= config.bin %> <%= command.id %> n01 --dry-run'},
  ];

  protected readonly action = 'on' as const;

  static override flags = {
    ...PowerCommand.flags,
    boot: Flags.boolean({summary: 'Also ask for runState SYNC when a module can bring it there (--no-boot: power only).', default: true, allowNo: true}),
  };

  public override async run() {
    this.boot = (this.flags as {boot?: boolean}).boot !== false;
    return super.run();
  }
}
