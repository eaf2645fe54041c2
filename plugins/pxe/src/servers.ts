/**
 * The boot servers together (DHCP, TFTP, HTTP) around one registry of booting nodes. The module drives
 * it from the engine; tests, benchmarks and the simulator can run it on its own.
 */
import {mkdirSync} from 'node:fs';
import {join, resolve} from 'node:path';
import type {Logger} from '@layercake/sdk';
import {chooseBoot, templateVars, type ServerInfo} from './boot.js';
import type {BootNode} from './bootnode.js';
import type {PxeConfig} from './config.js';
import {DhcpServer} from './dhcp/server.js';
import type {Lease} from './extension.js';
import {resolveFile, type ResolvedFile} from './files.js';
import {HttpBootServer} from './http/server.js';
import {interfaceAddress} from './net.js';
import {Registry} from './registry.js';
import {FileCache} from './source.js';
import {TftpServer, type TransferEvent} from './tftp/server.js';

export interface PxeServersOptions {
  config: PxeConfig;
  /** `<stateDir>/pxe/tftp` is the default TFTP root. */
  stateDir: string;
  log: Logger;
  /** Used when neither serverIp nor interface gives the server address (the daemon's own ipv4 address). */
  fallbackServerIp?: string;
  onLease?(node: BootNode, lease: Lease): void;
  onBooted?(node: BootNode): void;
  onTransfer?(event: TransferEvent): void;
  /** Whether an address is one of this parent's nodes (they may fetch catalogue images; booting nodes always may). */
  isNode?(ip: string): boolean;
}

/** Resolves the address nodes reach us at, or throws a clear error. */
export function serverAddress(config: PxeConfig, fallback?: string): string {
  if (config.serverIp) return config.serverIp;
  if (config.interface) {
    const a = interfaceAddress(config.interface);
    if (!a) throw new Error(`pxe: interface ${config.interface} does not exist or has no IPv4 address`);
    return a.address;
  }
  if (fallback) return fallback;
  throw new Error('pxe: no server address: set modules.pxe.serverIp or modules.pxe.interface (or give this daemon an ipv4 extension)');
}

/** Where the Layer1 image catalogue is (the `image build` command writes it, the HTTP server serves it). */
export function imagesDir(config: PxeConfig, stateDir: string): string {
  return resolve(config.http.imagesDir || join(stateDir, 'images'));
}

export function tftpRoot(config: PxeConfig, stateDir: string): string {
  return resolve(config.tftp.root || join(stateDir, 'pxe', 'tftp'));
}

export class PxeServers {
  readonly registry = new Registry();
  readonly cache: FileCache;
  readonly root: string;
  readonly info: ServerInfo;
  dhcp: DhcpServer | undefined;
  tftp: TftpServer | undefined;
  http: HttpBootServer | undefined;
  /** The last DHCP exchange per MAC (kept after a node is unregistered). */
  readonly leases = new Map<string, Lease & {node: string; nodeId: string}>();

  constructor(private readonly opts: PxeServersOptions) {
    const c = opts.config;
    this.root = tftpRoot(c, opts.stateDir);
    this.cache = new FileCache(c.tftp.cacheBytes);
    this.info = {
      serverIp: serverAddress(c, opts.fallbackServerIp), httpPort: c.http.port, httpEnabled: c.http.enabled, parentUrl: c.parentUrl,
    };
  }

  vars(node: BootNode): Record<string, string> { return templateVars(node, this.info); }

  resolve(node: BootNode, name: string): Promise<ResolvedFile> {
    return resolveFile(name, {root: this.root, node, vars: this.vars(node)});
  }

  async start(): Promise<void> {
    const c = this.opts.config;
    const log = this.opts.log;
    if (c.tftp.enabled || c.http.enabled) mkdirSync(this.root, {recursive: true});
    try {
      if (c.dhcp.enabled) {
        this.dhcp = new DhcpServer({
          mode: c.mode, port: c.dhcp.port, clientPort: c.dhcp.clientPort, proxyPort: c.dhcp.proxyPort,
          bindAddress: c.bindAddress, broadcastAddress: c.dhcp.broadcastAddress, relayReplyPort: c.dhcp.relayReplyPort,
          leaseTime: c.dhcp.leaseTime, serverIp: this.info.serverIp, log,
          lookup: (mac) => this.registry.byMac(mac),
          choose: (node, client) => chooseBoot(node, client, c, this.info),
          onLease: (node, lease) => {
            this.leases.set(lease.mac, {...lease, node: node.nodename, nodeId: node.id});
            this.opts.onLease?.(node, lease);
          },
          onBooted: (node) => this.opts.onBooted?.(node),
          onAddress: (node, ip) => this.registry.addAlias(node.id, ip),
        });
        await this.dhcp.start();
      }
      if (c.tftp.enabled) {
        this.tftp = new TftpServer({
          port: c.tftp.port, bindAddress: c.bindAddress, retransmitMs: c.tftp.retransmitMs, retries: c.tftp.retries,
          maxBlksize: c.tftp.maxBlksize, maxWindowsize: c.tftp.maxWindowsize, busyPollUs: c.tftp.busyPollUs, log,
          lookup: (ip) => this.registry.byIp(ip),
          open: async (node, name) => this.cache.open(await this.resolve(node, name)),
          onTransfer: this.opts.onTransfer,
        });
        await this.tftp.start();
      }
      if (c.http.enabled) {
        this.http = new HttpBootServer({
          port: c.http.port, bindAddress: c.bindAddress, log, cache: this.cache,
          lookup: (ip) => this.registry.byIp(ip),
          resolve: (node, name) => this.resolve(node, name),
          images: {dir: imagesDir(c, this.opts.stateDir), allowed: (ip) => !!this.registry.byIp(ip) || !!this.opts.isNode?.(ip)},
        });
        await this.http.start();
        this.info.httpPort = this.http.address.port; // the configured port, or the one picked for port 0
      }
    } catch (e) {
      await this.close();
      throw e;
    }
    log.info({serverIp: this.info.serverIp, mode: c.mode, root: this.root,
      dhcp: this.dhcp?.address.port, tftp: this.tftp?.address.port, http: this.http?.address.port}, 'pxe servers listening');
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.dhcp?.close(), this.tftp?.close(), this.http?.close()]);
    this.dhcp = this.tftp = this.http = undefined;
    this.cache.clear();
  }
}
