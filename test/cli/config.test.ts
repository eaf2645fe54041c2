import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {clientSettings, loadConfig, normalizeUrl, urlFromListen} from '../../src/cli/config.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-config-'));
const env = {HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME};
process.env.HOME = dir;
process.env.XDG_CONFIG_HOME = join(dir, '.config');
delete process.env.LAYERCAKE_CONFIG;
test.after(() => {
  rmSync(dir, {recursive: true, force: true});
  Object.assign(process.env, env);
});

test('normalizeUrl accepts host:port, :port and full URLs', () => {
  assert.is(normalizeUrl('127.0.0.1:3141'), 'http://127.0.0.1:3141');
  assert.is(normalizeUrl(':4000'), 'http://127.0.0.1:4000');
  assert.is(normalizeUrl('https://head.example:443/'), 'https://head.example');
  assert.throws(() => normalizeUrl('ftp://x'), /not an http/);
});

test('urlFromListen maps wildcard hosts to loopback', () => {
  assert.is(urlFromListen('0.0.0.0:3141'), 'http://127.0.0.1:3141');
  assert.is(urlFromListen('[::]:9'), 'http://127.0.0.1:9');
  assert.is(urlFromListen('10.0.0.1:3141'), 'http://10.0.0.1:3141');
  assert.is(urlFromListen('[::1]:3141'), 'http://[::1]:3141');
});

test('loadConfig finds layercake.config.yaml and resolves relative paths against it', async () => {
  const project = join(dir, 'project');
  mkdirSync(join(project, 'sub'), {recursive: true});
  writeFileSync(join(project, 'layercake.config.yaml'), 'stateDir: state\nlisten: 0.0.0.0:4000\nmodules:\n  pxe: {interface: eth1}\nretry: {max: 3}\n');
  const loaded = await loadConfig({cwd: join(project, 'sub')});
  assert.is(loaded.filepath, join(project, 'layercake.config.yaml'));
  assert.is(loaded.config.stateDir, join(project, 'state'));
  assert.equal(loaded.config.modules, {pxe: {interface: 'eth1'}});
  assert.equal((loaded.config as Record<string, unknown>).retry, {max: 3}, 'unknown sections pass through to the daemon');
});

test('loadConfig reports a broken file and a wrong key with the file name', async () => {
  const broken = join(dir, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'layercake.config.yaml'), 'listen: [unclosed\n');
  await loadConfig({cwd: broken}).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /cannot read the config file/));
  writeFileSync(join(broken, 'layercake.config.yaml'), 'logLevel: loud\n');
  await loadConfig({cwd: broken}).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /logLevel/));
  // Each wrong value is named by its path (nested ones too) and what was expected.
  for (const [text, message] of [
    ['url: ""\n', /: url: must not be empty$/],
    ['freeze: yes please\n', /: freeze: expected true or false, got a string/],
    ['api: {token: 12}\n', /: api\.token: expected a string, got a number$/],
    ['modules: [pxe]\n', /: modules: expected a mapping \(key: value\), got an array of 1$/],
    ['- a list\n', /: \(top level\): expected a mapping/],
  ] as const) {
    writeFileSync(join(broken, 'layercake.config.yaml'), text);
    await loadConfig({cwd: broken}).then(() => assert.unreachable(text), (e: Error & {code?: string}) => {
      assert.match(e.message, message);
      assert.is(e.code, 'LC_ERR_CONFIG_INVALID');
    });
  }
  await loadConfig({file: join(dir, 'nope.yaml')}).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /does not exist/));
});

/** No local socket where the client looks (whatever runs on this machine). */
const noSocket = {LAYERCAKE_SOCKET: join(dir, 'absent.sock')};

test('clientSettings: flags, then env, then file, then listen, then default; token from the state dir', () => {
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, {recursive: true});
  writeFileSync(join(stateDir, 'token'), 'secret-token\n');
  const loaded = {config: {listen: '0.0.0.0:5000', stateDir}, filepath: '/x/layercake.config.yaml'};
  assert.equal(clientSettings({}, loaded, noSocket), {url: 'http://127.0.0.1:5000', token: 'secret-token', urlSource: 'listen in /x/layercake.config.yaml'});
  assert.is(clientSettings({}, {config: {...loaded.config, url: 'h:1'}, filepath: 'f'}, noSocket).url, 'http://h:1');
  assert.is(clientSettings({}, loaded, {...noSocket, LAYERCAKE_URL: 'e:2', LAYERCAKE_TOKEN: 't2'}).url, 'http://e:2');
  assert.is(clientSettings({}, loaded, {...noSocket, LAYERCAKE_URL: 'e:2', LAYERCAKE_TOKEN: 't2'}).token, 't2');
  assert.equal(clientSettings({url: 'f:3', token: 't3'}, loaded, {...noSocket, LAYERCAKE_URL: 'e:2'}), {url: 'http://f:3', token: 't3', urlSource: '--url'});
  assert.equal(clientSettings({}, {config: {}}, noSocket, join(dir, 'empty')), {url: 'http://127.0.0.1:3141', token: undefined, urlSource: 'the default'});
});

test('clientSettings: the local socket when it exists (api.socket, else the default), before listen; unix: URLs', async () => {
  const sock = join(dir, 'api.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  try {
    const loaded = {config: {listen: '0.0.0.0:5000'}, filepath: '/x/layercake.config.yaml'};
    assert.equal(clientSettings({}, loaded, {LAYERCAKE_SOCKET: sock}), {url: `unix:${sock}`, token: undefined, urlSource: 'the local socket'});
    assert.is(clientSettings({}, {config: {...loaded.config, api: {socket: sock}}}, noSocket).url, `unix:${sock}`);
    assert.is(clientSettings({}, {config: {...loaded.config, api: {socket: 'none'}}}, {LAYERCAKE_SOCKET: sock}).url, 'http://127.0.0.1:5000');
    assert.is(clientSettings({url: 'http://h:1'}, loaded, {LAYERCAKE_SOCKET: sock}).url, 'http://h:1', '--url wins');
    assert.is(normalizeUrl('unix:/run/layercake/api.sock'), 'unix:/run/layercake/api.sock');
    assert.is(normalizeUrl('unix:rel.sock', '/tmp'), 'unix:/tmp/rel.sock');
    assert.throws(() => normalizeUrl('unix:'), /names no socket/);
  } finally {
    server.close();
  }
});

test.run();
