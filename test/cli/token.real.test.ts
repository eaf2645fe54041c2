/**
 * The API token off loopback: a daemon listening on a non-loopback address (inside a network namespace
 * the test creates, on a veth pair inside it, so nothing is exposed) refuses changes and reads without
 * the token, with a clear error, and changes nothing; with the token (flag or environment) they go
 * through. The token file is created 0640 (group layercake when it exists). Local users on loopback and
 * the Unix socket: test/api/local-users.real.test.ts.
 */
import {execFileSync} from 'node:child_process';
import {readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {type DaemonProcess, isolatedConfig, sandbox} from '../support/cli.js';

const NS = `lc-token-${process.pid}`;
const ADDR = '10.213.77.1';
const ip = (...args: string[]) => execFileSync('ip', args, {stdio: 'pipe'});

function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace';
  try {
    ip('netns', 'add', NS);
  } catch (error) {
    return `cannot create a network namespace: ${(error as Error).message.split('\n')[0]}`;
  }
  try {
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    // A veth pair with both ends inside the namespace: an ordinary, non-loopback interface nobody can reach.
    ip('-n', NS, 'link', 'add', 'lct0', 'type', 'veth', 'peer', 'name', 'lct1');
    ip('-n', NS, 'addr', 'add', `${ADDR}/24`, 'dev', 'lct0');
    ip('-n', NS, 'link', 'set', 'lct0', 'up');
    ip('-n', NS, 'link', 'set', 'lct1', 'up');
  } catch (error) {
    ip('netns', 'del', NS);
    return `cannot set up the namespace: ${(error as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

const skip = netnsAvailable();
if (skip) {
  console.log(`SKIP: ${skip}`);
  test.skip('the API token off loopback, in a network namespace');
} else {
  const box = sandbox('lc-token-');
  const wrap = ['ip', 'netns', 'exec', NS];
  let daemon: DaemonProcess;
  test.after(async () => {
    await box.cleanup();
    try {
      ip('netns', 'del', NS);
    } catch {
      // Already gone.
    }
  });
  // Run from the sandbox's HOME: the config search stops there, so the CLI does not find the state dir's token by itself.
  const lc = (args: string[], env: NodeJS.ProcessEnv = {}) => box.run([...args, '--url', daemon.listen], {wrap, cwd: join(box.dir, 'home'), env});

  test('a daemon on a non-loopback address creates its token file with mode 0640', async () => {
    await isolatedConfig(box);
    daemon = await box.startDaemon({args: ['--listen', `${ADDR}:0`], wrap});
    assert.match(daemon.listen, new RegExp(`^${ADDR.replaceAll('.', '\\.')}:\\d+$`));
    assert.is(statSync(join(box.dir, 'state', 'token')).mode & 0o777, 0o640);
    const list = await lc(['node', 'list', '--json']);
    assert.is(list.code, 1, 'reads need the token too');
    assert.is(list.json.error.code, 'LC_ERR_API_UNAUTHORIZED');
  });

  test('changes without the token fail clearly and change nothing', async () => {
    for (const args of [['node', 'create', 'n01'], ['engine', 'freeze'], ['apply', '-f', box.write('c.yaml', [{nodename: 'n02'}])]]) {
      const r = await lc(args);
      assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^Error \[LC_ERR_API_UNAUTHORIZED\]: the API over TCP needs the token \(loopback included\)\n {2}Try this: use the local socket \(--url unix:PATH; members of group layercake may\), or pass --token \/ set LAYERCAKE_TOKEN/);
    }
    const wrong = await lc(['node', 'create', 'n01', '--token', 'not-the-token']);
    assert.match(wrong.stderr, /the API token is wrong/);
    const token = readFileSync(join(box.dir, 'state', 'token'), 'utf8').trim();
    const list = await lc(['node', 'list', '--json', '--token', token]);
    assert.is(list.json.nodes.length, 1, 'only the daemon\'s own node');
    assert.is((await lc(['engine', 'status', '--json', '--token', token])).json.frozen, false);
  });

  test('with the token, changes go through', async () => {
    const token = readFileSync(join(box.dir, 'state', 'token'), 'utf8').trim();
    const created = await lc(['node', 'create', 'n01', '--token', token, '--json']);
    assert.is(created.code, 0, created.stderr);
    const viaEnv = await lc(['node', 'set', 'n01', 'arch=amd64', '--json'], {LAYERCAKE_TOKEN: token});
    assert.is(viaEnv.code, 0, viaEnv.stderr);
    assert.is(viaEnv.json.changes[0].value, 'amd64');
  });
}

test.run();
