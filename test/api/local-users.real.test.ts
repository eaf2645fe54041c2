/**
 * Who may change state (issue 14 point 6): a real daemon, real local users made with useradd, the real
 * CLI and curl run as those users with setpriv. An unprivileged user can neither change state over TCP
 * on loopback without the token, nor read the token file, nor open the local socket; a member of group
 * `layercake` can use the socket without a token and read the token for TCP. Nothing the refused
 * attempts tried is changed.
 */
import {execFileSync, spawnSync} from 'node:child_process';
import {chmodSync, mkdirSync, chownSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {groupId} from '../../src/api/local-socket.js';
import {type DaemonProcess, isolatedConfig, sandbox} from '../support/cli.js';

const tag = process.pid.toString(36);
const NOBODY = `lcnobody${tag}`;
const OPERATOR = `lcoper${tag}`;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create local users (useradd) and run commands as them (setpriv)';
  const missing = ['useradd', 'groupadd', 'userdel', 'setpriv', 'curl'].filter((c) => !has(c));
  return missing.length ? `${missing.join(', ')} not installed` : undefined;
}

const skip = unavailable();
if (skip) {
  console.log(`SKIP: ${skip}`);
  test.skip('local users cannot change state; group layercake can', () => {});
} else {
  const createdGroup = groupId('layercake') === undefined;
  if (createdGroup) execFileSync('groupadd', ['layercake']);
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', NOBODY]);
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', 'layercake', OPERATOR]);
  const box = sandbox('lc-users-');
  chmodSync(box.dir, 0o755); // the users may reach the sandbox; the state dir and socket decide the rest
  let daemon: DaemonProcess;
  const socket = join(box.dir, 'api.sock');

  test.after(async () => {
    await box.cleanup();
    for (const user of [NOBODY, OPERATOR]) spawnSync('userdel', ['--force', user]);
    if (createdGroup) spawnSync('groupdel', ['layercake']);
  });

  /** A home of the user's own for oclif's caches. */
  const homeOf = (user: string) => {
    const home = join(box.dir, `home-${user}`);
    mkdirSync(home, {recursive: true});
    const uid = Number(execFileSync('id', ['-u', user], {encoding: 'utf8'}));
    chownSync(home, uid, -1);
    return home;
  };
  const as = (user: string) => ['setpriv', '--reuid', user, '--regid', user, '--init-groups', '--'];
  const userEnv = (user: string) => ({HOME: homeOf(user), XDG_DATA_HOME: join(homeOf(user), 'data'), XDG_CONFIG_HOME: join(homeOf(user), 'config'), XDG_CACHE_HOME: join(homeOf(user), 'cache')});
  const lcAs = (user: string, args: string[]) => box.run(args, {wrap: as(user), env: userEnv(user)});
  const curlAs = (user: string, args: string[]) => spawnSync(as(user)[0]!, [...as(user).slice(1), 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args], {encoding: 'utf8'});
  const state = async () => {
    const list = await box.run(['node', 'list', '--json']);
    const engine = await box.run(['engine', 'status', '--json']);
    return {names: list.json.nodes.map((v: {cfg: {nodename: string}}) => v.cfg.nodename).sort(), frozen: engine.json.frozen};
  };

  test('the daemon makes its token file 0640 and its socket 0660, both for group layercake', async () => {
    await isolatedConfig(box);
    daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
    const gid = groupId('layercake');
    for (const [path, mode] of [[join(box.dir, 'state', 'token'), 0o640], [socket, 0o660], [join(box.dir, 'state'), 0o710]] as const) {
      const st = statSync(path);
      assert.is(st.mode & 0o777, mode, path);
      assert.is(st.gid, gid, `${path} belongs to group layercake`);
    }
    assert.equal(await state(), {names: [await ownName()], frozen: false});
  });

  const ownName = async () => (await box.run(['node', 'list', '--json'])).json.nodes[0].cfg.nodename as string;

  test('an unprivileged user can change nothing over TCP without the token, and cannot read it', async () => {
    const before = await state();
    const url = daemon.url;
    for (const args of [['node', 'create', 'evil1'], ['engine', 'freeze'], ['node', 'list']]) {
      const r = await lcAs(NOBODY, [...args, '--url', url]);
      assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /\[LC_ERR_API_UNAUTHORIZED\]: the API over TCP needs the token/);
    }
    const freeze = curlAs(NOBODY, ['-X', 'POST', '-H', 'content-type: application/json', '-d', '{}', `${url}/api/v1/engine/freeze`]);
    assert.is(freeze.stdout, '401', freeze.stderr);
    const read = spawnSync(as(NOBODY)[0]!, [...as(NOBODY).slice(1), 'cat', join(box.dir, 'state', 'token')], {encoding: 'utf8'});
    assert.is.not(read.status, 0, 'the token file is not readable by others');
    assert.match(read.stderr, /Permission denied/);
    assert.equal(await state(), before, 'nothing changed');
  });

  test('an unprivileged user cannot open the local socket', async () => {
    const before = await state();
    const r = await lcAs(NOBODY, ['engine', 'freeze', '--url', `unix:${socket}`]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /\[LC_ERR_API_UNREACHABLE\]: cannot reach the layercake daemon at unix:.*api\.sock \(permission denied: only the daemon's user and members of group layercake may use the socket\)/);
    const viaDefault = await lcAs(NOBODY, ['node', 'create', 'evil2']);
    assert.is(viaDefault.code, 1, 'the default socket is found, and refused');
    const c = curlAs(NOBODY, ['--unix-socket', socket, '-X', 'POST', '-H', 'content-type: application/json', '-d', '{}', 'http://localhost/api/v1/engine/freeze']);
    assert.is(c.status, 7, `curl cannot connect: ${c.stderr}`);
    assert.match(c.stderr, /Permission denied|Couldn't connect/);
    assert.equal(await state(), before, 'nothing changed');
  });

  test('a member of group layercake changes state over the socket with no token, and over TCP with the token file', async () => {
    const created = await lcAs(OPERATOR, ['node', 'create', 'ok1', '--json']);
    assert.is(created.code, 0, created.stderr);
    const viaCurl = curlAs(OPERATOR, ['--unix-socket', socket, '-X', 'POST', '-H', 'content-type: application/json', '-d', '{}', 'http://localhost/api/v1/engine/freeze']);
    assert.is(viaCurl.stdout, '200', viaCurl.stderr);
    const thaw = await lcAs(OPERATOR, ['engine', 'thaw', '--url', daemon.url]);
    assert.is(thaw.code, 0, `the token file in the state dir is readable by the group: ${thaw.stderr}`);
    const after = await state();
    assert.ok(after.names.includes('ok1'));
    assert.is(after.frozen, false);
  });

  test('a stale socket from a dead daemon is replaced; a live one is an error naming it', async () => {
    daemon.proc.kill('SIGKILL');
    await new Promise((resolve) => daemon.proc.once('exit', resolve));
    assert.ok(statSync(socket).isSocket(), 'the dead daemon left its socket');
    daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
    assert.is((await box.run(['node', 'list', '--json'])).code, 0);
    const second = await box.run(['daemon', '--listen', '127.0.0.1:0', '--state-dir', join(box.dir, 'state2')]);
    assert.is.not(second.code, 0);
    assert.match(second.stdout + second.stderr, new RegExp(`another daemon listens on ${socket.replaceAll('.', '\\.')}`));
    assert.is((await box.run(['node', 'list', '--json'])).code, 0, 'the first daemon still answers');
  });
}

test.run();

