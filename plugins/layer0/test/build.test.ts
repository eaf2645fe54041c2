// The Layer0 build logic on made-up inputs: input resolution (kernel choice, ldd's output, what --check
// names), the module dependency closure, keys, the agent bundle and its modules. The build itself on this
// host's real parts (kernel, busybox, cpio, zstd, modprobe) is in build.real.test.ts.
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {bundleAgent} from '../src/build/bundle.js';
import {agentSettings} from '../src/build/cluster.js';
import {cliModuleHooks} from '../src/build/hooks.js';
import {compareVersions, findKernel, parseLdd} from '../src/build/inputs.js';
import {headKeys, parseAuthorizedKeys} from '../src/build/keys.js';
import {moduleClosure, parseModulesDep, parseSoftdeps, type ModuleDb} from '../src/build/kmod.js';

const CLI = join(import.meta.dirname, '..', '..', '..', 'bin', 'run.js');
let dir: string;
test.before(() => { dir = mkdtempSync(join(tmpdir(), 'lc-layer0-')); });
test.after(() => { rmSync(dir, {recursive: true, force: true}); });

test('kernel versions compare part by part, numerically', () => {
  assert.ok(compareVersions('6.1.0-57-amd64', '6.1.0-9-amd64') > 0);
  assert.ok(compareVersions('6.10.0-1-amd64', '6.9.0-1-amd64') > 0);
  assert.is(compareVersions('6.1.0-57-amd64', '6.1.0-57-amd64'), 0);
});

test('the default kernel is the newest /boot/vmlinuz-* that has its modules', () => {
  const boot = join(dir, 'k', 'boot');
  const modules = join(dir, 'k', 'modules');
  mkdirSync(boot, {recursive: true});
  for (const v of ['6.1.0-9-amd64', '6.1.0-57-amd64', '6.1.0-60-amd64']) writeFileSync(join(boot, `vmlinuz-${v}`), 'k');
  for (const v of ['6.1.0-9-amd64', '6.1.0-57-amd64']) {
    mkdirSync(join(modules, v), {recursive: true});
    writeFileSync(join(modules, v, 'modules.dep'), 'kernel/a.ko:\n');
  }
  const dirs = {boot, modules};
  assert.is(findKernel(undefined, dirs).kernel?.version, '6.1.0-57-amd64'); // 60 has no modules
  assert.is(findKernel('6.1.0-9-amd64', dirs).kernel?.image, join(boot, 'vmlinuz-6.1.0-9-amd64'));
  const noModules = findKernel('6.1.0-60-amd64', dirs);
  assert.not.ok(noModules.kernel);
  assert.is(noModules.requirement.package, 'linux-image-amd64');
  assert.match(noModules.requirement.what, /modules of kernel 6.1.0-60-amd64/);
  assert.match(findKernel(join(boot, 'bzImage'), dirs).requirement.detail ?? '', /vmlinuz-VERSION/);
  assert.not.ok(findKernel(undefined, {boot: join(dir, 'none'), modules}).requirement.ok);
});

