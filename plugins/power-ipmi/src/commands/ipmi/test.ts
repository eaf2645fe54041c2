import {IpmiCommand} from '../../cli/ipmi-command.js';
import type {NodeResult} from '../../actions.js';

export default class IpmiTest extends IpmiCommand<typeof IpmiTest> {
  static override summary = 'Check that the nodes\' BMCs answer and accept their credentials.';
  static override description = 'Opens an IPMI v2.0 session with each BMC at the node\'s privilege (this checks the address, the user, the password and the privilege) and reads the power state. Tells apart a BMC that does not answer, one that rejects the credentials and a node whose ipmi settings are incomplete. Exits 1 if any check fails.';
  static override usage = '<%= command.id %> NODES... | --all';
  static override examples = ['<%= config.bin %> <%= command.id %> "n[01-16]" --password-file /etc/layercake/bmc.pw'];

  public async run(): Promise<{nodes: NodeResult[]}> {
    return this.perform(this.argvRest, {kind: 'test'}, 'test');
  }
}
