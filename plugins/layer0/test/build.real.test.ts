// The Layer0 build on this host's real parts (the real-parts tier): the module closure of the installed
// kernel against modprobe, ldd on real programs, and the build itself on small real inputs (the real
// kernel's modules, busybox, cpio, zstd, a small dynamic program standing in for node): byte-identical
// rebuilds, skipping unchanged artifacts, rebuilding a changed or damaged one, the lock, the command.
// The build logic on made-up inputs is in build.test.ts.
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {buildLayer0, MANIFEST, type BuildOptions} from '../src/build/build.js';
import {agentSettings} from '../src/build/cluster.js';
import {findInputs, findKernel, sharedLibraries, type Inputs} from '../src/build/inputs.js';
import {moduleClosure, readModuleDb} from '../src/build/kmod.js';

const CLI = join(import.meta.dirname, '..', '..', '..', 'bin', 'run.js');
let dir: string;
test.before(() => { dir = mkdtempSync(join(tmpdir(), 'lc-layer0-')); });
test.after(() => { rmSync(dir, {recursive: true, force: true}); });

test('ldd on real programs: a static program has no libraries, node has libc', () => {
  if (existsSync('/bin/busybox')) assert.equal(sharedLibraries('/bin/busybox'), []); // busybox-static
  assert.ok(sharedLibraries(process.execPath).some((l) => l.includes('libc.so')));
});

const kernel = findKernel(undefined).kernel;
if (!kernel || !existsSync('/sbin/modprobe')) {
  console.log('SKIP: no installed kernel with modules, or no modprobe (kmod)');
  test.skip('the closure of the real kernel matches modprobe --show-depends');
} else test('the closure of the real kernel matches modprobe --show-depends', () => {
  const ours = moduleClosure(['mlx5_core'], readModuleDb(kernel.modulesDir)).paths.map((p) => join(kernel.modulesDir, p)).sort();
  const theirs = execFileSync('/sbin/modprobe', ['--show-depends', '-S', kernel.version, 'mlx5_core'], {encoding: 'utf8'})
    .split('\n').filter((l) => l.startsWith('insmod ')).map((l) => l.split(' ')[1]!).sort();
  assert.equal(ours, theirs);
});

