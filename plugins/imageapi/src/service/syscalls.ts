/**
 * Loop devices and mounts by system call, through the native addon native/linux_mounts.c (built by
 * `npm run build` with node-gyp; why native: see the C file's header). The Linux platform (linux.ts) does
 * every loop attach and detach, mount and umount here, and execs tools only for what the kernel call
 * cannot do alone (mount.nfs, rbd, iscsiadm, unshare + chroot, cp).
 */
import {existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';
import {getSystemErrorMap, getSystemErrorName} from 'node:util';

interface Binding {
  loopAttach(file: string, readOnly: boolean): Promise<string>;
  loopDetach(device: string): Promise<void>;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): Promise<void>;
  umount(target: string, flags: number): Promise<void>;
}

/** The addon as the plugin builds it (from src/service and dist/service alike). */
export const LINUX_MOUNTS_ADDON = fileURLToPath(new URL('../../build/Release/linux_mounts.node', import.meta.url));
/** Its file name beside the agent bundle on Layer0 (plugins/layer0's build puts it there). */
export const LINUX_MOUNTS_FILE = 'linux_mounts.node';

/** The addon beside the running module (the agent bundle on Layer0), else the plugin's build. */
function addonPath(): string {
  const beside = fileURLToPath(new URL(LINUX_MOUNTS_FILE, import.meta.url));
  return existsSync(beside) ? beside : LINUX_MOUNTS_ADDON;
}

let binding: Binding | undefined;

function load(): Binding {
  if (binding) return binding;
  const path = addonPath();
  try {
    binding = createRequire(import.meta.url)(path) as Binding;
  } catch (e) {
    throw new Error(`the ImageAPI's native addon ${path} cannot be loaded (${(e as Error).message.split('\n')[0]}): ` +
      'build it with npm run build, which needs a C compiler (Debian: apt install build-essential python3)');
  }
  return binding;
}

/** Loads the addon, or throws how to build it (the Linux platform checks this when the service starts). */
export function checkAddon(): void {
  load();
}

/** A failed system call: `errno` (positive) and its name as `code`; the message names what was done and errno's text. */
export class SyscallError extends Error {
  readonly code: string;
  constructor(what: string, readonly errno: number) {
    const code = getSystemErrorName(-errno);
    super(`${what}: ${code} (${getSystemErrorMap().get(-errno)?.[1] ?? 'unknown error'})`);
    this.name = 'SyscallError';
    this.code = code;
  }
}

/**
 * Runs an addon call; a failure becomes a SyscallError about `what`, with the step that failed when
 * `withStep` (a loop call makes several: open, LOOP_CTL_GET_FREE, LOOP_CONFIGURE of which device).
 */
async function call<T>(what: string, fn: (b: Binding) => Promise<T>, withStep = false): Promise<T> {
  const b = load();
  try {
    return await fn(b);
  } catch (e) {
    const {errno, step} = e as {errno?: number; step?: string};
    if (typeof errno !== 'number') throw e;
    throw new SyscallError(withStep && step ? `${what}: ${step}` : what, errno);
  }
}

/** Attaches `file` to a free loop device (LOOP_CONFIGURE, read-only if asked); its path. */
export function loopAttach(file: string, readOnly: boolean): Promise<string> {
  return call(`loop attach ${file}`, (b) => b.loopAttach(file, readOnly), true);
}

/**
 * Detaches a loop device (LOOP_CLR_FD). One still open (a lazily unmounted file system) is detached by
 * the kernel at its last close.
 */
export function loopDetach(device: string): Promise<void> {
  return call(`loop detach ${device}`, (b) => b.loopDetach(device), true);
}

/** mount(2) with options as mount(8) takes them (`parseMountOptions`); `fsType` null for a bind, remount or propagation change. */
export function mount(source: string, target: string, fsType: string | null, options: readonly string[]): Promise<void> {
  const {flags, data} = parseMountOptions(options);
  const kind = fsType ?? (flags & MS.REMOUNT ? 'remount' : flags & MS.BIND ? 'bind' : 'propagation');
  const what = `mount ${kind} ${source === 'none' ? '' : `${source} on `}${target}${options.length ? ` (${options.join(',')})` : ''}`;
  return call(what, (b) => b.mount(source, target, fsType, flags, data || null));
}

