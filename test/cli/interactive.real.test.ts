/**
 * The questions the CLI asks on a terminal, answered through a real pseudo-terminal (util-linux `script`):
 * the interactive `node set` editor (pick a field, pick its value from the enum, see the diff, confirm),
 * the confirmation before powering off a running node (yes goes ahead, no changes nothing), and init.
 * Every keystroke is sent only once the prompt it answers is on the screen.
 */
import {execFileSync, spawn} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../src/api/client/client.js';
import {createApiServer} from '../../src/api/server/server.js';
import {TOKEN, testDaemon} from '../support/api-daemon.js';
import {BIN, sandbox, until} from '../support/cli.js';

function scriptAvailable(): boolean {
  try {
    execFileSync('script', ['-qec', 'true', '/dev/null'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

// eslint-disable-next-line no-control-regex -- stripping the terminal's control sequences is the point
const strip = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

/** Run the CLI on a pseudo-terminal; `answer(expected, keys)` waits for text on screen, then types. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv) {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qfec', `stty cols 120 rows 40; ${command}`, '/dev/null'], {env: {...env, TERM: 'xterm'}, stdio: ['pipe', 'pipe', 'pipe']});
  let screen = '';
  child.stdout.on('data', (d) => (screen += d));
  child.stderr.on('data', (d) => (screen += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let seen = 0;
  return {
    exited,
    screen: () => strip(screen),
    async answer(expected: RegExp, keys: string) {
      await until(() => expected.test(strip(screen.slice(seen))), 15_000, `${expected} on the terminal:\n${strip(screen)}`);
      seen = screen.length;
      child.stdin.write(keys);
    },
    kill: () => child.kill('SIGKILL'),
  };
}

if (!scriptAvailable()) {
  console.log('SKIP: util-linux `script` is not available to make a pseudo-terminal');
  test.skip('the CLI\'s questions answered through a pseudo-terminal');
} else {
  const daemon = testDaemon();
  const box = sandbox('lc-tty-');
  let server: {address: string; close(): Promise<void>};
  test.after(async () => {
    await server?.close();
    daemon.close();
    await box.cleanup();
  });
  const env = () => ({...box.env, LAYERCAKE_URL: server.address, LAYERCAKE_TOKEN: TOKEN});

  test('node set with no values opens the editor: field, enum value, diff, confirm', async () => {
    server = await createApiServer(daemon);
    await new ApiClient({url: `http://${server.address}`, token: TOKEN}).createNodes([{nodename: 'n01'}, {nodename: 'n02'}]);
    const t = onTerminal(['node', 'set', 'n01'], env());
    try {
      await t.answer(/Field to set on n01/, 'physSt');
      await t.answer(/physState/, '\r');
      await t.answer(/PHYS_UNKNOWN {2}\(zero: unknown/, '\u001b[B');
      await t.answer(/❯ POWER_OFF/, '\u001b[B');
      await t.answer(/❯ POWER_ON/, '\r');
      await t.answer(/Set another field\?/, 'n\r');
      await t.answer(/Apply 1 change\?/, 'y\r');
      assert.is(await t.exited, 0, t.screen());
    } finally {
      t.kill();
    }
    assert.match(t.screen(), /~ n01 physState: PHYS_UNKNOWN → POWER_ON/);
    assert.is(daemon.store.byName('n01')!.cfg.physState, 'POWER_ON');
    await until(() => daemon.store.byName('n01')!.dsc.physState === 'POWER_ON', 5000, 'n01 on');
  });

  test('powering off a running node asks first: no changes nothing, yes goes ahead', async () => {
    await new ApiClient({url: `http://${server.address}`, token: TOKEN}).setValues({nodes: ['n02'], set: {physState: 'POWER_ON', runState: 'SYNC'}});
    await until(() => daemon.store.byName('n02')!.dsc.runState === 'SYNC', 5000, 'n02 running');
    const no = onTerminal(['power', 'off', 'n02'], env());
    try {
      await no.answer(/Power off 1 running node \(n02\)\?/, 'n\r');
      assert.is(await no.exited, 1);
    } finally {
      no.kill();
    }
    assert.match(no.screen(), /cancelled, nothing was changed/);
    assert.is(daemon.store.byName('n02')!.cfg.physState, 'POWER_ON');
    const yes = onTerminal(['power', 'off', 'n02'], env());
    try {
      await yes.answer(/Power off 1 running node \(n02\)\?/, 'y\r');
      assert.is(await yes.exited, 0, yes.screen());
    } finally {
      yes.kill();
    }
    assert.is(daemon.store.byName('n02')!.cfg.physState, 'POWER_OFF');
  });

  test('Ctrl-C at a prompt (the confirmation, the editor) exits 130 quietly and changes nothing', async () => {
    const before = daemon.store.byName('n01')!.cfg;
    for (const [args, prompt] of [[['node', 'delete', 'n01'], /Delete 1 node/], [['node', 'set', 'n01'], /Field to set on n01/]] as const) {
      const t = onTerminal([...args], env());
      try {
        await t.answer(prompt, '\u0003');
        assert.is(await t.exited, 130, t.screen());
      } finally {
        t.kill();
      }
      assert.not.match(t.screen(), /Error|LC_ERR|force closed/, 'nothing said');
    }
    assert.equal(daemon.store.byName('n01')!.cfg, before);
  });

  test('init asks its questions and writes both files', async () => {
    const t = onTerminal(['init', '--dir', box.dir], env());
    try {
      await t.answer(/Address the daemon API listens on/, '\r');
      await t.answer(/State directory/, '\r');
      await t.answer(/Starter nodes/, '\u0015gpu[1-2]\r');
      await t.answer(/Their platform/, 'ipmi\r');
      await t.answer(/powered on and booted/, 'y\r');
      assert.is(await t.exited, 0, t.screen());
    } finally {
      t.kill();
    }
    assert.match(t.screen(), /wrote .*layercake\.config\.yaml and .*cluster\.yaml \(2 nodes\)/);
    const cluster = readFileSync(`${box.dir}/cluster.yaml`, 'utf8');
    assert.match(cluster, /nodename: gpu1\n {4}arch: amd64\n {4}platform: ipmi\n {4}physState: POWER_ON\n {4}runState: SYNC/);
  });
}

test.run();
