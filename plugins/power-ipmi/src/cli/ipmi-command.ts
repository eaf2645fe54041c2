/**
 * The base of the `layercake ipmi ...` commands: they read the named nodes from the daemon, then talk
 * to the BMCs directly from where the command runs (the daemon's API has no route for a plugin's
 * own actions). Since the API never reveals `ipmi.password`, the password comes from
 * --password-file or IPMI_PASSWORD, else from each node's ipmi.passwordFile read locally.
 */
import {readFile} from 'node:fs/promises';
import {resolve} from 'node:path';
import {Flags, type Command} from '@oclif/core';
import type {NodeView} from '@layercake/sdk';
import {BaseCommand, CliError, durationFlag, renderTable, resolveTargets} from '@layercake/sdk/cli';
import {runAction, type Action, type NodeResult} from '../actions.js';
import {BmcClient} from '../bmc/client.js';
import {DRIVERS, type DriverName} from '../extension.js';

export abstract class IpmiCommand<T extends typeof Command> extends BaseCommand<T> {
  static override strict = false;

  static override flags = {
    all: Flags.boolean({summary: 'Every node with platform ipmi.', default: false}),
    'password-file': Flags.string({summary: 'A file whose first line is the BMC password of every named node (else IPMI_PASSWORD, else each node\'s ipmi.passwordFile).'}),
    driver: Flags.string({summary: 'Use this driver instead of each node\'s (native or ipmitool).', options: [...DRIVERS]}),
    concurrency: Flags.integer({summary: 'BMC requests in flight at once.', default: 50, min: 1}),
    timeout: durationFlag({summary: 'How long to wait for each answer from a BMC.', default: '1s'}),
    retries: Flags.integer({summary: 'How many times a request is sent again.', default: 2, min: 0}),
    'state-dir': Flags.string({summary: 'The daemon\'s state directory, for relative ipmi.passwordFile paths (default: the config file\'s stateDir, else .layercake).'}),
  };

  /** Runs the action on the targets and prints one row per node; a failed node makes the exit code 1. */
  protected async perform(expressions: string[], action: Action, columns: 'status' | 'test' | 'bootdev'): Promise<{nodes: NodeResult[]}> {
    const flags = this.flags as Record<string, unknown> & {all: boolean; concurrency: number; timeout: number; retries: number; driver?: DriverName};
    const {views} = await resolveTargets(await this.api(), expressions, {all: flags.all});
    const targets = flags.all ? views.filter((v) => v.cfg.platform === 'ipmi') : views;
    if (targets.length === 0) throw new CliError('no node with platform ipmi', {code: 'LC_ERR_TARGETS', hint: 'set platform: ipmi and an ipmi extension on the nodes (layercake node update)'});
    const attemptTimeout = flags.timeout;
    const client = new BmcClient({
      driver: flags.driver ?? 'native', concurrency: flags.concurrency, attemptTimeout, retries: flags.retries,
      sessionIdle: 0, breaker: {failures: Number.MAX_SAFE_INTEGER, cooldown: 0},
    });
    const chosen = flags.driver ? targets.map((v) => withDriver(v, flags.driver!)) : targets;
    let nodes: NodeResult[];
    try {
      nodes = await runAction(chosen, action, client, {password: await this.password(), baseDir: await this.baseDir()});
    } finally {
      await client.close();
    }
    if (!this.jsonEnabled()) this.log(table(nodes, columns));
    if (nodes.some((n) => !n.ok)) process.exitCode = 1;
    return {nodes};
  }

  private async password(): Promise<string | undefined> {
    const file = (this.flags as {'password-file'?: string})['password-file'];
    if (file) {
      try {
        const first = (await readFile(file, 'utf8')).split(/\r?\n/)[0];
        if (first) return first;
      } catch (error) {
        throw new CliError(`--password-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {code: 'LC_ERR_USAGE', exit: 2});
      }
      throw new CliError(`--password-file ${file} is empty`, {code: 'LC_ERR_USAGE', exit: 2});
    }
    return process.env.IPMI_PASSWORD || undefined;
  }

  private async baseDir(): Promise<string> {
    const flag = (this.flags as {'state-dir'?: string})['state-dir'];
    const fromFile = (await this.fileConfig()).config.stateDir;
    return resolve(flag ?? (typeof fromFile === 'string' ? fromFile : '.layercake'), 'ipmi');
  }
}

function withDriver(view: NodeView, driver: DriverName): NodeView {
  const ipmi = {...(view.cfg.extensions.ipmi ?? {}), driver};
  return {...view, cfg: {...view.cfg, extensions: {...view.cfg.extensions, ipmi}}};
}

function table(nodes: NodeResult[], columns: 'status' | 'test' | 'bootdev'): string {
  const outcome = (n: NodeResult): string => {
    if (n.ok) return columns === 'bootdev' ? 'set' : columns === 'test' ? `ok (power ${n.power})` : n.power ?? '';
    return 'FAILED';
  };
  return renderTable(nodes, [
    {header: 'NODE', get: (n) => n.nodename},
    {header: 'BMC', get: (n) => n.bmc || '-'},
    {header: columns === 'status' ? 'POWER' : 'RESULT', get: outcome},
    ...(columns === 'status' ? [{header: 'DAEMON', get: (n: NodeResult) => n.physState}] : []),
    {header: 'MS', get: (n) => String(n.ms), right: true},
    {header: 'DETAIL', get: (n) => n.error?.message ?? ''},
  ]);
}
