import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
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
  await loadConfig({file: join(dir, 'nope.yaml')}).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /does not exist/));
});

test('clientSettings: flags, then env, then file, then listen, then default; token from the state dir', () => {
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, {recursive: true});
  writeFileSync(join(stateDir, 'token'), 'secret-token\n');
  const loaded = {config: {listen: '0.0.0.0:5000', stateDir}, filepath: '/x/layercake.config.yaml'};
  assert.equal(clientSettings({}, loaded, {}), {url: 'http://127.0.0.1:5000', token: 'secret-token', urlSource: 'listen in /x/layercake.config.yaml'});
  assert.is(clientSettings({}, {config: {...loaded.config, url: 'h:1'}, filepath: 'f'}, {}).url, 'http://h:1');
  assert.is(clientSettings({}, loaded, {LAYERCAKE_URL: 'e:2', LAYERCAKE_TOKEN: 't2'}).url, 'http://e:2');
  assert.is(clientSettings({}, loaded, {LAYERCAKE_URL: 'e:2', LAYERCAKE_TOKEN: 't2'}).token, 't2');
  assert.equal(clientSettings({url: 'f:3', token: 't3'}, loaded, {LAYERCAKE_URL: 'e:2'}), {url: 'http://f:3', token: 't3', urlSource: '--url'});
  assert.equal(clientSettings({}, {config: {}}, {}, join(dir, 'empty')), {url: 'http://127.0.0.1:3141', token: undefined, urlSource: 'the default'});
});

test.run();
