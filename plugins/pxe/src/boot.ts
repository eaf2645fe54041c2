/**
 * Per-node boot decisions: which file a client gets, and the variables its templates see.
 */
import type {BootNode} from './bootnode.js';
import type {PxeConfig} from './config.js';
import type {ClientArch} from './dhcp/packet.js';
import {prefixToMask} from './net.js';

/** Where the servers are, as the nodes must reach them. */
export interface ServerInfo {
  serverIp: string;
  httpPort: number;
  httpEnabled: boolean;
  /** ParentURL: '' means http://<serverIp>:3141. */
  parentUrl: string;
}

export interface BootChoice {
  /** Written to the BOOTP file field and option 67: a TFTP path or an http:// URL. */
  file: string;
  /** Vendor class to echo (option 60): 'PXEClient', 'HTTPClient' or ''. */
  vendorClass: string;
  /** A short description for leases and logs. */
  client: string;
}

export interface ClientInfo {
  arch: ClientArch;
  ipxe: boolean;
  /** The client's option 60 ('' if none). */
  vendorClass: string;
}

export function httpBase(server: ServerInfo): string {
  return `http://${server.serverIp}${server.httpPort === 80 ? '' : `:${server.httpPort}`}`;
}

/**
 * The boot file for a node's client. An iPXE client gets its script (over HTTP when the HTTP server is on),
 * never the iPXE binary again (that is the chain-load loop of dnsmasq set-ups); UEFI HTTP-boot firmware
 * gets an http:// URL; firmware PXE gets the configured file for its architecture.
 */
export function chooseBoot(node: BootNode, client: ClientInfo, cfg: PxeConfig, server: ServerInfo): BootChoice {
  const method = node.pxe.method;
  const echo = client.vendorClass.startsWith('HTTPClient') ? 'HTTPClient' : client.vendorClass.startsWith('PXEClient') ? 'PXEClient' : '';
  const archName = client.arch === 'arm64' || client.arch === 'arm64-http' ? 'arm64' : client.arch === 'bios' || client.arch === 'other' ? 'bios' : 'uefi';
  if (client.arch === 'uefi-http' || client.arch === 'arm64-http' || echo === 'HTTPClient') {
    const file = node.pxe.bootfile ?? (client.arch === 'arm64-http' ? cfg.bootFiles.ipxe.arm64 : cfg.bootFiles.httpBoot);
    return {file: /^https?:\/\//.test(file) ? file : `${httpBase(server)}/${file}`, vendorClass: 'HTTPClient', client: `${archName}-http`};
  }
  if (client.ipxe && method !== 'pxe') {
    const script = node.pxe.script ?? cfg.bootFiles.ipxeScript;
    const file = server.httpEnabled ? `${httpBase(server)}/${script}` : script;
    return {file, vendorClass: echo, client: `ipxe-${archName}`};
  }
  const files = method === 'pxe' ? cfg.bootFiles.pxe : cfg.bootFiles.ipxe;
  const file = node.pxe.bootfile ?? files[archName];
  return {file, vendorClass: echo, client: client.ipxe ? `ipxe-${archName}` : archName};
}

/** The variables of a node's templates. Per-node `pxe.vars` are added, but never replace the built-in ones. */
export function templateVars(node: BootNode, server: ServerInfo): Record<string, string> {
  const v = node.ipv4;
  const builtin: Record<string, string> = {
    ID: node.id,
    Nodename: node.nodename,
    Arch: node.arch,
    Platform: node.platform,
    Iface: v.iface,
    MAC: v.mac,
    IP: v.ip,
    CIDR: String(v.prefix),
    Netmask: prefixToMask(v.prefix),
    Gateway: v.gateway ?? '',
    DNS: (v.dns ?? []).join(','),
    Domain: v.domain ?? '',
    ParentIP: server.serverIp,
    ParentURL: server.parentUrl || `http://${server.serverIp}:3141`,
    HTTPBase: httpBase(server),
    JoinSecret: node.joinSecret,
  };
  return {...(node.pxe.vars ?? {}), ...builtin};
}
