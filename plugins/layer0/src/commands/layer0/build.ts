import {join} from 'node:path';
import {Flags} from '@oclif/core';
import {CliError, LocalCommand, renderTable} from '@layercake/sdk/cli';
import {localPxe} from '@layercake/plugin-pxe';
import {buildSteps, type BuildResult} from '../../build/build.js';
import {agentSettings, defaultArch} from '../../build/cluster.js';
import {findInputs, type Requirement} from '../../build/inputs.js';
import {moduleHooksOf} from '../../build/hooks.js';
import {headKeys} from '../../build/keys.js';
import {DEFAULT_MODULES} from '../../build/kmod.js';

export interface CheckResult {
  ok: boolean;
  requirements: Requirement[];
}

export default class Layer0Build extends LocalCommand<typeof Layer0Build> {
  static override summary = 'Build Layer0 (kernel, base, kmod and config initrds) into the network-boot root.';
  static override description = `Layer0 is the RAM image every node boots from the network: busybox init, the layercake agent (a child daemon with the sync and imageset modules), the ImageAPI service, dropbear sshd on port 2022, and the kernel modules for common NICs and image mounts. Writes vmlinuz, layer0-base.img, layer0-kmod.img and layer0-config.img to <boot root>/<arch>/, where the pxe plugin finds them (boot root: --out, else modules.pxe.tftp.root of the config file, else <stateDir>/pxe/tftp). Inputs come from this host: the newest Debian kernel installed (or --kernel), /bin/busybox (busybox-static), /usr/sbin/dropbear (dropbear-bin), and the Node.js runtime running this command. The config initrd carries cluster settings (the parent's sync port and timers) and the head's public SSH keys (~/.ssh/id_ed25519.pub and the like; an ed25519 pair is generated there when there is none). An artifact whose inputs have not changed is kept (--force rebuilds); the same inputs give byte-identical files. See docs/layer0.md.`;
  static override examples = [
    {description: 'Build into the pxe boot root of the daemon\'s config.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Check that every input is installed (names the Debian package that brings what is missing).', command: '<%= config.bin %> <%= command.id %> --check'},
    {description: 'Add drivers (with their dependencies) and write elsewhere.', command: '<%= config.bin %> <%= command.id %> --modules bnxt_en,ice --out /srv/boot'},
    {description: 'Another installed kernel, rebuilt from scratch, as JSON (files, sizes, sha256).', command: '<%= config.bin %> <%= command.id %> --kernel 6.1.0-57-amd64 --force --json'},
  ];

