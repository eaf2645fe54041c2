/**
 * What the `layercake pxe` commands share: the pxe module's settings as the daemon on this host sees
 * them (the same config file, `modules.pxe` and `stateDir`), and the node views from the API.
 */
import {isAbsolute, resolve, dirname} from 'node:path';
import type {NodeView} from '@layercake/sdk';
import type {ApiClient} from '@layercake/sdk/cli';
import type {ServerInfo} from './boot.js';
import {pxeConfigSchema, type PxeConfig} from './config.js';
import {serverAddress, tftpRoot} from './servers.js';

export interface LocalPxe {
  config: PxeConfig;
  stateDir: string;
  root: string;
  server: ServerInfo;
  /** Why the server address is unknown ('' when known). */
  serverProblem: string;
}

export interface LocalInputs {
  /** The loaded config file: {config: {...}, filepath?}. */
  file: {config: Record<string, unknown>; filepath?: string};
  stateDir?: string;
  root?: string;
  serverIp?: string;
}

/** Reads `modules.pxe` (validated: a bad value is a clear error naming the key) and derives the paths. */
export function localPxe(inputs: LocalInputs, selfIp?: string): LocalPxe {
  const raw = (inputs.file.config.modules as Record<string, unknown> | undefined)?.pxe ?? {};
  const parsed = pxeConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`modules.pxe.${i.path.join('.')}: ${i.message}${inputs.file.filepath ? ` (in ${inputs.file.filepath})` : ''}`);
  }
  const config = parsed.data;
  if (inputs.root) config.tftp.root = inputs.root;
  if (inputs.serverIp) config.serverIp = inputs.serverIp;
  const base = inputs.file.filepath ? dirname(inputs.file.filepath) : process.cwd();
  const sd = inputs.stateDir ?? (inputs.file.config.stateDir as string | undefined) ?? '.layercake';
  const stateDir = isAbsolute(sd) ? sd : resolve(base, sd);
  if (config.tftp.root && !isAbsolute(config.tftp.root)) config.tftp.root = resolve(base, config.tftp.root);
  let serverIp = '';
  let serverProblem = '';
  try { serverIp = serverAddress(config, selfIp); } catch (e) { serverProblem = (e as Error).message; }
  return {
    config, stateDir, root: tftpRoot(config, stateDir), serverProblem,
    server: {serverIp: serverIp || '0.0.0.0', httpPort: config.http.port, httpEnabled: config.http.enabled, parentUrl: config.parentUrl},
  };
}

/** The daemon's own IPv4 address (its ipv4 extension), the last fallback for the server address. */
export async function daemonIp(api: ApiClient): Promise<string | undefined> {
  try {
    const {id} = await api.health();
    const self = await api.getNode(id);
    const ip = (self.cfg.extensions.ipv4 as {ip?: unknown} | undefined)?.ip;
    return typeof ip === 'string' ? ip : undefined;
  } catch {
    return undefined;
  }
}

/** Nodes this plugin can boot: those with an ipv4 extension. */
export function bootable(views: NodeView[]): NodeView[] {
  return views.filter((v) => v.cfg.extensions.ipv4 !== undefined);
}
