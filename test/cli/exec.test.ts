/**
 * `layercake exec`: the fan-out against a real SSH server (an ssh2 Server on loopback, started by the
 * test, with its own host key and one authorized client key), through the real CLI: only nodes that are
 * up are contacted, output is prefixed per node, a failing node makes the exit non-zero, and a host key
 * that does not match known_hosts is refused.
 */
import {timingSafeEqual} from 'node:crypto';
import type {AddressInfo} from 'node:net';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import ssh2 from 'ssh2';
import {ApiClient} from '../../src/api/client/client.js';
import {createApiServer} from '../../src/api/server/server.js';
import {execAll, knownHostKeys} from '../../src/cli/exec.js';
import {newEd25519KeyPair} from '../../src/cli/ssh-keys.js';
import {TOKEN, testDaemon, until} from '../support/api-daemon.js';
import {sandbox} from '../support/cli.js';

const {Server, utils} = ssh2;
const hostKey = newEd25519KeyPair();
const clientKey = newEd25519KeyPair();
const otherKey = newEd25519KeyPair();
const allowed = utils.parseKey(clientKey.public) as ssh2.ParsedKey;

const commands: string[] = [];
const sshd = new Server({hostKeys: [hostKey.private]}, (conn) => {
  conn.on('authentication', (ctx) => {
    if (ctx.method === 'publickey' && ctx.username === 'root' && ctx.key.algo === allowed.type
      && timingSafeEqual(ctx.key.data, allowed.getPublicSSH() as Buffer)) return ctx.accept();
    ctx.reject(['publickey']);
  });
  conn.on('ready', () => conn.on('session', (accept) => accept().on('exec', (acceptExec, _reject, info) => {
    commands.push(info.command);
    const channel = acceptExec();
    channel.write(`ran: ${info.command}\nsecond line`);
    channel.stderr.write('a warning\n');
    channel.exit(info.command.includes('fail') ? 3 : 0);
    channel.end();
  })));
  conn.on('error', () => {});
});

const daemon = testDaemon();
const box = sandbox('lc-exec-');
let server: {address: string; close(): Promise<void>};
let port = 0;
test.after(async () => {
  await server?.close();
  daemon.close();
  sshd.close();
  await box.cleanup();
});

test('setup: an SSH server on loopback and three nodes, two of them up', async () => {
  await new Promise<void>((r) => sshd.listen(0, '127.0.0.1', r));
  port = (sshd.address() as AddressInfo).port;
  server = await createApiServer(daemon);
  const client = new ApiClient({url: `http://${server.address}`, token: TOKEN});
  await client.createNodes(['n01', 'n02', 'n03'].map((nodename) => ({nodename, extensions: {ipv4: {ip: '127.0.0.1'}}})));
  await client.setValues({nodes: ['n01', 'n02'], set: {physState: 'POWER_ON', runState: 'SYNC'}});
  await until(() => daemon.store.byName('n02')!.dsc.runState === 'SYNC', 5000, 'n01 and n02 up');
  box.write('id_test', clientKey.private);
  box.write('known_hosts', `[127.0.0.1]:${port} ${hostKey.public}\n`);
});