  static override flags = {
    kernel: Flags.string({summary: 'Kernel: an installed VERSION (/boot/vmlinuz-VERSION and /lib/modules/VERSION) or a PATH to a vmlinuz-VERSION file (default: the newest installed).'}),
    modules: Flags.string({summary: 'More kernel modules to carry, comma-separated (their dependencies are added).', multiple: true, delimiter: ','}),
    out: Flags.string({summary: 'Boot root to write into (the files go to OUT/<arch>/; default: the pxe plugin\'s boot root).'}),
    arch: Flags.string({summary: 'Architecture directory under the boot root, as nodes\' `arch` names it.', default: defaultArch()}),
    'authorized-keys': Flags.string({summary: 'Public keys to authorize for root on port 2022 (default: the head\'s ~/.ssh/id_*.pub, generated if none).'}),
    'state-dir': Flags.string({summary: 'The daemon\'s state directory (for the default boot root).'}),
    'agent-log-level': Flags.string({summary: 'Log level of the nodes\' agents (their log stays on the node: logread).', options: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], default: 'info'}),
    force: Flags.boolean({summary: 'Rebuild every artifact even if its inputs have not changed.'}),
    check: Flags.boolean({summary: 'Only check that every input is there; exit 1 naming what is missing and its Debian package.'}),
  };

  public async run(): Promise<BuildResult | CheckResult> {
    const {flags} = this;
    const found = findInputs({kernel: flags.kernel});
    if (flags.check) return this.check(found.requirements);
    const missing = found.requirements.filter((r) => !r.ok);
    if (!found.inputs || missing.length) {
      throw new CliError(`Layer0 cannot be built: ${missing.map(describeMissing).join('; ')}`, {
        code: 'LC_ERR_LAYER0_INPUT_MISSING', hint: `apt-get install ${[...new Set(missing.map((r) => r.package))].join(' ')} (or: layercake layer0 build --check)`,
      });
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(flags.arch)) throw new CliError(`--arch "${flags.arch}" is not a directory name`, {code: 'LC_ERR_USAGE', exit: 2});
    const loaded = await this.fileConfig();
    const root = flags.out ?? localPxe({file: loaded as never, stateDir: flags['state-dir']}).root;
    const dir = join(root, flags.arch);
    let keys;
    try { keys = headKeys({file: flags['authorized-keys']}); } catch (error) {
      throw new CliError((error as Error).message, {code: 'LC_ERR_LAYER0_KEYS', exit: 2, hint: 'give --authorized-keys FILE with OpenSSH public keys'});
    }
    if (keys.generated && !this.jsonEnabled()) this.log(`Generated the head's SSH key pair ${keys.generated} (Layer0's sshd on port 2022 accepts it; layercake exec uses it).`);
    const {steps, result, cleanup} = buildSteps({
      inputs: found.inputs, dir, force: flags.force, moduleHooks: moduleHooksOf(this.config),
      modules: [...DEFAULT_MODULES, ...(flags.modules ?? []).map((m) => m.trim()).filter(Boolean)],
      cluster: {agent: agentSettings(loaded.config as Record<string, unknown>, {logLevel: flags['agent-log-level']}), authorizedKeys: keys.authorizedKeys},
    });
    try {
      await this.runSteps(steps);
    } catch (error) {
      throw new CliError(`Layer0 build failed: ${(error as Error).message}`, {code: 'LC_ERR_LAYER0_BUILD', hint: 'layercake layer0 build --check names missing inputs; nothing in the boot root was changed by the failed step'});
    } finally {
      await cleanup();
    }
    const built = result();
    if (!this.jsonEnabled()) {
      this.log(renderTable(built.files, [
        {header: 'FILE', get: (f) => f.name},
        {header: 'SIZE', get: (f) => `${(f.size / 1e6).toFixed(1)} MB`},
        {header: 'BUILT', get: (f) => (f.built ? 'yes' : 'unchanged')},
        {header: 'SHA256', get: (f) => f.sha256.slice(0, 16)},
      ]));
      this.log(`Layer0 for kernel ${built.kernel} (${built.modules.count} modules) in ${dir} (${built.seconds.toFixed(1)} s)`);
    }
    return built;
  }

  private check(requirements: Requirement[]): CheckResult {
    const ok = requirements.every((r) => r.ok);
    if (!this.jsonEnabled()) {
      this.log(renderTable(requirements, [
        {header: 'INPUT', get: (r) => r.what},
        {header: 'STATUS', get: (r) => (r.ok ? 'OK' : 'MISSING')},
        {header: 'PATH', get: (r) => r.path},
        {header: 'PACKAGE', get: (r) => r.package},
        {header: 'DETAIL', get: (r) => r.detail ?? ''},
      ]));
      const missing = requirements.filter((r) => !r.ok);
      this.log(ok ? 'Every input of a Layer0 build is here.' : `Missing: install them with: apt-get install ${[...new Set(missing.map((r) => r.package))].join(' ')}`);
    }
    if (!ok) process.exitCode = 1;
    return {ok, requirements};
  }

  /** Progress for a person at a terminal (listr2); plain lines otherwise; nothing with --json. */
  private async runSteps(steps: {title: string; run: () => Promise<string | void>}[]): Promise<void> {
    if (this.jsonEnabled() || !process.stdout.isTTY) {
      for (const s of steps) {
        const note = await s.run();
        if (!this.jsonEnabled() && note) this.log(`${s.title}: ${note}`);
      }
      return;
    }
    const {Listr} = await import('listr2');
    await new Listr(steps.map((s) => ({
      title: s.title,
      task: async (_ctx: unknown, task: {title: string}) => {
        const note = await s.run();
        if (note) task.title = `${s.title}: ${note}`;
      },
    })), {exitOnError: true, rendererOptions: {collapseErrors: false}}).run();
  }
}

function describeMissing(r: Requirement): string {
  return `${r.what} (${r.path}${r.detail ? `: ${r.detail}` : ''}; Debian package ${r.package})`;
}
