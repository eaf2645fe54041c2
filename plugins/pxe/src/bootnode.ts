/**
 * What the boot servers know about one node: a view of its cfg taken when it is registered and refreshed
 * whenever its cfg changes (the original froze it at registration).
 */
import type {Node} from '@layercake/sdk';
import {ipv4Schema, pxeExtensionSchema, type Ipv4, type PxeExtension} from './extension.js';
import {normalizeMac} from './net.js';

export interface BootNode {
  id: string;
  nodename: string;
  arch: string;
  platform: string;
  ipv4: Ipv4;
  pxe: PxeExtension;
  /** The per-node join secret of the sync protocol ('' until it exists); read from `/extensions/sync/joinSecret`. */
  joinSecret: string;
}

/** Builds a BootNode from a node's cfg, or throws an error that says what is missing. */
export function bootNodeOf(cfg: Node): BootNode {
  const who = cfg.nodename || cfg.id;
  if (!cfg.extensions.ipv4) throw new Error(`node ${who} has no ipv4 extension (interface, mac, ip, prefix): it cannot be network-booted`);
  const parsed = ipv4Schema.safeParse(cfg.extensions.ipv4);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`node ${who}: /extensions/ipv4/${issue.path.join('/')}: ${issue.message}`);
  }
  const ipv4 = {...parsed.data, mac: normalizeMac(parsed.data.mac)};
  const pxe = pxeExtensionSchema.parse(cfg.extensions.pxe ?? {});
  const sync = cfg.extensions.sync as {joinSecret?: unknown} | undefined;
  const joinSecret = typeof sync?.joinSecret === 'string' ? sync.joinSecret : '';
  return {id: cfg.id, nodename: cfg.nodename, arch: cfg.arch, platform: cfg.platform, ipv4, pxe, joinSecret};
}
