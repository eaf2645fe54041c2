/**
 * The layercake agent as Layer0 carries it: the two commands a node runs, bundled by `layer0 build`
 * (esbuild) into one file with only the code they reach. They call what the oclif commands call:
 *   layercake daemon ...          the child agent (`layercake daemon`: effective config, sync + imageset modules)
 *   layercake imageapi serve ...  the node's ImageAPI service (`layercake imageapi serve`)
 * The full CLI (oclif, every plugin, help) stays on the head: a node only runs these.
 */
import {readFileSync} from 'node:fs';
import {parseArgs} from 'node:util';
import {parseDaemonConfig, startDaemon, syncModule, type ModuleSpec} from '@layercake/sdk';
import {ImageApiService, imagesetModule, startServer} from '@layercake/plugin-imageapi';

const USAGE = `usage: layercake daemon [--config FILE.json] [--state-dir DIR] [--parent udp://IP:PORT] [--id UUID]
                        [--nodename NAME] [--join-secret-file FILE] [--log-level LEVEL]
       layercake imageapi serve [--listen HOST:PORT] [--state-dir DIR] [--simulate] [--purge-on-exit] [--verbose]
Layer0's agent: the commands a node runs (the full CLI is on the head node; see docs/layer0.md).`;

/** Resolves once SIGINT or SIGTERM arrives (the second one is ignored: the first is being handled). */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function daemon(argv: string[]): Promise<void> {
  const {values} = parseArgs({args: argv, strict: true, options: {
    config: {type: 'string'}, 'state-dir': {type: 'string'}, parent: {type: 'string'}, id: {type: 'string'},
    nodename: {type: 'string'}, 'join-secret-file': {type: 'string'}, 'log-level': {type: 'string'},
  }});
  const file = values.config ? JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown> : {};
  const flags = Object.fromEntries(Object.entries({
    stateDir: values['state-dir'], parent: values.parent, id: values.id, nodename: values.nodename, logLevel: values['log-level'],
  }).filter(([, v]) => v !== undefined));
  const sync = {...(file.sync as Record<string, unknown> | undefined), ...(values['join-secret-file'] ? {joinSecretFile: values['join-secret-file']} : {})};
  // As `layercake daemon` merges them: flags over the file over the defaults; a node's agent serves no API.
  const config = parseDaemonConfig({...file, ...flags, sync, listen: 'none'}, values.config ? `config ${values.config}` : 'config');
  const agent = await startDaemon({config, modules: [syncModule, imagesetModule as unknown as ModuleSpec]});
  const signal = await stopSignal();
  agent.logger.info({signal}, 'stopping');
  await agent.stop();
  agent.logger.info('stopped');
}

async function imageapi(argv: string[]): Promise<void> {
  const {values} = parseArgs({args: argv, strict: true, options: {
    listen: {type: 'string', default: '127.0.0.1:8080'}, 'state-dir': {type: 'string', default: '/var/lib/layercake/imageapi'},
    simulate: {type: 'boolean'}, 'purge-on-exit': {type: 'boolean'}, verbose: {type: 'boolean', short: 'v'},
  }});
  const log = {info: (m: string) => console.log(m), warn: (m: string) => console.warn(`warning: ${m}`), error: (m: string) => console.error(`error: ${m}`)};
  const service = await ImageApiService.open({stateDir: values['state-dir'], simulate: values.simulate, log});
  const server = await startServer(service, {listen: values.listen, logger: values.verbose});
  console.log(`ImageAPI listening on ${server.url}/imageapi/v1, state in ${service.stateDir}`);
  await stopSignal();
  await server.close();
  await service.close({purge: values['purge-on-exit']});
}

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  if (command === 'daemon') return daemon(argv.slice(1));
  if (command === 'imageapi' && sub === 'serve') return imageapi(rest);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  throw new Error(`unknown command "${argv.join(' ')}"\n${USAGE}`);
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (error: Error) => {
    console.error(`layercake: ${error.message}`);
    process.exit(1);
  },
);
