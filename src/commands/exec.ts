import {Flags} from '@oclif/core';
import {BaseCommand} from '../cli/base-command.js';
import {bold, dim, red} from '../cli/color.js';
import {CliError} from '../cli/errors.js';
import type {ExecResult} from '../cli/exec.js';
import {resolveTargets} from '../cli/targets.js';
import {durationFlag} from '../cli/duration-flag.js';

export interface ExecCommandResult {
  command: string;
  results: ExecResult[];
  skipped: {nodename: string; reason: string}[];
}

export default class Exec extends BaseCommand<typeof Exec> {
  static override summary = 'Run a command on nodes over SSH, in parallel; only nodes that are up (runState SYNC).';
  static override description = `Each node is reached at its ipv4.ip (or --address-url), else by its nodename. Output lines are prefixed with the node's name as they arrive. The exit status is non-zero when the command failed, or could not run, on any node. Host keys are checked against ~/.ssh/known_hosts when it knows the host; a changed key is refused.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> "n[01-16]" -- uptime',
    {description: 'As another user, 64 at a time.', command: '<%= config.bin %> <%= command.id %> --all --user admin --parallel 64 -- systemctl is-active layercake'},
  ];

  static override strict = false;
  static override usage = '<%= command.id %> NODES... | --all -- COMMAND [ARGS...]';
  static override flags = {
    all: Flags.boolean({summary: 'Every node that is up.'}),
    user: Flags.string({char: 'u', summary: 'Remote user.', default: 'root'}),
    port: Flags.integer({char: 'p', summary: 'SSH port.', default: 22}),
    identity: Flags.string({char: 'i', summary: 'Private key file (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa; the ssh-agent too).'}),
    parallel: Flags.integer({summary: 'How many nodes at once.', default: 32, min: 1}),
    timeout: durationFlag({summary: 'Time limit per node (connect and run).', default: '60s'}),
    'address-url': Flags.string({summary: 'URL of the address to connect to.', default: 'ipv4.ip'}),
    'known-hosts': Flags.string({summary: 'known_hosts file to check host keys against (default ~/.ssh/known_hosts).'}),
  };

  public async run(): Promise<ExecCommandResult> {
    // ssh2 is loaded only by the command that needs it.
    const {execAll, execTargets} = await import('../cli/exec.js');
    const dashdash = this.argv.indexOf('--');
    const words = dashdash === -1 ? [] : this.argv.slice(dashdash + 1);
    if (words.length === 0) throw new CliError('no command given', {code: 'LC_ERR_USAGE', exit: 2, hint: 'put the command after --, e.g. layercake exec n01 -- uptime'});
    const command = words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)).join(' ');
    const nodeArgs = this.argvRest.slice(0, this.argvRest.length - words.length);
    const {views} = await resolveTargets(await this.api(), nodeArgs, {all: this.flags.all});
    const {targets, skipped} = execTargets(views, {addressUrl: this.flags['address-url'], port: this.flags.port});
    if (targets.length === 0) {
      const why = skipped.map((s) => `${s.nodename} ${s.reason}`).join('; ');
      throw new CliError(`ran nowhere: ${why}`, {code: 'LC_ERR_EXEC_NOWHERE', hint: 'exec runs on nodes that are up (dsc runState SYNC): bring them up with layercake power on NODES --wait'});
    }
    for (const s of skipped) this.logToStderr(`${dim(`${s.nodename}: skipped, ${s.reason}`)}`);
    const timeoutMs = this.flags.timeout;
    const width = Math.max(0, ...targets.map((t) => t.nodename.length));
    const results = await execAll(targets, command, {
      user: this.flags.user, port: this.flags.port, identities: this.flags.identity ? [this.flags.identity] : undefined,
      parallel: this.flags.parallel, timeoutMs, knownHosts: this.flags['known-hosts'],
      onLine: (t, stream, line) => {
        const prefix = bold(t.nodename.padEnd(width));
        if (stream === 'stdout') this.log(`${prefix}  ${line}`);
        else this.logToStderr(`${prefix}  ${line}`);
      },
    });
    const failed = results.filter((r) => r.exitCode !== 0);
    for (const r of failed) this.logToStderr(red(`${r.nodename}: ${r.error ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`)}`));
    if (failed.length) process.exitCode = 1;
    this.logToStderr(dim(`${results.length - failed.length} of ${results.length} succeeded${skipped.length ? `, ${skipped.length} skipped` : ''}`));
    return {command, results, skipped};
  }
}
