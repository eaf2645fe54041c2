/**
 * The native addon (native/linux_mounts.c, through src/service/syscalls.ts) against the real kernel: a
 * squashfs attached read-only to a loop device and mounted, an overlay with a tmpfs upper layer, a bind
 * remounted read-only, a shared mount, umount, the lazy umount of a busy mount, detach; and the errors,
 * each naming the call, the paths and errno's name and text: a missing file, an unknown file system type,
 * a missing target, not a mount point, not root. Real-parts tier: root, loop devices, squashfs.
 */
import {execFileSync} from 'node:child_process';
import {closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {test as uvuTest} from 'uvu';
import * as assert from 'uvu/assert';
import {runnableOr} from '../../../test/support/skip.js';
import {LinuxPlatform} from '../src/service/linux.js';
import {loopAttach, loopDetach, mount, SyscallError, umount} from '../src/service/syscalls.js';
import {loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from './support/rootfs.js';

const missing = realPartsMissing();
const test = runnableOr(uvuTest, missing && `the mounts addon with real parts: ${missing}`);
const work = missing ? '' : mkdtempSync('/tmp/lc-syscalls-');
const image = missing ? '' : makeImage(work, 'addon');
const dir = (name: string) => {
  const path = join(work, name);
  mkdirSync(path, {recursive: true});
  return path;
};
/** The mount at `target` in /proc/self/mountinfo: its per-mount options, optional fields, type, super-block options. */
function mountInfo(target: string): {options: string[]; tags: string[]; type: string; superOptions: string[]} | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    const fields = left.split(' ');
    if (fields[4] !== target) continue;
    const [type, , superOptions] = right.split(' ');
    return {options: fields[5].split(','), tags: fields.slice(6), type, superOptions: superOptions.split(',')};
  }
  return undefined;
}
const failure = (p: Promise<unknown>) => p.then(() => assert.unreachable('it should fail'), (e: unknown) => e as SyscallError);

test.after(() => {
  for (const m of mountsUnder(work).reverse()) execFileSync('umount', ['-l', m]);
  for (const d of loopDevicesUnder(work)) execFileSync('losetup', ['-d', d.split(' ')[0]]);
  rmSync(work, {recursive: true, force: true});
});

test('attach, mount a squashfs, overlay with a tmpfs upper layer, umount, detach', async () => {
  const device = await loopAttach(image, true);
  assert.match(device, /^\/dev\/loop\d+$/);
  const name = device.slice('/dev/'.length);
  assert.is(readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim(), image);
  assert.is(readFileSync(`/sys/block/${name}/ro`, 'utf8').trim(), '1', 'attached read-only');
  assert.is(readFileSync(`/sys/block/${name}/loop/autoclear`, 'utf8').trim(), '0', 'no autoclear: detached by the service');

  const lower = dir('lower');
  await mount(device, lower, 'squashfs', ['ro', 'nodev']);
  assert.is(readFileSync(join(lower, 'etc/image-name'), 'utf8'), 'addon\n');
  const info = mountInfo(lower)!;
  assert.is(info.type, 'squashfs');
  assert.ok(info.options.includes('ro') && info.options.includes('nodev'), `ro,nodev: ${info.options}`);

  const upper = dir('upper');
  await mount('tmpfs', upper, 'tmpfs', ['mode=700', 'size=4m', 'nosuid']);
  const tmpfs = mountInfo(upper)!;
  assert.ok(tmpfs.superOptions.includes('mode=700') && tmpfs.superOptions.includes('size=4096k'), `data passed on: ${tmpfs.superOptions}`);
  assert.ok(tmpfs.options.includes('nosuid'), 'nosuid as a flag');
  const root = dir('root');
  mkdirSync(join(upper, 'u'));
  mkdirSync(join(upper, 'w'));
  await mount('overlay', root, 'overlay', [`lowerdir=${lower}`, `upperdir=${upper}/u`, `workdir=${upper}/w`]);
  writeFileSync(join(root, 'etc/written'), 'x');
  assert.is(readFileSync(join(root, 'etc/image-name'), 'utf8'), 'addon\n', 'the lower layer shows through');
  assert.is(readFileSync(join(upper, 'u/etc/written'), 'utf8'), 'x', 'writes go to the upper layer');

  for (const target of [root, upper, lower]) await umount(target);
  assert.equal(mountsUnder(work), []);
  await loopDetach(device);
  assert.equal(loopDevicesUnder(work), []);
  const again = await failure(loopDetach(device));
  assert.is(again.code, 'ENXIO', 'a detached device says so (the platform takes it as already gone)');
});

