/**
 * parseMountOptions: mount(8)'s options split as mount(8) splits them, flag words into MS_* flags (a later
 * word undoing an earlier one), its own fstab words dropped, the rest passed on as the data string.
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {MS, parseMountOptions} from '../src/service/syscalls.js';

test('flag words become MS_* flags, the rest the data string in order', () => {
  assert.equal(parseMountOptions(['ro', 'nosuid', 'nodev', 'noexec', 'mode=755', 'size=64m']),
    {flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=755,size=64m'});
  assert.equal(parseMountOptions(['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w']), {flags: 0, data: 'lowerdir=/a:/b,upperdir=/u,workdir=/w'});
  assert.equal(parseMountOptions([]), {flags: 0, data: ''});
});

test('a later word undoes an earlier one', () => {
  assert.equal(parseMountOptions(['ro', 'rw']).flags, 0);
  assert.equal(parseMountOptions(['noatime', 'atime', 'nodev']).flags, MS.NODEV);
});

test('bind, rbind, remount and propagation', () => {
  assert.is(parseMountOptions(['bind']).flags, MS.BIND);
  assert.is(parseMountOptions(['rbind']).flags, MS.BIND | MS.REC);
  assert.is(parseMountOptions(['remount', 'bind', 'ro']).flags, MS.REMOUNT | MS.BIND | MS.RDONLY);
  assert.is(parseMountOptions(['make-shared']).flags, MS.SHARED);
  assert.is(parseMountOptions(['slave']).flags, MS.SLAVE);
  assert.is(parseMountOptions(['make-rprivate']).flags, MS.PRIVATE | MS.REC);
});

test("mount(8)'s own words are dropped, a file system's unknown words are kept for it to judge", () => {
  assert.equal(parseMountOptions(['defaults', 'noauto', 'nofail', '_netdev', 'X-mount.mkdir', 'x-systemd.automount', 'vers=4.2', 'nolock']),
    {flags: 0, data: 'vers=4.2,nolock'});
});

test.run();
