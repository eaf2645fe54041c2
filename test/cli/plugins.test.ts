/**
 * Plugins at runtime: examples/plugin-hello is linked with `layercake plugins link`, the next daemon
 * start registers its module, `layercake mutations` lists its mutation and the engine drives it; then
 * `plugins uninstall` removes it. oclif's data dir is the sandbox's (XDG_DATA_HOME), never the user's.
 */
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {type DaemonProcess, ROOT, sandbox, until} from '../support/cli.js';

const box = sandbox('lc-plugins-');
const plugin = join(ROOT, 'examples', 'plugin-hello');
let daemon: DaemonProcess | undefined;
test.after(() => box.cleanup());

const ok = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = await box.run(args, {env: daemon ? {LAYERCAKE_URL: daemon.url, ...env} : env});
  assert.is(r.code, 0, `layercake ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
};

test('plugins link installs the example plugin into the sandbox\'s data dir', async () => {
  await ok(['plugins', 'link', plugin, '--no-install']);
  const list = await ok(['plugins', '--json']);
  assert.ok(list.json.some((p: any) => p.name === 'layercake-plugin-hello' && p.type === 'link'), list.stdout);
});

test('the next daemon start registers the hello module; mutations lists it; the engine runs it', async () => {
  const printed = await ok(['daemon', '--print-config', '--json']);
  const hello = printed.json.modules.find((m: any) => m.name === 'hello');
  assert.ok(hello, 'print-config lists the hello module');
  assert.equal(hello.settings, {punctuation: '!'});
  assert.equal(hello.mutations.map((m: any) => [m.id, m.timeout]), [['hello/greet', '10s']]);
  // Keep only hello: disable every other module (the bundled ones want privileged ports and networks).
  const others = printed.json.modules.filter((m: any) => m.name !== 'hello').map((m: any) => [m.name, {disable: true}]);
  box.write('layercake.config.yaml', {stateDir: 'state', modules: Object.fromEntries(others)});

  daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
  const [mutations, modules, extensions] = await Promise.all([ok(['mutations']), ok(['modules']), ok(['extensions', '--json'])]); // reads: at once
  assert.match(mutations.stdout, /hello\/greet\s+hello\.state: UNKNOWN→GREETED/);
  assert.match(modules.stdout, /hello\s+RUN/);
  assert.ok(extensions.json.extensions.some((e: any) => e.name === 'hello' && e.module === 'hello'));

  await ok(['node', 'create', 'n01', 'hello.greeting=bonjour']);
  await ok(['node', 'set', 'n01', 'hello.state=GREETED']);
  await until(async () => (await ok(['node', 'show', 'n01', '--json'])).json.dsc.extensions.hello?.state === 'GREETED', 15_000, 'n01 greeted');
  assert.match((await ok(['node', 'why', 'n01'])).stdout, /converged/);
  await until(() => /bonjour, n01!/.test(daemon!.output()), 5000, 'the greeting in the daemon log');
  await daemon.stop();
  daemon = undefined;
});

test('plugins uninstall removes it: the daemon no longer has the module', async () => {
  await ok(['plugins', 'uninstall', 'layercake-plugin-hello']);
  const list = await ok(['plugins', '--json']);
  assert.not.ok(list.json.some((p: any) => p.name === 'layercake-plugin-hello'));
  const printed = await ok(['daemon', '--print-config', '--json']);
  assert.not.ok(printed.json.modules.some((m: any) => m.name === 'hello'));
});

test.run();