test('ldd output gives the libraries and the loader', () => {
  const libs = parseLdd(`\tlinux-vdso.so.1 (0x00007ffd)\n\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n`);
  assert.equal(libs, ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libdl.so.2', '/lib64/ld-linux-x86-64.so.2']);
});

test('--check names what is missing and the Debian package that brings it, exit 1', () => {
  const empty = join(dir, 'empty-path');
  mkdirSync(empty, {recursive: true});
  const r = spawnSync(process.execPath, [CLI, 'layer0', 'build', '--check', '--json'], {encoding: 'utf8', env: {...process.env, PATH: empty}});
  assert.is(r.status, 1, r.stderr);
  const out = JSON.parse(r.stdout) as {ok: boolean; requirements: {what: string; ok: boolean; package: string}[]};
  assert.is(out.ok, false);
  const missing = Object.fromEntries(out.requirements.filter((q) => !q.ok).map((q) => [q.what, q.package]));
  assert.equal({cpio: missing.cpio, zstd: missing.zstd, ldd: missing.ldd}, {cpio: 'cpio', zstd: 'zstd', ldd: 'libc-bin'});
  const text = spawnSync(process.execPath, [CLI, 'layer0', 'build', '--check'], {encoding: 'utf8', env: {...process.env, PATH: empty}});
  assert.match(text.stdout, /apt-get install cpio zstd libc-bin/);
  const built = spawnSync(process.execPath, [CLI, 'layer0', 'build', '--out', join(dir, 'never')], {encoding: 'utf8', env: {...process.env, PATH: empty}});
  assert.is(built.status, 1);
  assert.match(built.stderr, /LC_ERR_LAYER0_INPUT_MISSING.*cpio/);
  assert.not.ok(existsSync(join(dir, 'never')), 'nothing written');
});

const db: ModuleDb = {
  modules: parseModulesDep([
    'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko',
    'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
    'kernel/net/core/failover.ko:',
    'kernel/fs/overlayfs/overlay.ko:',
    'kernel/drivers/block/nbd.ko:',
    'kernel/lib/crc32c_generic.ko:',
    'kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko',
    'kernel/fs/mbcache.ko:', 'kernel/fs/jbd2/jbd2.ko:',
  ].join('\n')),
  softdeps: parseSoftdeps('# comment\nsoftdep ext4 pre: crc32c-generic post: nbd\n'),
  builtin: new Set(['loop', 'squashfs']),
};

test('the module closure follows modules.dep and softdeps, knows built-ins, names the unknown', () => {
  const c = moduleClosure(['virtio-net', 'overlay', 'loop', 'nosuchmod'], db);
  assert.equal(c.paths, ['kernel/drivers/net/net_failover.ko', 'kernel/drivers/net/virtio_net.ko', 'kernel/fs/overlayfs/overlay.ko', 'kernel/net/core/failover.ko']);
  assert.equal(c.builtin, ['loop']);
  assert.equal(c.unknown, ['nosuchmod']);
  assert.equal(moduleClosure(['ext4'], db).paths, ['kernel/drivers/block/nbd.ko', 'kernel/fs/ext4/ext4.ko', 'kernel/fs/jbd2/jbd2.ko', 'kernel/fs/mbcache.ko', 'kernel/lib/crc32c_generic.ko']);
});

test('authorized keys: public keys only, and a head key pair generated when there is none', () => {
  assert.throws(() => parseAuthorizedKeys('-----BEGIN OPENSSH PRIVATE KEY-----\n', 'k'), /k line 1 is not an OpenSSH public key/);
  const home = join(dir, 'home');
  const first = headKeys({home});
  assert.ok(first.generated && existsSync(first.generated));
  assert.is((readFileSync(first.generated!).length > 0), true);
  assert.match(first.authorizedKeys, /^ssh-ed25519 /);
  const again = headKeys({home});
  assert.is(again.generated, undefined, 'the existing pair is used');
  assert.is(again.authorizedKeys, first.authorizedKeys);
});

test('cluster settings: the parent\'s sync port and timers, nothing secret', () => {
  const s = agentSettings({sync: {listen: '0.0.0.0:31499', helloInterval: '2s', joinSecretFile: '/x'}, api: {token: 'secret-token-123456'}}, {logLevel: 'debug'});
  assert.equal(s, {logLevel: 'debug', sync: {helloInterval: '2s', parentPort: 31499}, modules: {imageset: {url: 'http://127.0.0.1:8080'}}, api: {socket: '/run/layercake/api.sock'}});
});

test('the agent bundle is one module with what the node runs (not the CLI)', async () => {
  const code = (await bundleAgent()).toString();
  assert.ok(code.length < 4e6, `${code.length} bytes`);
  assert.not.match(code, /@oclif\/core|cosmiconfig|typescript\.js/);
  const file = join(dir, 'agent.mjs');
  writeFileSync(file, code);
  const help = spawnSync(process.execPath, [file, 'help'], {encoding: 'utf8', cwd: tmpdir()});
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /layercake daemon/);
  assert.match(help.stdout, /layercake busy \[--reason TEXT\] \[--for DURATION\]/);
  assert.match(help.stdout, /layercake free/);
  const bad = spawnSync(process.execPath, [file, 'frobnicate'], {encoding: 'utf8', cwd: tmpdir()});
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
});

test('the agent plans with the modules of the head\'s hooks, and always has sync and imageset', async () => {
  const repo = join(import.meta.dirname, '..', '..', '..');
  const file = join(dir, 'agent-hooks.mjs');
  writeFileSync(file, await bundleAgent([join(repo, 'plugins', 'power-ipmi', 'dist', 'hooks', 'modules.js')]));
  writeFileSync(join(dir, 'secret'), `${'ab'.repeat(32)}\n`);
  writeFileSync(join(dir, 'agent.json'), JSON.stringify({sync: {listen: '127.0.0.1:0'}}));
  const agent = spawn(process.execPath, [file, 'daemon', '--config', join(dir, 'agent.json'), '--state-dir', join(dir, 'agent-state'),
    '--parent', '127.0.0.1:9', '--id', '6b3c1a52-1111-4222-8333-944455556666', '--join-secret-file', join(dir, 'secret')], {cwd: tmpdir()});
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    agent.stdout.on('data', (d) => {
      out += d;
      const m = /^.*layercake agent running.*$/m.exec(out);
      if (m) resolve(m[0]);
    });
    agent.on('exit', (code) => reject(new Error(`the agent exited (${code}): ${out}`)));
  });
  agent.kill();
  assert.equal((JSON.parse(line) as {modules: string[]}).modules.sort(), ['imageset', 'ipmi', 'sync']);
});

test('the agent carries the modules of the head CLI: cliModuleHooks finds every plugin\'s layercake:modules hook', async () => {
  // What the VM lab's Layer0 is built with (plugins/vm layer0BootRoot): without power-ipmi's, a SYNC VM's
  // agent never performed imageset/SYNCtoINIT and `power off` waited for ever.
  const root = join(import.meta.dirname, '..', '..', '..');
  const hooks = await cliModuleHooks(root);
  for (const owner of ['', 'plugins/imageapi/', 'plugins/power-ipmi/', 'plugins/pxe/']) {
    assert.ok(hooks.includes(join(root, owner, 'dist', 'hooks', 'modules.js')), `${owner || 'the core'}'s hook among ${hooks.join(', ')}`);
  }
});

test.run();
