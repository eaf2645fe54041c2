/**
 * `layercake image build` with the real tools (tar, mksquashfs, umoci, skopeo) through the built CLI:
 * from a directory, a tarball, an OCI layout made with umoci from a directory, and a docker-archive made
 * from it with skopeo; the kernel modules added (merged /usr followed inside the image); the same input
 * gives the same sha256; bad input is refused with nothing changed; a killed build leaves nothing in
 * the catalogue; `image list` lists, `image rm` removes.
 */
import {execFile, execFileSync, spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../../../', import.meta.url).pathname;
const has = (tool: string) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, tool)));
const missing = !existsSync(join(ROOT, 'plugins/imageapi/dist/commands/image/build.js')) ? 'the CLI is not built (npm run build)'
  : ['mksquashfs', 'unsquashfs', 'umoci', 'skopeo', 'tar'].filter((t) => !has(t)).map((t) => `${t} is not installed (apt-get install squashfs-tools umoci skopeo)`)[0] ?? '';

interface Run {code: number; json: any; stdout: string; stderr: string}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {cwd: work, env: {...process.env, NO_COLOR: '1', ...env}, timeout: 120_000}, (error, stdout, stderr) => {
      let json: any;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      // oclif wraps long messages to the terminal's width: matched as one line
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, json, stdout, stderr: stderr.replace(/\s*\n\s*/g, ' ')});
    });
  });
}

let work = '';
let cat = '';
let modules = '';

/** A small root file system: files, a directory, a symlink, an executable, and merged /usr when asked. */
function rootfs(dir: string, opts: {mergedUsr?: boolean} = {}): string {
  mkdirSync(join(dir, 'etc'), {recursive: true});
  mkdirSync(join(dir, 'usr/bin'), {recursive: true});
  mkdirSync(join(dir, 'usr/lib'), {recursive: true});
  writeFileSync(join(dir, 'etc/motd'), 'hello from the image\n');
  writeFileSync(join(dir, 'usr/bin/hello'), '#!/bin/sh\necho hello\n');
  chmodSync(join(dir, 'usr/bin/hello'), 0o755);
  symlinkSync('usr/bin', join(dir, 'bin'));
  if (opts.mergedUsr) symlinkSync('/usr/lib', join(dir, 'lib')); // absolute, as Debian has it: must be followed inside the image
  return dir;
}

const build = (src: string, name: string, ...more: string[]) => cli(['image', 'build', src, '--name', name, '--catalogue', cat, '--json', ...more]);
const listing = (sha: string) => execFileSync('unsquashfs', ['-lc', '-d', '', join(cat, `${sha}.squashfs`)], {encoding: 'utf8'}).split('\n').filter(Boolean).sort();
const catFile = (sha: string, path: string) => execFileSync('unsquashfs', ['-cat', join(cat, `${sha}.squashfs`), path], {encoding: 'utf8'});
const state = () => ({index: existsSync(join(cat, 'catalogue.json')) ? readFileSync(join(cat, 'catalogue.json'), 'utf8') : '', files: readdirSync(cat).sort()});