test('a bind remounted read-only, the source left writable; make-shared', async () => {
  const source = dir('bind-source');
  const target = dir('bind-target');
  await mount(source, target, null, ['bind']);
  await mount('none', target, null, ['remount', 'bind', 'ro']);
  const error = (() => {
    try {
      writeFileSync(join(target, 'f'), 'x');
      return undefined;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code;
    }
  })();
  assert.is(error, 'EROFS');
  writeFileSync(join(source, 'f'), 'x');
  assert.is(readFileSync(join(target, 'f'), 'utf8'), 'x', 'the same files');
  await mount('none', target, null, ['make-shared']);
  assert.ok(mountInfo(target)!.tags.some((t) => t.startsWith('shared:')), `shared: ${mountInfo(target)!.tags}`);
  await umount(target);
  assert.is(mountInfo(target), undefined);
});

test('a busy mount: umount says EBUSY, the lazy one detaches it at once, and the open file stays readable', async () => {
  const target = dir('busy');
  await mount('tmpfs', target, 'tmpfs', ['size=1m']);
  writeFileSync(join(target, 'held'), 'still here');
  const fd = openSync(join(target, 'held'), 'r');
  try {
    const busy = await failure(umount(target));
    assert.is(busy.code, 'EBUSY');
    assert.is(busy.message, `umount ${target}: EBUSY (resource busy or locked)`);
    await umount(target, true);
    assert.is(mountInfo(target), undefined, 'gone from the tree');
    const buffer = Buffer.alloc(10);
    readSync(fd, buffer, 0, 10, 0);
    assert.is(buffer.toString(), 'still here');
  } finally {
    closeSync(fd);
  }
});

test('the platform mounts a write-protected device read-only when neither ro nor rw was asked, as mount(8) does', async () => {
  const device = await loopAttach(image, true);
  const target = dir('write-protected');
  try {
    const refused = await failure(mount(device, target, 'squashfs', []));
    assert.is(refused.code, 'EACCES', 'mount(2) alone refuses a read-write mount of a read-only device');
    const platform = new LinuxPlatform();
    await platform.mount(device, target, 'squashfs', []);
    assert.ok(mountInfo(target)!.options.includes('ro'), `mounted read-only: ${mountInfo(target)!.options}`);
    await umount(target);
    const asked = await failure(platform.mount(device, target, 'squashfs', ['rw']));
    assert.is(asked.code, 'EACCES', 'rw asked for explicitly is not turned into ro');
  } finally {
    await loopDetach(device);
  }
});

test('errors name the call, the paths and errno', async () => {
  const attach = await failure(loopAttach(join(work, 'no-such.sqfs'), true));
  assert.instance(attach, SyscallError);
  assert.is(attach.message, `loop attach ${work}/no-such.sqfs: open ${work}/no-such.sqfs: ENOENT (no such file or directory)`);

  const target = dir('errors');
  const fsType = await failure(mount('/dev/null', target, 'nosuchfs', ['ro']));
  assert.is(fsType.message, `mount nosuchfs /dev/null on ${target} (ro): ENODEV (no such device)`);

  const device = await loopAttach(image, true);
  try {
    const gone = await failure(mount(device, join(work, 'no-such-dir'), 'squashfs', ['ro']));
    assert.is(gone.message, `mount squashfs ${device} on ${work}/no-such-dir (ro): ENOENT (no such file or directory)`);
    const wrong = await failure(mount(device, target, 'ext4', ['ro']));
    assert.match(wrong.message, new RegExp(`^mount ext4 ${device} on ${target} \\(ro\\): EINVAL \\(invalid argument\\)$`));
  } finally {
    await loopDetach(device);
  }

  const notMounted = await failure(umount(target));
  assert.is(notMounted.message, `umount ${target}: EINVAL (invalid argument)`);
});

test('not root: EPERM, named', () => {
  const module = fileURLToPath(new URL('../src/service/syscalls.ts', import.meta.url));
  const script = `import('${module}').then((m) => m.mount('tmpfs', '${work}', 'tmpfs', [])).catch((e) => console.log(e.message))`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {uid: 65534, gid: 65534, encoding: 'utf8', cwd: fileURLToPath(new URL('../../..', import.meta.url))});
  assert.is(out.trim(), `mount tmpfs tmpfs on ${work}: EPERM (operation not permitted)`);
});

test.run();
