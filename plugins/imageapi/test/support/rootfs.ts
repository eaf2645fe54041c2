/**
 * Test images: a tiny root file system made of busybox (Debian's busybox-static, or the dynamic busybox
 * with the libraries it needs), packed into a squashfs with mksquashfs; and leak checks (loop devices
 * and mounts left behind).
 */
import {execFileSync} from 'node:child_process';
import {copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';

const APPLETS = ['sh', 'sleep', 'echo', 'cat', 'hostname', 'ls', 'ps', 'true', 'false', 'env', 'kill', 'touch', 'mkdir', 'readlink', 'mount', 'date', 'wc'];

function which(tool: string): string | undefined {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (existsSync(join(dir, tool))) return join(dir, tool);
  return undefined;
}

export interface Busybox {
  path: string;
  static: boolean;
  libraries: string[];
}

export function findBusybox(): Busybox | undefined {
  const path = which('busybox');
  if (!path) return undefined;
  let out = '';
  try {
    out = execFileSync('ldd', [path], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  } catch (error) {
    out = String((error as {stdout?: string}).stdout ?? '') + String((error as {stderr?: string}).stderr ?? '');
  }
  if (/not a dynamic executable|statically linked/.test(out)) return {path, static: true, libraries: []};
  const libraries = [...out.matchAll(/(\/[^\s]+)\s+\(0x/g)].map((m) => m[1]);
  return {path, static: false, libraries};
}

/** Why the real-parts tests cannot run here ('' if they can). */
export function realPartsMissing(): string {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['mksquashfs', 'losetup', 'unshare', 'chroot', 'mount']) if (!which(tool)) return `${tool} is not installed (apt-get install squashfs-tools util-linux)`;
  if (!findBusybox()) return 'busybox is not installed (apt-get install busybox-static)';
  const fs = readFileSync('/proc/filesystems', 'utf8');
  if (!/\bsquashfs\b/.test(fs) && !existsSync(`/lib/modules/${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}/kernel/fs/squashfs`)) return 'the kernel has no squashfs';
  return '';
}

/** Builds a busybox root file system in `dir`; `/etc/image-name` holds `name`. */
export function buildRootfs(dir: string, name: string): void {
  const bb = findBusybox();
  if (!bb) throw new Error('busybox is not installed');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'run', 'root']) mkdirSync(join(dir, d), {recursive: true});
  copyFileSync(bb.path, join(dir, 'bin/busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(dir, 'bin', applet));
  for (const lib of bb.libraries) { // a dynamic busybox: its libraries and loader at the same paths
    mkdirSync(join(dir, dirname(lib)), {recursive: true});
    copyFileSync(realpathSync(lib), join(dir, lib));
  }
  writeFileSync(join(dir, 'etc/image-name'), `${name}\n`);
}

/** Packs `dir` into a squashfs file. */
export function makeSquashfs(dir: string, file: string): void {
  execFileSync('mksquashfs', [dir, file, '-noappend', '-quiet', '-no-progress'], {stdio: ['ignore', 'ignore', 'pipe']});
}

/** Builds `<workdir>/<name>.sqfs` from a fresh busybox root. */
export function makeImage(workdir: string, name: string): string {
  const root = join(workdir, `${name}-root`);
  buildRootfs(root, name);
  const file = join(workdir, `${name}.sqfs`);
  makeSquashfs(root, file);
  return file;
}

/** Loop devices bound to files under `prefix`. */
export function loopDevicesUnder(prefix: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/sys/block').filter((n) => n.startsWith('loop'))) {
    try {
      const backing = readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
      if (backing.startsWith(prefix)) out.push(`/dev/${name} (${backing})`);
    } catch {
      // not bound
    }
  }
  return out;
}

/** Mount points under `prefix`. */
export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(prefix));
}

/** Commands for the test images' init. */
export const INIT_MARKER = ['/bin/sh', '-c', 'echo "$(cat /etc/image-name) $$ $(hostname)" > /tmp/marker; exec sleep 1000000'];
export const INIT_DIES = ['/bin/sh', '-c', 'echo "giving up"; exit 7'];
