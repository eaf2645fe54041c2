import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '@layercake/sdk/cli';
import {chooseBoot, templateVars} from '../../boot.js';
import {bootNodeOf} from '../../bootnode.js';
import {daemonIp, localPxe} from '../../cli.js';
import {FileError, resolveFile} from '../../files.js';

const CLIENTS = {
  bios: {arch: 'bios', ipxe: false, vendorClass: 'PXEClient:Arch:00000'},
  uefi: {arch: 'uefi', ipxe: false, vendorClass: 'PXEClient:Arch:00007'},
  arm64: {arch: 'arm64', ipxe: false, vendorClass: 'PXEClient:Arch:00011'},
  ipxe: {arch: 'bios', ipxe: true, vendorClass: 'PXEClient:Arch:00000'},
  http: {arch: 'uefi-http', ipxe: false, vendorClass: 'HTTPClient:Arch:00016'},
} as const;

export default class PxeRender extends BaseCommand<typeof PxeRender> {
  static override summary = 'Print what a node would receive: its DHCP boot answer, or a boot file rendered for it.';
  static override description = 'Renders on this host from the boot root of the daemon\'s config (modules.pxe); the node comes from the daemon. Without FILE, shows the boot file each kind of client would be given and renders the node\'s iPXE script. Secrets (the join secret) show as the API returns them: redacted.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> n01',
    '<%= config.bin %> <%= command.id %> n01 pxelinux.cfg/default',
    '<%= config.bin %> <%= command.id %> n01 boot.ipxe --json',
  ];
  static override args = {
    node: Args.string({description: 'node name or id', required: true}),
    file: Args.string({description: 'a path under the node\'s boot directory (rendered from FILE.tpl when FILE does not exist)'}),
  };
  static override flags = {
    root: Flags.string({summary: 'boot root (default: modules.pxe.tftp.root, else <stateDir>/pxe/tftp)'}),
    'state-dir': Flags.string({summary: 'the daemon\'s state directory (default: stateDir of the config file, else .layercake)'}),
    'server-ip': Flags.string({summary: 'the address nodes reach the boot servers at (default: from modules.pxe)'}),
  };

  public async run(): Promise<unknown> {
    const api = await this.api();
    const view = await api.getNode(this.args.node);
    const local = localPxe({file: await this.fileConfig() as never, root: this.flags.root, stateDir: this.flags['state-dir'], serverIp: this.flags['server-ip']}, await daemonIp(api));
    let node;
    try { node = bootNodeOf(view.cfg); } catch (e) { this.fail((e as Error).message, {code: 'LC_ERR_PXE_NODE', hint: `set the node's ipv4 extension: layercake node set ${this.args.node} ipv4.mac=... ipv4.ip=...`}); }
    if (local.serverProblem) this.warn(`${local.serverProblem}; ParentIP renders as ${local.server.serverIp}`);
    const vars = templateVars(node, local.server);
    const name = this.args.file ?? node.pxe.script ?? local.config.bootFiles.ipxeScript;
    let rendered: {kind: string; path: string; size: number; content?: string};
    try {
      const r = await resolveFile(name, {root: local.root, node, vars});
      rendered = r.kind === 'rendered'
        ? {kind: 'template', path: r.path, size: r.data.length, content: r.data.toString('utf8')}
        : {kind: 'static', path: r.path, size: r.size};
    } catch (e) {
      const code = e instanceof FileError ? 'LC_ERR_PXE_FILE' : 'LC_ERR_PXE_TEMPLATE';
      this.fail((e as Error).message, {code, hint: `boot files live under ${local.root}/<arch>/<platform>/, ${local.root}/<arch>/ or ${local.root}/; check with: layercake pxe check`});
    }
    const dhcp = Object.fromEntries(Object.entries(CLIENTS).map(([k, c]) => [k, chooseBoot(node, c, local.config, local.server).file]));
    if (!this.args.file) {
      this.log(`node ${node.nodename || node.id}  mac ${node.ipv4.mac}  ip ${node.ipv4.ip}/${node.ipv4.prefix}  method ${node.pxe.method}  server ${local.server.serverIp}`);
      for (const [k, f] of Object.entries(dhcp)) this.log(`  DHCP boot file for a ${k.padEnd(5)} client: ${f}`);
      this.log(`--- ${name} (${rendered.kind}: ${rendered.path})`);
    }
    if (rendered.content !== undefined) { if (!this.jsonEnabled()) process.stdout.write(rendered.content); }
    else this.log(`static file ${rendered.path} (${rendered.size} bytes), sent as is`);
    return {node: node.nodename, id: node.id, file: name, dhcp, vars, ...rendered};
  }
}
