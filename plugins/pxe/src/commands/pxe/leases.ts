import {Flags} from '@oclif/core';
import {BaseCommand, renderTable} from '@layercake/sdk/cli';
import type {Lease} from '../../extension.js';
import {localPxe} from '../../cli.js';
import {readLeases} from '../../module.js';

interface Row extends Lease { node: string }

export default class PxeLeases extends BaseCommand<typeof PxeLeases> {
  static override summary = 'Who got what, when: the last DHCP exchange of every node.';
  static override description = 'Reads each node\'s discovered pxe.lease from the daemon. With --local, reads <stateDir>/pxe/leases.json on this host instead (works while the daemon is down).';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --local --json'];
  static override flags = {
    local: Flags.boolean({summary: 'read the lease file of the daemon on this host instead of asking the daemon'}),
    'state-dir': Flags.string({summary: 'the daemon\'s state directory (with --local)'}),
  };

  public async run(): Promise<{leases: Row[]}> {
    let rows: Row[];
    if (this.flags.local) {
      const local = localPxe({file: await this.fileConfig() as never, stateDir: this.flags['state-dir']});
      rows = (await readLeases(local.stateDir)).map(({nodeId: _id, ...l}) => l);
    } else {
      const api = await this.api();
      rows = (await api.listNodes()).flatMap((v) => {
        const lease = (v.dsc.extensions.pxe as {lease?: Lease} | undefined)?.lease;
        return lease ? [{...lease, node: v.cfg.nodename || v.cfg.id}] : [];
      });
    }
    rows.sort((a, b) => b.time - a.time);
    const when = (t: number): string => (t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
    if (rows.length === 0) this.log('no DHCP exchanges recorded yet');
    else {
      this.log(renderTable(rows, [
        {header: 'NODE', get: (r) => r.node},
        {header: 'MAC', get: (r) => r.mac},
        {header: 'IP', get: (r) => r.ip},
        {header: 'EVENT', get: (r) => r.event},
        {header: 'CLIENT', get: (r) => r.client},
        {header: 'BOOTFILE', get: (r) => r.bootfile},
        {header: 'WHEN', get: (r) => when(r.time)},
        {header: 'EXPIRES', get: (r) => when(r.expires)},
        {header: 'RELAY', get: (r) => r.relay},
      ]));
    }
    return {leases: rows};
  }
}
