import {IpmiCommand} from '../../cli/ipmi-command.js';
import type {NodeResult} from '../../actions.js';

export default class IpmiStatus extends IpmiCommand<typeof IpmiStatus> {
  static override summary = 'Ask the nodes\' BMCs for their power state, next to what the daemon believes.';
  static override description = 'Talks to the BMCs directly from here (the daemon is only asked for the nodes). The BMC password comes from --password-file or IPMI_PASSWORD, else from each node\'s ipmi.passwordFile; the API never reveals ipmi.password. Exits 1 if any BMC could not be asked.';
  static override usage = '<%= command.id %> NODES... | --all';
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-16]" --password-file /etc/layercake/bmc.pw',
    {description: 'Every ipmi node, as JSON, with ipmitool.', command: 'IPMI_PASSWORD=... <%= config.bin %> <%= command.id %> --all --driver ipmitool --json'},
  ];

  public async run(): Promise<{nodes: NodeResult[]}> {
    return this.perform(this.argvRest, {kind: 'status'}, 'status');
  }
}
