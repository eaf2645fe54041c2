/**
 * The CLI starts from oclif manifests (written by `npm run build`, scripts/manifest.js): each lists
 * exactly the commands built in its package, a command imports only its own module (and `--version`
 * none), so ssh2, fastify and the daemon stay unloaded where they are not needed, and everything that
 * reads the whole command list (help, tab completion, "did you mean") still sees every plugin's commands.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {join, relative} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {oclifPackages} from '../../scripts/manifest.js';
import {ROOT, sandbox} from '../support/cli.js';

const box = sandbox('lc-manifest-');
test.after(() => box.cleanup());
// The commands below start with a config file beside them, as an operator's do (`layercake init` writes one).
box.write('layercake.config.yaml', {stateDir: 'state', logLevel: 'info', api: {socket: 'none'}});

/** Command ids oclif derives from a package's built command files (dist/commands/a/b.js is `a:b`). */
function builtCommandIds(dir: string): string[] {
  const commands = join(dir, 'dist', 'commands');
  const walk = (d: string): string[] => readdirSync(d, {withFileTypes: true}).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.js') ? [join(d, e.name)] : []);
  return walk(commands).map((f) => relative(commands, f).replace(/\.js$/, '').replace(/\/index$/, '').split('/').join(':')).sort();
}

test('every package has a manifest listing exactly the commands it has built (a stale one fails here)', () => {
  const packages = oclifPackages();
  assert.ok(packages.length >= 7, `the root and the plugins: ${packages.join(', ')}`);
  for (const dir of packages) {
    const file = join(dir, 'oclif.manifest.json');
    assert.ok(existsSync(file), `${relative(ROOT, file) || 'oclif.manifest.json'} is missing: run \`npm run build\``);
    const listed = Object.keys((JSON.parse(readFileSync(file, 'utf8')) as {commands: object}).commands).sort();
    assert.equal(listed, builtCommandIds(dir), `${relative(ROOT, file)} is stale: run \`npm run build\``);
  }
});

// Records every module the CLI resolves, through a module hook loaded before bin/run.js.
const TRACE_HOOKS = 'data:text/javascript,' + encodeURIComponent(
  `import {appendFileSync} from 'node:fs';
   export async function resolve(specifier, context, next) {
     const r = await next(specifier, context);
     appendFileSync(process.env.LC_TRACE_FILE, r.url + '\\n');
     return r;
   }`);
const TRACE = 'data:text/javascript,' + encodeURIComponent(`import {register} from 'node:module'; register(${JSON.stringify(TRACE_HOOKS)});`);

async function modulesLoadedBy(args: string[], name: string): Promise<string[]> {
  const file = join(box.dir, `trace-${name}`);
  const r = await box.run(args, {env: {NODE_OPTIONS: `--import ${TRACE}`, LC_TRACE_FILE: file}});
  assert.ok(existsSync(file), `the trace was written (exit ${r.code}: ${r.stderr})`);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((url) => url.replace(`file://${ROOT}/`, ''));
}

const HEAVY = /node_modules\/(ssh2|fastify|@fastify|ws|pino)\/|dist\/(daemon|engine)\//;
// What an everyday client command does without: undici (the client speaks node:http), zod (the config
// file is checked by hand; only a daemon needs it) and yaml (only node files do). Each is 0.05-0.1 s of a
// start's CPU.
const CLIENT_HEAVY = /node_modules\/(undici|zod|yaml)\//;

test('--version imports no command module and none of ssh2, fastify, ws, the daemon', async () => {
  const loaded = await modulesLoadedBy(['--version'], 'version');
  assert.equal(loaded.filter((m) => /\/commands\/|plugins\/[^/]+\/dist\//.test(m)), [], 'command modules loaded');
  assert.equal(loaded.filter((m) => HEAVY.test(m)), [], 'heavy modules loaded');
});

test('node list imports its own command only, no server side (ssh2, fastify, ws, the daemon), no undici, zod or yaml', async () => {
  const loaded = await modulesLoadedBy(['node', 'list'], 'node-list');
  assert.equal(loaded.filter((m) => /\/commands\//.test(m)), ['dist/commands/node/list.js']);
  assert.equal(loaded.filter((m) => HEAVY.test(m)), [], 'heavy modules loaded');
  assert.equal(loaded.filter((m) => CLIENT_HEAVY.test(m)), [], 'modules a client command does without loaded');
});

test('node set (assignments, not node files) and power on (a duration flag) load no undici, zod or yaml', async () => {
  for (const args of [['node', 'set', 'n01', 'power=on'], ['power', 'on', 'n01', '--timeout', '10s']]) {
    const loaded = await modulesLoadedBy(args, args.slice(0, 2).join('-'));
    assert.equal(loaded.filter((m) => CLIENT_HEAVY.test(m)), [], `${args.join(' ')}: modules a client command does without loaded`);
  }
});

test('help, tab completion and "did you mean" see every plugin\'s commands from the manifests', async () => {
  const help = await box.run(['--help']);
  assert.is(help.code, 0, help.stderr);
  // A topic or a command of the root and of each plugin (sim's is `demo`, vm's `console`).
  for (const name of ['node', 'pxe', 'ipmi', 'image', 'layer0', 'demo', 'console']) assert.match(help.stdout, new RegExp(`^ {2}${name}\\b`, 'm'), `${name} in --help`);
  const completion = await box.run(['autocomplete', '--refresh-cache']);
  assert.is(completion.code, 0, completion.stderr);
  const bash = readFileSync(join(box.dir, 'cache', 'layercake', 'autocomplete', 'functions', 'bash', 'layercake.bash'), 'utf8');
  for (const id of ['node:list', 'pxe:render', 'ipmi:status', 'image:build', 'layer0:build', 'demo', 'console']) assert.match(bash, new RegExp(`^${id} `, 'm'), `${id} completes`);
  assert.match((await box.run(['pxe', 'rendr'])).stderr, /did you mean one of: .*pxe render/);
});

test.run();
