import {Flags} from '@oclif/core';
import {LocalCommand} from '../cli/base-command.js';
import {LOG_LEVELS} from '../cli/config-keys.js';
import {collectModules, describeConfig, effectiveConfig, type PrintedConfig} from '../daemon/setup.js';

export default class Daemon extends LocalCommand<typeof Daemon> {
  static override summary = 'Run the layercake daemon: store, engine, plugin modules and the HTTP API.';
  static override description = `Settings come from flags, then the config file (layercake.config.yaml, .layercakerc, ... found from the working directory, or --config), then defaults. Every installed plugin contributes its modules through the layercake:modules hook. The API listens on 127.0.0.1:3141 by default; on any other address changing operations need the bearer token kept in <stateDir>/token. Stops cleanly on SIGINT or SIGTERM.`;
  static override examples = [
    {description: 'Run with the defaults (state in ./.layercake, API on 127.0.0.1:3141).', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Listen on every address (the API then needs the token for changes).', command: '<%= config.bin %> <%= command.id %> --listen 0.0.0.0:3141 --state-dir /var/lib/layercake'},
    {description: 'Show the effective configuration: every module, its settings, every mutation and its timeout.', command: '<%= config.bin %> <%= command.id %> --print-config'},
  ];

  static override flags = {
    'state-dir': Flags.string({summary: 'Directory for the cfg store, the token and module files (default ./.layercake).'}),
    listen: Flags.string({summary: 'HOST:PORT for the API (default 127.0.0.1:3141; port 0 picks a free one).'}),
    parent: Flags.string({summary: 'Address of the parent daemon (this daemon then runs as a child).'}),
    id: Flags.string({summary: 'This daemon\'s node id (a UUID; default: generated once and kept in the state dir).'}),
    nodename: Flags.string({summary: 'Name of this daemon\'s own node (default: the host name).'}),
    'join-secret-file': Flags.string({summary: 'A child\'s join secret (hex) for the sync protocol (default: layercake.secret= on the kernel command line).'}),
    freeze: Flags.boolean({summary: 'Start with the engine frozen (it records state but plans and fires nothing).', allowNo: true}),
    'log-level': Flags.string({summary: 'Log level of the structured (pino) log on stdout.', options: [...LOG_LEVELS]}),
    'print-config': Flags.boolean({summary: 'Print the effective configuration with every module and mutation, and exit.'}),
  };

  public async run(): Promise<PrintedConfig | void> {
    const loaded = await this.fileConfig();
    const config = effectiveConfig(this.flags, loaded);
    const report = await collectModules(this.config);
    if (this.flags['print-config']) {
      const printed = describeConfig(config, report, loaded.filepath);
      if (!this.jsonEnabled()) {
        const {stringify} = await import('yaml'); // only here: a daemon's start need not load the YAML writer
        this.log(stringify(printed, {lineWidth: 0}).trimEnd());
      }
      return printed;
    }
    for (const f of report.failures) this.warn(`plugin ${f.plugin} failed to contribute its modules: ${f.error}`);
    // Loaded here, not at the top: every other command would otherwise pay for fastify and the engine.
    const {startDaemon} = await import('../daemon/daemon.js');
    const daemon = await startDaemon({config, modules: report.modules});
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        daemon.logger.info({signal}, 'stopping');
        daemon.stop().then(
          () => { daemon.logger.info('stopped'); resolve(); },
          (error: unknown) => { daemon.logger.error({err: error}, 'unclean stop'); process.exitCode = 1; resolve(); },
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  }
}
