/**
 * From a node's ipmi extension to a BmcTarget: check it is complete and fetch the password (inline,
 * or the first line of `passwordFile`). Errors name the node and the field, never the password.
 */
import {readFile, stat} from 'node:fs/promises';
import {isAbsolute, resolve} from 'node:path';
import {bmcLabel, IpmiError} from './errors.js';
import {ipmiNodeSchema, type IpmiNode} from './extension.js';
import type {BmcTarget} from './drivers/driver.js';

export interface ResolveOptions {
  /** Where relative password files are looked up (`<stateDir>/ipmi` in the daemon). */
  baseDir?: string;
  /** Told once per file when a password file can be read by group or others. */
  warn?: (message: string) => void;
}

const warnedFiles = new Set<string>();

/** Validates a node's raw extension value (as stored) and applies defaults. */
export function parseIpmiNode(nodename: string, raw: unknown): IpmiNode {
  const r = ipmiNodeSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new IpmiError('config', '', `node ${nodename}: ipmi.${issue.path.join('.')}: ${issue.message}`);
  }
  return r.data;
}

export async function resolveTarget(nodename: string, ext: IpmiNode, opts: ResolveOptions = {}): Promise<BmcTarget> {
  if (!ext.host) throw new IpmiError('config', '', `node ${nodename} has no BMC address (set ipmi.host)`);
  const bmc = bmcLabel(ext.host, ext.port);
  let password = ext.password;
  if (!password) {
    if (!ext.passwordFile) throw new IpmiError('config', bmc, `node ${nodename} has no BMC password (set ipmi.password or ipmi.passwordFile)`);
    password = await readPasswordFile(nodename, bmc, ext.passwordFile, opts);
  }
  return {host: ext.host, port: ext.port, username: ext.username, password, privilege: ext.privilege, cipherSuite: ext.cipherSuite};
}

async function readPasswordFile(nodename: string, bmc: string, file: string, opts: ResolveOptions): Promise<string> {
  const path = isAbsolute(file) || !opts.baseDir ? file : resolve(opts.baseDir, file);
  let text: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0 && opts.warn && !warnedFiles.has(path)) {
      warnedFiles.add(path);
      opts.warn(`BMC password file ${path} can be read by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new IpmiError('config', bmc, `node ${nodename}: cannot read ipmi.passwordFile ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const password = text.split(/\r?\n/)[0];
  if (!password) throw new IpmiError('config', bmc, `node ${nodename}: ipmi.passwordFile ${path} is empty`);
  if (Buffer.byteLength(password) > 20) throw new IpmiError('config', bmc, `node ${nodename}: the password in ${path} is longer than IPMI's 20 bytes`);
  return password;
}
