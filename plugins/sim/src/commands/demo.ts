import {Flags} from '@oclif/core';
import {CliError, defaultSocketPath, LocalCommand, socketLive} from '@layercake/sdk/cli';
import {collectModules} from '@layercake/sdk/embed';
import {layer0BootRoot, runVmDemo, type VmDemoResult} from '@layercake/plugin-vm';
import {startCluster, type SimulatedCluster} from '../cluster.js';
import {convergence, renderStatus, type Convergence} from '../status.js';

export interface DemoResult {
  nodes: number;
  converged: number;
  /** Nodes the engine gave up on (with --faults: the one whose BMC never answers); `node why` says why. */
  givenUp: string[];
  seconds: number;
  api: string;
}

export default class Demo extends LocalCommand<typeof Demo> {
  static override summary = 'Run a simulated cluster against the real daemon and watch it converge.';
  static override description = `Starts the layercake daemon (engine, pxe, sync, imageset: the real code) and a world of simulated machines on loopback. Each machine powers on through its simulated BMC, gets its lease from the pxe plugin's DHCP server, fetches its boot script, starts a real child agent that phones home over the sync protocol, and runs its Layer1 image in a simulated ImageAPI. It keeps running so that other commands (node list, node why, watch, power off n03, image roll) work against it from another terminal; Ctrl-C stops everything and removes what it made.`;
  static override examples = [
    {description: '16 nodes; in another terminal try `layercake node list` and `layercake watch`.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'With faults: some machines hang on first boot (recovered by a power cycle), one BMC never answers.', command: '<%= config.bin %> <%= command.id %> --faults'},
    {description: 'Converge 32 nodes and exit (for scripts and CI).', command: '<%= config.bin %> <%= command.id %> --nodes 32 --exit --json'},
    {description: 'Two real virtual machines (qemu, network boot, IPMI BMCs) instead of simulated ones; needs root, qemu-system-x86, openipmi.', command: 'sudo <%= config.bin %> <%= command.id %> --vms 2'},
  ];

  static override flags = {
    nodes: Flags.integer({summary: 'How many simulated machines.', default: 16, min: 1, max: 10_000}),
    faults: Flags.boolean({summary: 'Inject faults: hangs on first boot, a BMC that never answers.', default: false}),
    listen: Flags.string({summary: 'HOST:PORT of the daemon\'s API (other terminals reach it there).', default: '127.0.0.1:3141'}),
    exit: Flags.boolean({summary: 'Exit once every node has converged (or --timeout passes) instead of running on.', default: false}),
    timeout: Flags.integer({summary: 'With --exit: give up after this many seconds (exit 1).', default: 300}),
    'time-scale': Flags.custom<number>({
      summary: 'Multiply every simulated delay and timer by this (0.25: the same story four times faster).',
      description: 'Scales the simulated BMC and POST delays and the timers the demo gives the daemon: sync hello and dead intervals, the BMC timeout, power polling, boot and power timeouts, retry backoff (docs/sim.md). Tests use a fraction; 1 is what the demo shows.',
      default: 1, helpValue: '<factor>',
      parse: async (input) => timeScale(input),
    })(),
    vms: Flags.integer({
      summary: 'Boot N qemu virtual machines instead of simulated ones (2 when N is left out).',
      description: 'Each VM has its own OpenIPMI BMC and boots Layer0 from the network (stock iPXE ROM) off the real daemon, all in a network namespace of their own, then runs the demo Layer1 image demo:v1 (an sshd: try layercake exec n01 -- cat /etc/layercake-image). Layer0 and the demo images are built first, or reused when up to date. Needs root, qemu-system-x86, openipmi and ipmitool. See docs/vms.md.',
      min: 1, max: 64,
    }),
    memory: Flags.integer({summary: 'With --vms: memory per VM in MiB.', default: 1024, min: 256}),
    'boot-root': Flags.string({summary: 'With --vms: boot this already built Layer0 (a pxe boot root holding amd64/vmlinuz and the layer0-*.img) instead of building it.'}),
    accel: Flags.string({summary: 'With --vms: force the accelerator (default: KVM when a probe shows a KVM guest runs here, else TCG).', options: ['kvm', 'tcg']}),
  };

  /** `--vms` alone means two VMs: oclif flags take a value, so a bare --vms gets its default here. */
  public override async init(): Promise<void> {
    const at = this.argv.indexOf('--vms');
    if (at >= 0 && !/^\d+$/.test(this.argv[at + 1] ?? '')) this.argv.splice(at + 1, 0, '2');
    await super.init();
  }

  public async run(): Promise<DemoResult | VmDemoResult> {
    const {flags} = this;
    if (flags.vms) return this.runVms(flags.vms);
    const {modules, failures} = await collectModules(this.config);
    for (const f of failures) this.warn(`plugin ${f.plugin} failed to contribute its modules: ${f.error}`);
    const started = Date.now();
    let cluster: SimulatedCluster;
    try {
      // From a few hundred machines the world gets processes of its own, so the daemon keeps a core.
      const worldProcesses = flags.nodes >= 200 ? 2 : 0;
      // Other terminals find the demo on the default local socket, unless another daemon has it already.
      const socket = defaultSocketPath();
      const mine = socket && !await socketLive(socket) ? socket : 'private';
      cluster = await startCluster({nodes: flags.nodes, faults: flags.faults, modules, listen: flags.listen, socket: mine, worldProcesses, cliRoot: this.config.root, timeScale: flags['time-scale']});
    } catch (error) {
      const e = error as Error & {code?: string};
      if (e.code === 'EADDRINUSE' || /EADDRINUSE/.test(e.message)) {
        throw new CliError(`${flags.listen} is in use`, {code: 'LC_ERR_LISTEN_EADDRINUSE', hint: 'another daemon or demo listens there: stop it, or run the demo with --listen 127.0.0.1:0'});
      }
      throw error;
    }
    // The local socket needs no token; TCP clients need the demo's token (its state dir is temporary).
    const socketPath = cluster.daemon.socketPath!;
    const api = `unix:${socketPath}`;
    const interactive = Boolean(process.stdout.isTTY) && !this.jsonEnabled();
    if (!this.jsonEnabled()) {
      this.log(`layercake demo: ${flags.nodes} simulated machines${flags.faults ? ' with faults' : ''}; daemon API at ${api} and http://${cluster.daemon.listenAddress} (token in ${cluster.daemon.stateDir}/token)`);
      const url = socketPath === defaultSocketPath() ? '' : ` --url ${api}`;
      if (url) this.log(`Another daemon has the default socket ${defaultSocketPath()}: this demo listens on ${socketPath}.`);
      this.log(`In another terminal: layercake node list${url}   (watch, node why n03, power off n03, image roll ...)`);
    }
    cluster.daemon.store.apply(cluster.nodes, {source: 'demo'});
    let stopping = false;
    const stop = async (code: number) => {
      if (stopping) return;
      stopping = true;
      clearInterval(ticker);
      stopWatching();
      await cluster.stop();
      process.exitCode = code;
    };
    let last: Convergence = convergence(cluster);
    let reported = false;
    const tick = () => {
      last = convergence(cluster);
      const elapsed = (Date.now() - started) / 1000;
      if (interactive) process.stdout.write(`\u001B[H\u001B[2J${renderStatus(cluster, last, elapsed)}\n(Ctrl-C stops the demo)\n`);
      else if (!this.jsonEnabled()) this.log(`${elapsed.toFixed(0).padStart(4)} s  ${last.summary}`);
      if (last.done && !reported) {
        reported = true;
        if (!interactive && !this.jsonEnabled()) {
          this.log(last.unrecoverable.length
            ? `${last.converged} of ${last.expected} nodes converged in ${elapsed.toFixed(1)} s; the engine gave up on ${last.unrecoverable.join(', ')} (layercake node why ${last.unrecoverable[0]} --url ${api})`
            : `all ${last.expected} nodes converged in ${elapsed.toFixed(1)} s`);
        }
      }
    };
    const ticker = setInterval(tick, interactive ? 500 : 2000);
    let stopWatching = () => {};
    tick();
    await new Promise<void>((resolve) => {
      const finish = (code: number) => void stop(code).then(resolve);
      process.once('SIGINT', () => finish(0));
      process.once('SIGTERM', () => finish(0));
      if (flags.exit) {
        // Done is checked as the store changes, not on the display's tick: --exit ends once it holds.
        const end = () => {
          tick(); // the last status line, and `last` for the result
          finish(last.done ? 0 : 1);
        };
        const unwatch = whenDone(cluster, end);
        const limit = setTimeout(end, flags.timeout * 1000 - (Date.now() - started));
        stopWatching = () => {
          unwatch();
          clearTimeout(limit);
        };
      }
    });
    const result = {nodes: flags.nodes, converged: last.converged, givenUp: last.unrecoverable, seconds: +((Date.now() - started) / 1000).toFixed(1), api};
    if (flags.exit && !last.done) this.error(`only ${last.converged} of ${last.expected} nodes converged within ${flags.timeout} s`, {exit: 1});
    return result;
  }

  private async runVms(vms: number): Promise<VmDemoResult> {
    const {flags} = this;
    const json = this.jsonEnabled();
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    try {
      const result = await runVmDemo({
        vms, cliRoot: this.config.root, memoryMb: flags.memory, accel: flags.accel as 'kvm' | 'tcg' | undefined,
        exit: flags.exit, timeoutS: flags.timeout, stopped,
        interactive: Boolean(process.stdout.isTTY) && !json,
        log: (line) => (json ? process.stderr.write(`${line}\n`) : this.log(line)),
        layer0: (log) => (flags['boot-root'] ? Promise.resolve(flags['boot-root']) : layer0BootRoot(log, this.config.root)),
      });
      if (flags.exit && result.converged < vms) {
        throw new CliError(`only ${result.converged} of ${vms} VMs ran their image (image set ACTIVE) within ${flags.timeout} s`, {code: 'LC_ERR_NOT_CONVERGED', hint: 'read the consoles (layercake console NODE) and docs/vms.md, "Troubleshooting"'});
      }
      return result;
    } catch (error) {
      if ((error as {oclif?: unknown}).oclif || error instanceof CliError) throw error;
      throw new CliError(`demo --vms: ${(error as Error).message}`, {code: 'LC_ERR_VM_LAB'});
    }
  }
}

/** A --time-scale value: a number above 0 (a bad one is a usage error, exit 2). */
function timeScale(input: string): number {
  const scale = Number(input);
  if (scale > 0 && Number.isFinite(scale)) return scale;
  throw new CliError(`--time-scale ${input}: expected a number above 0`, {code: 'LC_ERR_USAGE', exit: 2, hint: 'give a factor such as 0.25 (four times faster) or 1 (the default)'});
}

/**
 * Calls `done` once every node has converged or been given up, checking 50 ms after a change of the
 * daemon's store (one check per burst), and every second in case the last step raised no event of its
 * own; returns how to stop watching.
 */
function whenDone(cluster: SimulatedCluster, done: () => void): () => void {
  let pending: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true; // an event already queued for us may still arrive: it must not schedule another check
    off();
    clearInterval(fallback);
    clearTimeout(pending);
  };
  const check = () => {
    pending = undefined;
    if (stopped || !convergence(cluster).done) return;
    stop();
    done();
  };
  const off = cluster.daemon.store.events.subscribe({}, () => {
    if (!stopped) pending ??= setTimeout(check, 50);
  });
  const fallback = setInterval(check, 1000);
  pending = setTimeout(check, 50); // never at once: the caller gets its stop function first
  return stop;
}
