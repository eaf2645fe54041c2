/**
 * Where the catalogue is and where nodes fetch from, read from the configuration file the daemon and the
 * CLI share: the catalogue is the pxe HTTP server's `http.imagesDir` (default `<stateDir>/images`), and
 * the URL is that server's address on the nodes' network (`modules.pxe.serverIp`, else the address of
 * `modules.pxe.interface`) and port (`modules.pxe.http.port`, default 8069).
 */
import {networkInterfaces} from 'node:os';
import {join, resolve} from 'node:path';
import {CliError} from '@layercake/sdk';
import type {CatalogueEntry} from './catalogue.js';

/** The parts of the configuration file read here. */
export interface SharedConfig {
  stateDir?: string;
  modules?: Record<string, unknown>;
}

interface PxeSettings {
  serverIp?: string;
  interface?: string;
  http?: {port?: number; imagesDir?: string};
}

/** The daemon's default state directory (relative to where it runs), as in the CLI's config. */
const DEFAULT_STATE_DIR = '.layercake';

const pxeOf = (config: SharedConfig) => (config.modules?.pxe ?? {}) as PxeSettings;

export function catalogueDir(config: SharedConfig, flag?: string): string {
  return resolve(flag ?? process.env.LAYERCAKE_IMAGES ?? (pxeOf(config).http?.imagesDir || join(config.stateDir ?? DEFAULT_STATE_DIR, 'images')));
}

/** `http://HOST:PORT` of the pxe HTTP server as the nodes reach it, or LC_ERR_IMAGE_SERVER. */
export function imageServer(config: SharedConfig, flag?: string): string {
  const given = flag ?? process.env.LAYERCAKE_IMAGE_SERVER;
  if (given) return given.replace(/\/+$/, '');
  const pxe = pxeOf(config);
  const port = pxe.http?.port ?? 8069;
  let host = pxe.serverIp;
  if (!host && pxe.interface) host = networkInterfaces()[pxe.interface]?.find((a) => a.family === 'IPv4')?.address;
  if (!host) throw new CliError('cannot tell the address nodes fetch images from: the config file has neither modules.pxe.serverIp nor modules.pxe.interface (with an IPv4 address)', {code: 'LC_ERR_IMAGE_SERVER'});
  return `http://${host}:${port}`;
}

/** The image set source a catalogue entry becomes in a node's cfg. */
export function httpSource(entry: CatalogueEntry, server: string): Record<string, unknown> {
  return {kind: 'http', url: `${server}/images/${entry.sha256}.squashfs`, sha256: entry.sha256, size: entry.size, ref: `${entry.name}:${entry.version}`, fsType: 'squashfs'};
}