test('exec runs on the nodes that are up, prefixes output, and reports each exit status', async () => {
  const env = {LAYERCAKE_URL: server.address, LAYERCAKE_TOKEN: TOKEN};
  const [r, human] = await Promise.all([ // independent runs: at once
    box.run(['exec', 'n[01-03]', '--port', String(port), '-i', 'id_test', '--known-hosts', 'known_hosts', '--json', '--', 'echo', 'it works'], {env}),
    box.run(['exec', 'n[01-02]', '--port', String(port), '-i', 'id_test', '--known-hosts', 'known_hosts', '--', 'uptime'], {env}),
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.command, "echo 'it works'");
  assert.equal(r.json.results.map((x: any) => [x.nodename, x.exitCode]), [['n01', 0], ['n02', 0]]);
  assert.equal(r.json.skipped, [{nodename: 'n03', reason: 'not up (runState UNKNOWN)'}]);
  assert.is(r.json.results[0].stdout, "ran: echo 'it works'\nsecond line");
  assert.match(human.stdout, /^n01 {2}ran: uptime$/m);
  assert.match(human.stdout, /^n02 {2}second line$/m);
  assert.match(human.stderr, /^n01 {2}a warning$/m);
  assert.match(human.stderr, /2 of 2 succeeded/);
});

test('a failing command makes the exit non-zero', async () => {
  const r = await box.run(['exec', 'n01', '--port', String(port), '-i', 'id_test', '--known-hosts', 'known_hosts', '--', 'fail', 'now'], {env: {LAYERCAKE_URL: server.address, LAYERCAKE_TOKEN: TOKEN}});
  assert.is(r.code, 1);
  assert.match(r.stderr, /n01: exit status 3/);
});

test('a command that can run nowhere (no target is up) fails with the reason, exit 1', async () => {
  const args = ['exec', 'n03', '--port', String(port), '-i', 'id_test', '--known-hosts', 'known_hosts', '--', 'echo', 'hi'];
  const env = {LAYERCAKE_URL: server.address, LAYERCAKE_TOKEN: TOKEN};
  const [r, json] = await Promise.all([box.run(args, {env}), box.run([...args.slice(0, -3), '--json', '--', 'echo', 'hi'], {env})]);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^Error \[LC_ERR_EXEC_NOWHERE\]: ran nowhere: n03 not up \(runState UNKNOWN\)\n {2}Try this: /);
  assert.not.match(r.stdout, /ran: /, 'nothing ran');
  assert.equal([json.code, json.json?.error?.code], [1, 'LC_ERR_EXEC_NOWHERE']);
});

test('a host key that does not match known_hosts is refused; an unknown host is accepted', async () => {
  box.write('known_hosts_bad', `[127.0.0.1]:${port} ${otherKey.public}\n`);
  const targets = [{id: 'x', nodename: 'n01', host: '127.0.0.1', port}];
  const opts = {user: 'root', port, identities: [`${box.dir}/id_test`], parallel: 4, timeoutMs: 10_000};
  const before = commands.length;
  const [bad] = await execAll(targets, 'true', {...opts, knownHosts: `${box.dir}/known_hosts_bad`});
  assert.is(bad.exitCode, null);
  assert.match(bad.error!, /does not match known_hosts/);
  assert.is(commands.length, before, 'the command never ran');
  const [unknown] = await execAll(targets, 'true', {...opts, knownHosts: `${box.dir}/none`});
  assert.is(unknown.exitCode, 0);
  assert.equal(knownHostKeys(`${box.dir}/known_hosts`, '127.0.0.1', port), [hostKey.public.split(' ')[1]]);
});

test('many targets through a small worker pool: every one runs, results in the targets\' order', async () => {
  const targets = Array.from({length: 12}, (_, i) => ({id: String(i), nodename: `m${i}`, host: '127.0.0.1', port}));
  const results = await execAll(targets, 'echo x', {user: 'root', port, identities: [`${box.dir}/id_test`], parallel: 3, timeoutMs: 10_000, knownHosts: `${box.dir}/known_hosts`});
  assert.equal(results.map((r) => r.nodename), targets.map((t) => t.nodename));
  assert.ok(results.every((r) => r.exitCode === 0));
});

test('newEd25519KeyPair: every pair parses back and signs (ssh2 alone writes a malformed one about once in 300)', () => {
  for (let i = 0; i < 1500; i++) {
    const pair = newEd25519KeyPair('test');
    const key = utils.parseKey(pair.private) as ssh2.ParsedKey;
    const pub = utils.parseKey(pair.public) as ssh2.ParsedKey;
    assert.not.instance(key, Error, `pair ${i}: the private key parses`);
    assert.not.instance(pub, Error, `pair ${i}: the public key parses`);
    assert.is((pub.getPublicSSH() as Buffer).length, 51, `pair ${i}: a 32-byte ed25519 public key in its SSH blob`);
    assert.ok(pub.verify(Buffer.from('layercake'), key.sign(Buffer.from('layercake')) as Buffer), `pair ${i}: the public key verifies the private key's signature`);
    assert.match(pair.public, /^ssh-ed25519 [A-Za-z0-9+/=]+ test$/);
  }
});

test.run();