// A build on small real inputs: /bin/true stands in for node (a dynamic program with its libraries).
const found = findInputs({node: '/bin/true'});
const why = !found.inputs ? `inputs missing: ${found.requirements.filter((r) => !r.ok).map((r) => `${r.what} (${r.package})`).join(', ')}` : '';
const options = (out: string, extra: Partial<BuildOptions> = {}): BuildOptions => ({
  inputs: found.inputs as Inputs, modules: ['virtio_net', 'loop'], dir: out,
  cluster: {agent: agentSettings({}), authorizedKeys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIdtGHvXgc5Dw3Hnr6DQUpFTS6l0CMPoyKjUvJUdrxVx test\n'}, ...extra,
});
const sums = (r: Awaited<ReturnType<typeof buildLayer0>>) => Object.fromEntries(r.files.map((f) => [f.name, f.sha256]));

if (why) {
  console.log(`SKIP: ${why}`);
  test.skip('builds are byte-identical, and unchanged artifacts are kept');
} else {
  test('two builds from the same inputs are byte-identical', async () => {
    const a = await buildLayer0(options(join(dir, 'a')));
    const b = await buildLayer0(options(join(dir, 'b')));
    assert.equal(sums(a), sums(b));
    assert.equal(a.files.map((f) => f.name), ['vmlinuz', 'layer0-base.img', 'layer0-kmod.img', 'layer0-config.img']);
    assert.ok(a.files.every((f) => f.built));
    // what the archives hold: the init, the agent, the modules with their own modules.dep, the keys
    const list = (f: string) => execFileSync('sh', ['-c', `zstd -dc '${join(dir, 'a', f)}' | cpio -t --quiet`], {encoding: 'utf8'}).split('\n');
    const base = list('layer0-base.img');
    for (const p of ['init', 'sbin/init', 'bin/sh', 'etc/inittab', 'etc/layer0/rc', 'usr/lib/layercake/agent.mjs', 'usr/lib/layercake/linux_mounts.node', 'usr/bin/node', 'usr/sbin/dropbear']) assert.ok(base.includes(p), p);
    const kmod = list('layer0-kmod.img');
    assert.ok(kmod.some((p) => p.endsWith('/virtio_net.ko')) && kmod.some((p) => p.endsWith('/failover.ko')));
    assert.ok(kmod.some((p) => p.endsWith('/modules.dep')) && kmod.some((p) => p.endsWith('/modules.alias')));
    assert.ok(list('layer0-config.img').includes('root/.ssh/authorized_keys'));
    const verbose = execFileSync('sh', ['-c', `zstd -dc '${join(dir, 'a', 'layer0-config.img')}' | cpio -tv --quiet`], {encoding: 'utf8'});
    assert.match(verbose, /-rw------- +1 root +root .* 1970 root\/\.ssh\/authorized_keys/);
  });

  test('a rebuild with unchanged inputs keeps every artifact; a changed input rebuilds only its own', async () => {
    const out = join(dir, 'a');
    const again = await buildLayer0(options(out));
    assert.ok(again.files.every((f) => !f.built), JSON.stringify(again.files));
    const keys = await buildLayer0(options(out, {cluster: {agent: agentSettings({}), authorizedKeys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQ other\n'}}));
    assert.equal(keys.files.filter((f) => f.built).map((f) => f.name), ['layer0-config.img']);
    writeFileSync(join(out, 'layer0-kmod.img'), 'damaged');
    const repaired = await buildLayer0(options(out));
    // the config initrd goes back to the first keys; the damaged kmod initrd is rebuilt
    assert.equal(repaired.files.filter((f) => f.built).map((f) => f.name), ['layer0-kmod.img', 'layer0-config.img']);
    assert.equal(sums(repaired), sums(again));
    // a rebuilt ImageAPI addon: the base initrd, which carries it beside the agent, and only that
    const addon = join(dir, 'linux_mounts.node');
    writeFileSync(addon, Buffer.concat([readFileSync(found.inputs!.mountsAddon.path), Buffer.from('rebuilt')]));
    const rebuilt = await buildLayer0(options(out, {inputs: {...found.inputs!, mountsAddon: {path: addon, libs: []}}}));
    assert.equal(rebuilt.files.filter((f) => f.built).map((f) => f.name), ['layer0-base.img']);
    const forced = await buildLayer0(options(out, {force: true}));
    assert.ok(forced.files.every((f) => f.built));
    const manifest = JSON.parse(readFileSync(join(out, MANIFEST), 'utf8')) as {artifacts: Record<string, {sha256: string}>};
    assert.is(manifest.artifacts['layer0-base.img']!.sha256, sums(forced)['layer0-base.img']);
  });

  test('one build at a time per directory; a dead builder\'s lock is taken over', async () => {
    const out = join(dir, 'locked');
    mkdirSync(out, {recursive: true});
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(join(out, '.layer0-build.lock'), `${other.pid}\n`);
      try {
        await buildLayer0(options(out));
        assert.unreachable('built');
      } catch (error) {
        assert.match((error as Error).message, new RegExp(`another layer0 build \\(pid ${other.pid}\\) is writing`));
      }
      assert.ok(existsSync(join(out, '.layer0-build.lock')), 'the other build\'s lock is left alone');
    } finally {
      other.kill();
    }
    await new Promise((r) => other.once('exit', r));
    const r = await buildLayer0(options(out)); // its builder is gone: the lock is stale
    assert.ok(r.files.every((f) => f.built));
    assert.not.ok(existsSync(join(out, '.layer0-build.lock')));
  });

  test('the command builds into the pxe boot root of the config file, and says what it built (--json)', () => {
    const root = join(dir, 'cli-root');
    const config = join(dir, 'layercake.config.json');
    writeFileSync(config, JSON.stringify({stateDir: join(dir, 'cli-state'), sync: {listen: '0.0.0.0:31777'}, modules: {pxe: {tftp: {root}}}}));
    const keys = join(dir, 'cli.pub');
    writeFileSync(keys, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIdtGHvXgc5Dw3Hnr6DQUpFTS6l0CMPoyKjUvJUdrxVx cli\n');
    const run = () => spawnSync(process.execPath, [CLI, 'layer0', 'build', '--config', config, '--authorized-keys', keys, '--modules', 'e1000', '--json'], {encoding: 'utf8'});
    const first = run();
    assert.is(first.status, 0, first.stderr);
    const out = JSON.parse(first.stdout) as {dir: string; files: {name: string; path: string; size: number; sha256: string; built: boolean}[]};
    assert.is(out.dir, join(root, 'amd64'));
    for (const f of out.files) {
      assert.is(f.path, join(root, 'amd64', f.name));
      assert.is(createHash('sha256').update(readFileSync(f.path)).digest('hex'), f.sha256, f.name);
      assert.ok(f.built);
    }
    const agentJson = execFileSync('sh', ['-c', `zstd -dc '${join(root, 'amd64', 'layer0-config.img')}' | cpio -i --quiet --to-stdout etc/layercake/agent.json`], {encoding: 'utf8'});
    assert.is((JSON.parse(agentJson) as {sync: {parentPort: number}}).sync.parentPort, 31777);
    const second = run();
    assert.is(second.status, 0, second.stderr);
    assert.ok((JSON.parse(second.stdout) as typeof out).files.every((f) => !f.built));
  });

  test('an unknown module fails the build, naming it, and leaves nothing behind', async () => {
    const out = join(dir, 'bad');
    try {
      await buildLayer0(options(out, {modules: ['virtio_net', 'no_such_driver']}));
      assert.unreachable('built');
    } catch (error) {
      assert.match((error as Error).message, /no module named no_such_driver/);
    }
    assert.equal(execFileSync('ls', ['-A', out], {encoding: 'utf8'}), '');
  });
}

test.run();