/** umount2(2); `lazy`: MNT_DETACH (gone from the tree now, freed by the kernel when no longer busy). */
export function umount(target: string, lazy = false): Promise<void> {
  return call(`umount${lazy ? ' (lazy)' : ''} ${target}`, (b) => b.umount(target, lazy ? MNT_DETACH : 0));
}

/** Mount flags (linux/mount.h: the kernel's ABI, never renumbered). */
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, SYNCHRONOUS: 16, REMOUNT: 32, MANDLOCK: 64, DIRSYNC: 128, NOSYMFOLLOW: 256,
  NOATIME: 1024, NODIRATIME: 2048, BIND: 4096, MOVE: 8192, REC: 16384, SILENT: 32768,
  UNBINDABLE: 1 << 17, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, RELATIME: 1 << 21, STRICTATIME: 1 << 24, LAZYTIME: 1 << 25,
} as const;
const MNT_DETACH = 2;

/** mount(8)'s flag words: the word that sets each flag, and the word that clears it (if any). */
const FLAG_WORDS: [set: string, clear: string | undefined, flag: number][] = [
  ['ro', 'rw', MS.RDONLY], ['nosuid', 'suid', MS.NOSUID], ['nodev', 'dev', MS.NODEV], ['noexec', 'exec', MS.NOEXEC],
  ['sync', 'async', MS.SYNCHRONOUS], ['dirsync', undefined, MS.DIRSYNC], ['mand', 'nomand', MS.MANDLOCK],
  ['nosymfollow', 'symfollow', MS.NOSYMFOLLOW], ['noatime', 'atime', MS.NOATIME], ['nodiratime', 'diratime', MS.NODIRATIME],
  ['relatime', 'norelatime', MS.RELATIME], ['strictatime', 'nostrictatime', MS.STRICTATIME], ['lazytime', 'nolazytime', MS.LAZYTIME],
  ['silent', 'loud', MS.SILENT], ['remount', undefined, MS.REMOUNT], ['bind', undefined, MS.BIND], ['rbind', undefined, MS.BIND | MS.REC],
  ['move', undefined, MS.MOVE],
  // propagation: shared, rshared, make-shared, make-rshared, and the same for slave, private, unbindable
  ...(['shared', 'slave', 'private', 'unbindable'] as const).flatMap((name) => {
    const flag = MS[name.toUpperCase() as 'SHARED' | 'SLAVE' | 'PRIVATE' | 'UNBINDABLE'];
    return ['', 'make-'].flatMap((prefix): [string, undefined, number][] => [[prefix + name, undefined, flag], [`${prefix}r${name}`, undefined, flag | MS.REC]]);
  }),
];
/** Each word: [flags set, flags cleared]. */
const FLAG_OPTIONS = new Map<string, [number, number]>();
for (const [set, clear, flag] of FLAG_WORDS) {
  FLAG_OPTIONS.set(set, [flag, 0]);
  if (clear) FLAG_OPTIONS.set(clear, [0, flag]);
}

/** Options mount(8) keeps to itself (fstab and utab words): no meaning to the kernel. */
const USERSPACE_OPTION = /^(defaults|auto|noauto|nofail|_netdev|users?|nouser|owner|group|comment=.*|[xX]-.*)$/;

/**
 * Options as mount(8) takes them, split as mount(8) splits them: flag words into MS_* flags (in order:
 * a later `rw` undoes an earlier `ro`), its own words dropped, everything else (mode=, lowerdir=, size=,
 * a file system's own options) passed on in the data string for the file system to judge.
 */
export function parseMountOptions(options: readonly string[]): {flags: number; data: string} {
  let flags = 0;
  const data: string[] = [];
  for (const option of options) {
    const flag = FLAG_OPTIONS.get(option);
    if (flag) flags = (flags | flag[0]) & ~flag[1];
    else if (!USERSPACE_OPTION.test(option)) data.push(option);
  }
  return {flags, data: data.join(',')};
}
