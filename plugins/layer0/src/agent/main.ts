/**
 * The layercake agent as Layer0 carries it: the commands a node runs, bundled by `layer0 build`
 * (esbuild) into one file with only the code they reach. They call what the oclif commands call:
 *   layercake daemon ...          the child agent (`layercake daemon`: daemon config, the head's modules);
 *                                 its API only on the local socket of agent.json (/run/layercake/api.sock)
 *   layercake imageapi serve ...  the node's ImageAPI service (`layercake imageapi serve`)
 *   layercake busy|free ...       the node's busy flag, for a scheduler's prolog and epilog (`layercake busy`)
 * The full CLI (oclif, prompts, help) stays on the head. The bundle's entry (made by the build) passes
 * the head's `layercake:modules` hooks: the agent plans with every module its parent has (a path to
 * the parent's goal may go through another module's mutation, e.g. imageset/SYNCtoINIT before
 * ipmi/ONtoOFF), and runs only those whose mutations fire on the node.
 */
import {readFileSync} from 'node:fs';
import {parseArgs} from 'node:util';
import {describeBusy, parseDuration, type ModuleSpec} from '@layercake/sdk';
import {ApiClient, busyStatus, defaultSocketPath, setBusy} from '@layercake/sdk/cli';
import {parseDaemonConfig, startDaemon, syncModule} from '@layercake/sdk/embed';
import {ImageApiService, imagesetModule, startServer} from '@layercake/plugin-imageapi';

/** A `layercake:modules` hook module of a plugin, as the bundle imports it. */
export interface ModulesHook {
  default: (this: unknown, options: Record<string, unknown>) => Promise<ModuleSpec[] | undefined>;
}

const USAGE = `usage: layercake daemon [--config FILE.json] [--state-dir DIR] [--parent udp://IP:PORT] [--id UUID]
                        [--nodename NAME] [--join-secret-file FILE] [--log-level LEVEL]
       layercake imageapi serve [--listen HOST:PORT] [--state-dir DIR] [--simulate] [--purge-on-exit] [--verbose] [--debug]
       layercake busy [--reason TEXT] [--for DURATION] [--status] [--json] [--url unix:PATH]
       layercake free [--json] [--url unix:PATH]
Layer0's agent: the commands a node runs (the full CLI is on the head node; see docs/layer0.md).`;

/** Resolves once SIGINT or SIGTERM arrives (the second one is ignored: the first is being handled). */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/** The hooks' modules; sync and imageset are there whatever the head has (a node always runs them). */
async function collectModules(hooks: ModulesHook[]): Promise<ModuleSpec[]> {
  const modules = (await Promise.all(hooks.map((h) => h.default.call({}, {})))).flatMap((m) => m ?? []);
  for (const m of [syncModule, imagesetModule as unknown as ModuleSpec]) if (!modules.some((x) => x.name === m.name)) modules.push(m);
  return modules;
}

async function daemon(argv: string[], hooks: ModulesHook[]): Promise<void> {
  const {values} = parseArgs({args: argv, strict: true, options: {
    config: {type: 'string'}, 'state-dir': {type: 'string'}, parent: {type: 'string'}, id: {type: 'string'},
    nodename: {type: 'string'}, 'join-secret-file': {type: 'string'}, 'log-level': {type: 'string'},
  }});
  const file = values.config ? JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown> : {};
  const flags = Object.fromEntries(Object.entries({
    stateDir: values['state-dir'], parent: values.parent, id: values.id, nodename: values.nodename, logLevel: values['log-level'],
  }).filter(([, v]) => v !== undefined));
  const sync = {...(file.sync as Record<string, unknown> | undefined), ...(values['join-secret-file'] ? {joinSecretFile: values['join-secret-file']} : {})};
  // As `layercake daemon` merges them: flags over the file over the defaults. A node's agent serves its API
  // only on the local socket that agent.json names (api.socket, for `layercake busy|free`), else none.
  const config = parseDaemonConfig({api: {socket: 'none'}, ...file, ...flags, sync, listen: 'none'}, values.config ? `config ${values.config}` : 'config');
  const agent = await startDaemon({config, modules: await collectModules(hooks)});
  const signal = await stopSignal();
  agent.logger.info({signal}, 'stopping');
  await agent.stop();
  agent.logger.info('stopped');
}

async function imageapi(argv: string[]): Promise<void> {
  const {values} = parseArgs({args: argv, strict: true, options: {
    listen: {type: 'string', default: '127.0.0.1:8080'}, 'state-dir': {type: 'string', default: '/var/lib/layercake/imageapi'},
    simulate: {type: 'boolean'}, 'purge-on-exit': {type: 'boolean'}, verbose: {type: 'boolean', short: 'v'}, debug: {type: 'boolean'},
  }});
  const log = {info: (m: string) => console.log(m), warn: (m: string) => console.warn(`warning: ${m}`), error: (m: string) => console.error(`error: ${m}`),
    ...(values.debug ? {debug: (m: string) => console.log(`debug: ${m}`)} : {})};
  const service = await ImageApiService.open({stateDir: values['state-dir'], simulate: values.simulate, log});
  const server = await startServer(service, {listen: values.listen, logger: values.verbose});
  console.log(`ImageAPI listening on ${server.url}/imageapi/v1, state in ${service.stateDir}`);
  const unavailable = Object.entries(service.info().drivers).filter(([, d]) => !d.available).map(([name]) => name);
  if (unavailable.length) console.log(`not available on this node: ${unavailable.join(', ')}`);
  await stopSignal();
  await server.close();
  await service.close({purge: values['purge-on-exit']});
}

/** `layercake busy|free` as the full CLI's commands do it, against the agent's local socket. */
async function busyFree(argv: string[], busy: boolean): Promise<void> {
  const {values} = parseArgs({args: argv, strict: true, options: {
    reason: {type: 'string'}, for: {type: 'string'}, status: {type: 'boolean'}, json: {type: 'boolean'}, url: {type: 'string'},
  }});
  if (!busy && (values.reason || values.for || values.status)) throw new Error('free takes no --reason, --for or --status (layercake busy --status shows the flag)');
  const client = new ApiClient({url: values.url ?? `unix:${defaultSocketPath() ?? '/run/layercake/api.sock'}`});
  const result = values.status ? await busyStatus(client) : await setBusy(client, busy, {reason: values.reason, forMs: values.for ? parseDuration(values.for) : undefined});
  console.log(values.json ? JSON.stringify(result, null, 2) : `${result.nodename || result.id}: ${describeBusy(result)}`);
}

async function main(argv: string[], hooks: ModulesHook[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  if (command === 'daemon') return daemon(argv.slice(1), hooks);
  if (command === 'busy' || command === 'free') return busyFree(argv.slice(1), command === 'busy');
  if (command === 'imageapi' && sub === 'serve') return imageapi(rest);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  throw new Error(`unknown command "${argv.join(' ')}"\n${USAGE}`);
}

/** Runs a command and exits (the bundle's entry calls it with the head's modules hooks). */
export function runAgent(argv: string[], hooks: ModulesHook[]): void {
  main(argv, hooks).then(
    () => process.exit(process.exitCode ?? 0),
    (error: Error) => {
      console.error(`layercake: ${error.message}`);
      process.exit(1);
    },
  );
}
