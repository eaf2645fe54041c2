/**
 * What the `layercake ipmi ...` commands do, without oclif: for each node, find its BMC and
 * credentials, ask the BMC directly (status, boot device, a credentials check), and report one row
 * per node. The commands run on the operator's side, where the daemon's API has redacted the
 * inline passwords: a node's password comes from --password-file / IPMI_PASSWORD, else from its
 * ipmi.passwordFile read locally, else the node is reported as "credentials not available here".
 */
import {setMaxListeners} from 'node:events';
import type {NodeView} from '@layercake/sdk';
import type {BmcClient} from './bmc/client.js';
import {parseIpmiNode, resolveTarget} from './credentials.js';
import {bmcLabel, IpmiError, type IpmiErrorKind} from './errors.js';
import type {BootDevice} from './extension.js';
import type {BmcTarget, PowerState} from './drivers/driver.js';

/** What the API puts in place of a secret. */
export const REDACTED = '(secret)';

export interface CredentialOptions {
  /** A password given by the operator for every node (--password-file, IPMI_PASSWORD). */
  password?: string;
  /** Where relative ipmi.passwordFile paths are looked up. */
  baseDir?: string;
}

export type Action = {kind: 'status'} | {kind: 'test'} | {kind: 'bootdev'; device: BootDevice; efi?: boolean; persistent?: boolean};

export interface NodeResult {
  nodename: string;
  bmc: string;
  ok: boolean;
  /** The BMC's power state (status, test). */
  power?: PowerState;
  /** What the daemon believes (dsc physState), for comparison. */
  physState: string;
  ms: number;
  error?: {kind: IpmiErrorKind; message: string};
}

/** The BMC target for a node as seen through the API. */
export async function cliTarget(view: NodeView, opts: CredentialOptions = {}): Promise<BmcTarget> {
  const name = view.cfg.nodename || view.cfg.id;
  if (view.cfg.platform !== 'ipmi') throw new IpmiError('config', '', `node ${name} has platform "${view.cfg.platform}", not ipmi`);
  const ext = parseIpmiNode(name, view.cfg.extensions.ipmi);
  if (opts.password !== undefined) return resolveTarget(name, {...ext, password: opts.password, passwordFile: ''});
  if (ext.passwordFile) return resolveTarget(name, {...ext, password: ''}, {baseDir: opts.baseDir});
  if (ext.password === REDACTED) {
    throw new IpmiError('config', ext.host ? bmcLabel(ext.host, ext.port) : '',
      `node ${name}: the BMC password is held by the daemon (ipmi.password) and the API does not reveal it; ` +
      'give it with --password-file or IPMI_PASSWORD, or keep it in an ipmi.passwordFile readable here');
  }
  return resolveTarget(name, ext, {baseDir: opts.baseDir});
}

/** Runs the action on every node at once (the client's limiter bounds the fan-out). */
export async function runAction(views: NodeView[], action: Action, client: BmcClient, opts: CredentialOptions & {signal?: AbortSignal} = {}): Promise<NodeResult[]> {
  const signal = opts.signal ?? new AbortController().signal;
  setMaxListeners(0, signal);
  return Promise.all(views.map(async (view): Promise<NodeResult> => {
    const nodename = view.cfg.nodename || view.cfg.id;
    const raw = view.cfg.extensions.ipmi as {host?: unknown; port?: unknown} | undefined;
    let bmc = typeof raw?.host === 'string' && raw.host ? bmcLabel(raw.host, typeof raw.port === 'number' ? raw.port : 623) : '';
    const started = performance.now();
    const result = (fields: Partial<NodeResult>): NodeResult => ({nodename, bmc, ok: true, physState: view.dsc.physState, ms: Math.round(performance.now() - started), ...fields});
    try {
      const target = await cliTarget(view, opts);
      bmc = bmcLabel(target.host, target.port);
      const driver = parseIpmiNode(nodename, view.cfg.extensions.ipmi).driver;
      if (action.kind === 'bootdev') {
        await client.bootdev(target, action.device, {efi: action.efi, persistent: action.persistent}, {signal, driver});
        return result({});
      }
      return result({power: await client.status(target, {signal, driver})});
    } catch (error) {
      const e = error instanceof IpmiError ? error : new IpmiError('protocol', bmc, (error as Error).message);
      return result({ok: false, error: {kind: e.kind, message: e.message}});
    }
  }));
}

/** A short explanation of a failed check, for the table's last column. */
export function describeFailure(kind: IpmiErrorKind): string {
  return {
    unreachable: 'BMC unreachable', auth: 'credentials rejected', command: 'command refused', protocol: 'protocol error',
    circuit: 'BMC failing', config: 'not configured', aborted: 'abandoned',
  }[kind];
}
