import {promises as fs, constants} from 'node:fs';
import {networkInterfaces} from 'node:os';
import {Flags} from '@oclif/core';
import {BaseCommand, renderTable} from '@layercake/sdk/cli';
import {templateVars} from '../../boot.js';
import {bootNodeOf, type BootNode} from '../../bootnode.js';
import {bootable, daemonIp, localPxe, type LocalPxe} from '../../cli.js';
import {FileError, resolveFile} from '../../files.js';
import {interfaceAddress, sameSubnet} from '../../net.js';
import {checkSender} from '../../tftp/sender.js';

type Status = 'ok' | 'warn' | 'fail';
interface Check { check: string; status: Status; detail: string }

export default class PxeCheck extends BaseCommand<typeof PxeCheck> {
  static override summary = 'Check the network-boot set-up: config, interface, boot root, and that every node\'s boot files exist and its templates render.';
  static override description = 'Runs on the head node, against the daemon\'s config file (modules.pxe) and the nodes the daemon knows. Exits 1 if any check fails; warnings (e.g. a firmware boot file missing when nodes have an iPXE ROM) do not fail.';
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json'];
  static override flags = {
    root: Flags.string({summary: 'boot root (default: modules.pxe.tftp.root, else <stateDir>/pxe/tftp)'}),
    'state-dir': Flags.string({summary: 'the daemon\'s state directory'}),
  };

  public async run(): Promise<{ok: boolean; checks: Check[]}> {
    const checks: Check[] = [];
    const add = (check: string, status: Status, detail: string): void => { checks.push({check, status, detail}); };
    const api = await this.api();
    let local: LocalPxe | undefined;
    try {
      local = localPxe({file: await this.fileConfig() as never, root: this.flags.root, stateDir: this.flags['state-dir']}, await daemonIp(api));
      add('config', 'ok', `modules.pxe is valid (mode ${local.config.mode})`);
    } catch (e) {
      add('config', 'fail', (e as Error).message);
    }
    if (local) {
      await this.checkServer(local, add);
      await this.checkNodes(local, await api.listNodes(), add);
    }
    const ok = !checks.some((c) => c.status === 'fail');
    this.log(renderTable(checks, [
      {header: 'CHECK', get: (c) => c.check},
      {header: 'STATUS', get: (c) => c.status.toUpperCase()},
      {header: 'DETAIL', get: (c) => c.detail},
    ]));
    this.log(ok ? 'network boot looks ready' : `${checks.filter((c) => c.status === 'fail').length} check(s) failed`);
    if (!ok) process.exitCode = 1;
    return {ok, checks};
  }

  private async checkServer(local: LocalPxe, add: (c: string, s: Status, d: string) => void): Promise<void> {
    const c = local.config;
    if (c.interface) {
      const a = interfaceAddress(c.interface);
      if (!a) add('interface', 'fail', `interface ${c.interface} does not exist here or has no IPv4 address (have: ${Object.keys(networkInterfaces()).join(', ')})`);
      else if (c.serverIp && c.serverIp !== a.address) add('interface', 'warn', `serverIp ${c.serverIp} is not the address of ${c.interface} (${a.address})`);
      else add('interface', 'ok', `${c.interface} ${a.address}/${a.prefix}`);
    } else if (c.serverIp) {
      const local4 = Object.values(networkInterfaces()).flat().some((x) => x?.family === 'IPv4' && x.address === c.serverIp);
      add('interface', local4 ? 'ok' : 'warn', local4 ? `serverIp ${c.serverIp} is local` : `serverIp ${c.serverIp} is not an address of this host: DHCP broadcasts leave by the routing table (set modules.pxe.interface on a multi-homed host)`);
    }
    add('server address', local.serverProblem ? 'fail' : 'ok', local.serverProblem || local.server.serverIp);
    if (c.tftp.enabled) {
      try {
        checkSender();
        add('TFTP sender', 'ok', 'the native sender is built');
      } catch (e) {
        add('TFTP sender', 'fail', (e as Error).message);
      }
    }
    try {
      const st = await fs.stat(local.root);
      if (!st.isDirectory()) throw new Error('not a directory');
      await fs.access(local.root, constants.R_OK | constants.X_OK);
      add('boot root', 'ok', local.root);
    } catch (e) {
      add('boot root', 'fail', `${local.root}: ${(e as Error).message}`);
    }
  }

  private async checkNodes(local: LocalPxe, views: Awaited<ReturnType<Awaited<ReturnType<typeof this.api>>['listNodes']>>, add: (c: string, s: Status, d: string) => void): Promise<void> {
    const nodes: BootNode[] = [];
    for (const v of bootable(views)) {
      try { nodes.push(bootNodeOf(v.cfg)); } catch (e) { add(`node ${v.cfg.nodename || v.cfg.id}`, 'fail', (e as Error).message); }
    }
    if (nodes.length === 0) { add('nodes', 'warn', 'no node has an ipv4 extension: nothing to boot'); return; }
    for (const key of ['mac', 'ip'] as const) {
      const seen = new Map<string, string>();
      for (const n of nodes) {
        const other = seen.get(n.ipv4[key]);
        if (other) add(`node ${n.nodename}`, 'fail', `${key.toUpperCase()} ${n.ipv4[key]} is also configured on ${other}`);
        seen.set(n.ipv4[key], n.nodename || n.id);
      }
    }
    const iface = local.config.interface ? interfaceAddress(local.config.interface) : undefined;
    for (const n of nodes) {
      const who = `node ${n.nodename || n.id}`;
      const vars = templateVars(n, local.server);
      const problems: string[] = [];
      const warnings: string[] = [];
      const need = n.pxe.method === 'pxe' ? ['pxelinux.cfg/default'] : [n.pxe.script ?? local.config.bootFiles.ipxeScript];
      for (const f of need) {
        try { await resolveFile(f, {root: local.root, node: n, vars}); } catch (e) { problems.push(`${f}: ${(e as Error).message}`); }
      }
      const fw = n.pxe.bootfile ? [n.pxe.bootfile] : Object.values(n.pxe.method === 'pxe' ? local.config.bootFiles.pxe : local.config.bootFiles.ipxe);
      const present: string[] = [];
      for (const f of fw) {
        if (/^https?:/.test(f)) { present.push(f); continue; }
        try { await resolveFile(f, {root: local.root, node: n, vars}); present.push(f); } catch (e) {
          if (!(e instanceof FileError)) problems.push(`${f}: ${(e as Error).message}`);
        }
      }
      if (present.length === 0) warnings.push(`no firmware boot file (${fw.join(', ')}): only clients with an iPXE ROM can boot`);
      if (iface && local.config.mode === 'server' && !sameSubnet(n.ipv4.ip, iface.address, iface.prefix)) {
        warnings.push(`${n.ipv4.ip} is not on ${local.config.interface}'s subnet: it must boot through a DHCP relay`);
      }
      if (problems.length) add(who, 'fail', problems.join('; '));
      else add(who, warnings.length ? 'warn' : 'ok', warnings.length ? warnings.join('; ') : `${n.pxe.method}: ${need.join(', ')} render; firmware files: ${present.join(', ')}`);
    }
  }
}