if (missing) {
  console.log(`SKIP: image build tests: ${missing}`);
  test.skip('image build (real tools)', () => undefined);
} else {
  test.before(() => {
    work = mkdtempSync('/tmp/lc-image-build-');
    cat = join(work, 'catalogue');
    modules = join(work, 'modules', '9.9.9-test');
    mkdirSync(join(modules, 'kernel/fs'), {recursive: true});
    writeFileSync(join(modules, 'modules.dep'), 'kernel/fs/fake.ko:\n');
    writeFileSync(join(modules, 'kernel/fs/fake.ko'), 'not really a module\n');
    rootfs(join(work, 'dir'));
    rootfs(join(work, 'merged'), {mergedUsr: true});
  });

  test.after(() => rmSync(work, {recursive: true, force: true}));

  test('from a directory: the files, /etc/layercake-image, the kernel modules; listed by image list', async () => {
    const r = await build(join(work, 'dir'), 'demo:v1', '--kernel', modules);
    assert.is(r.code, 0, r.stderr);
    const e = r.json;
    assert.is(e.name, 'demo');
    assert.is(e.version, 'v1');
    assert.is(e.kernel, '9.9.9-test');
    assert.is(createHash('sha256').update(readFileSync(join(cat, `${e.sha256}.squashfs`))).digest('hex'), e.sha256);
    assert.is(readFileSync(join(cat, `${e.sha256}.squashfs`)).length, e.size);
    const files = listing(e.sha256);
    for (const f of ['/etc/motd', '/usr/bin/hello', '/bin', '/lib/modules/9.9.9-test/modules.dep', '/lib/modules/9.9.9-test/kernel/fs/fake.ko', '/etc/layercake-image']) assert.ok(files.includes(f), `${f} in ${files.join(' ')}`);
    assert.is(catFile(e.sha256, 'etc/layercake-image'), 'demo:v1\n');
    assert.match(execFileSync('unsquashfs', ['-s', join(cat, `${e.sha256}.squashfs`)], {encoding: 'utf8'}), /Compression zstd/);
    const list = await cli(['image', 'list', '--catalogue', cat, '--json']);
    assert.equal(list.json.images.map((i: {name: string; version: string}) => `${i.name}:${i.version}`), ['demo:v1']);
    const table = await cli(['image', 'list', '--catalogue', cat]);
    assert.match(table.stdout, new RegExp(`demo\\s+v1\\s+${e.sha256.slice(0, 16)}`));
  });

  test('merged /usr: the modules land in /usr/lib/modules through the image\'s own /lib symlink', async () => {
    const r = await build(join(work, 'merged'), 'merged:1', '--kernel', modules);
    assert.is(r.code, 0, r.stderr);
    const files = listing(r.json.sha256);
    assert.ok(files.includes('/usr/lib/modules/9.9.9-test/modules.dep'), files.join(' '));
    assert.not.ok(existsSync('/usr/lib/modules/9.9.9-test'), 'nothing written outside the image');
  });

  test('reproducible: the same input gives the same sha256, whatever its time stamps', async () => {
    const a = await build(join(work, 'dir'), 'same:1', '--no-modules');
    utimesSync(join(work, 'dir/etc/motd'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const b = await build(join(work, 'dir'), 'same:1', '--no-modules', '--force');
    assert.is(a.code, 0, a.stderr);
    assert.is(b.code, 0, b.stderr);
    assert.is(b.json.sha256, a.json.sha256);
    writeFileSync(join(work, 'dir/etc/motd'), 'changed\n');
    const c = await build(join(work, 'dir'), 'same:1', '--no-modules', '--force');
    assert.is.not(c.json.sha256, a.json.sha256, 'another content, another checksum');
    assert.not.ok(existsSync(join(cat, `${a.json.sha256}.squashfs`)), 'the replaced version\'s file went');
    writeFileSync(join(work, 'dir/etc/motd'), 'hello from the image\n');
  });

  test('from a tarball (gzip): the same image as from the directory', async () => {
    execFileSync('tar', ['-czf', join(work, 'root.tar.gz'), '-C', join(work, 'dir'), '.']);
    const fromDir = await build(join(work, 'dir'), 'fromdir:1', '--no-modules');
    const fromTar = await build(join(work, 'root.tar.gz'), 'fromtar:1', '--no-modules');
    assert.is(fromTar.code, 0, fromTar.stderr);
    assert.match(fromTar.json.source, /^tarball /);
    assert.equal(listing(fromTar.json.sha256), listing(fromDir.json.sha256));
  });

  test('from an OCI layout made with umoci (DIR and DIR:TAG), and a docker-archive made from it with skopeo', async () => {
    const layout = join(work, 'oci');
    execFileSync('umoci', ['init', '--layout', layout]);
    execFileSync('umoci', ['new', '--image', `${layout}:t1`]);
    execFileSync('umoci', ['insert', '--image', `${layout}:t1`, join(work, 'dir'), '/']);
    const a = await build(layout, 'oci:1', '--no-modules');
    assert.is(a.code, 0, a.stderr);
    assert.match(a.json.source, /^oci-layout .*:t1$/);
    const files = listing(a.json.sha256);
    for (const f of ['/etc/motd', '/usr/bin/hello', '/etc/layercake-image']) assert.ok(files.includes(f), `${f} in ${files.join(' ')}`);
    const b = await build(`${layout}:t1`, 'oci:2', '--no-modules');
    assert.is(b.code, 0, b.stderr);
    const archive = join(work, 'docker.tar');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:t1`, `docker-archive:${archive}:demo:latest`]);
    const d = await build(archive, 'docker:1', '--no-modules');
    assert.is(d.code, 0, d.stderr);
    assert.match(d.json.source, /^docker-archive /);
    assert.ok(listing(d.json.sha256).includes('/etc/motd'));
    execFileSync('umoci', ['new', '--image', `${layout}:t2`]);
    const two = await cli(['image', 'build', layout, '--name', 'oci:3', '--no-modules', '--catalogue', cat]);
    assert.is(two.code, 2);
    assert.match(two.stderr, /LC_ERR_IMAGE_SOURCE.*has the tags t1, t2: name one as/);
  });

  test('bad input: a clear error, exit 2, nothing changed in the catalogue', async () => {
    const before = state();
    writeFileSync(join(work, 'not.tar'), 'this is not a tarball\n');
    const cases: [string[], RegExp][] = [
      [[join(work, 'nope'), '--name', 'x:1'], /LC_ERR_IMAGE_SOURCE.*nope does not exist/],
      [[join(work, 'dir'), '--name', 'demo'], /LC_ERR_USAGE.*"demo" is not an image reference: expected NAME:VERSION/],
      [[join(work, 'dir'), '--name', 'demo:v1'], /LC_ERR_IMAGE_EXISTS.*demo:v1 is already in the image catalogue/],
      [[join(work, 'not.tar'), '--name', 'x:1', '--no-modules'], /LC_ERR_IMAGE_SOURCE.*not\.tar is not a tarball/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['image', 'build', ...args, '--catalogue', cat]);
      assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const noKernel = await cli(['image', 'build', join(work, 'dir'), '--name', 'x:1', '--kernel', join(work, 'dir'), '--catalogue', cat]);
    assert.is(noKernel.code, 1);
    assert.match(noKernel.stderr, /LC_ERR_IMAGE_BUILD.*is not a kernel modules directory \(it has no modules.dep\)/);
    assert.equal(state(), before);
  });

  test('a killed build leaves nothing in the catalogue; the next write sweeps its scratch', async () => {
    const big = join(work, 'big');
    mkdirSync(big);
    for (let i = 0; i < 12; i++) writeFileSync(join(big, `f${i}`), createHash('sha512').update(String(i)).digest().toString('hex').repeat(2 ** 14)); // 12 x 2 MiB
    const before = state();
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'image', 'build', big, '--name', 'killed:1', '--no-modules', '--catalogue', cat], {cwd: work, detached: true, stdio: ['ignore', 'ignore', 'pipe']});
    await new Promise<void>((resolve) => child.stderr!.on('data', (d: Buffer) => { if (/packing/.test(String(d))) resolve(); }));
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('close', r));
    const after = state();
    assert.is(after.index, before.index, 'catalogue.json unchanged');
    assert.equal(after.files.filter((f) => f.endsWith('.squashfs')), before.files.filter((f) => f.endsWith('.squashfs')), 'no image file added');
    assert.ok(after.files.some((f) => f.startsWith('.build-')), 'the dead build\'s scratch is there');
    assert.is((await build(join(work, 'dir'), 'after:1', '--no-modules')).code, 0);
    assert.not.ok(state().files.some((f) => f.startsWith('.build-')), 'swept by the next write');
  });

  test('image rm: removes the entry and its file (no daemon to ask: --force), refuses an unknown one', async () => {
    const entry = (await cli(['image', 'list', '--catalogue', cat, '--json'])).json.images.find((i: {name: string}) => i.name === 'after');
    const unknown = await cli(['image', 'rm', 'after:9', '--catalogue', cat, '--yes', '--url', 'http://127.0.0.1:1']);
    assert.is(unknown.code, 2);
    assert.match(unknown.stderr, /LC_ERR_IMAGE_NOT_IN_CATALOGUE.*after:9 is not in the image catalogue .* \(it has .*after:1/);
    const noDaemon = await cli(['image', 'rm', 'after:1', '--catalogue', cat, '--yes', '--url', 'http://127.0.0.1:1']);
    assert.is(noDaemon.code, 1);
    assert.match(noDaemon.stderr, /LC_ERR_IMAGE_IN_USE.*cannot ask the daemon which nodes use after:1/);
    const noConfirm = await cli(['image', 'rm', 'after:1', '--catalogue', cat, '--force', '--url', 'http://127.0.0.1:1']);
    assert.is(noConfirm.code, 2, 'not on a terminal: confirmation needed');
    assert.ok(existsSync(join(cat, `${entry.sha256}.squashfs`)));
    const r = await cli(['image', 'rm', 'after:1', '--catalogue', cat, '--force', '--yes', '--url', 'http://127.0.0.1:1']);
    assert.is(r.code, 0, r.stderr);
    assert.not.ok(existsSync(join(cat, `${entry.sha256}.squashfs`)));
    assert.not.ok(state().index.includes('"after"'));
  });
}

test.run();
