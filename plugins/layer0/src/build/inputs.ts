/**
 * What a Layer0 build takes from the head node, found on disk: the kernel and its modules, busybox,
 * dropbear, the Node.js runtime with its shared libraries, the ImageAPI's native addon (built by
 * layercake's npm run build), and the tools the build runs. Each input
 * names the Debian package that brings it, so `layer0 build --check` can say what to install.
 */
import {execFileSync} from 'node:child_process';
import {accessSync, constants, existsSync, readdirSync, realpathSync, statSync} from 'node:fs';
import {basename, delimiter, isAbsolute, join} from 'node:path';
import {LINUX_MOUNTS_ADDON} from '@layercake/plugin-imageapi';

export interface Requirement {
  /** What is needed, for the operator ("the kernel image", "cpio"). */
  what: string;
  /** Where it was looked for. */
  path: string;
  /** The Debian package that brings it. */
  package: string;
  ok: boolean;
  detail?: string;
}

export interface Kernel {
  version: string;
  image: string;
  modulesDir: string;
}

/** A program to copy into the image, with the shared libraries it loads (paths as the loader looks them up). */
export interface Program {
  path: string;
  /** Shared libraries (ldd's "=> path"), and the dynamic loader itself; empty for a static program. */
  libs: string[];
}

export interface Inputs {
  kernel: Kernel;
  busybox: string;
  node: Program;
  dropbear: Program;
  /** util-linux's mount, umount, losetup and unshare, in place of busybox's: ImageAPI uses options busybox lacks. */
  imageTools: Program[];
  /** The ImageAPI's native addon (loop devices and mounts by system call), put beside the agent bundle. */
  mountsAddon: Program;
  tools: {cpio: string; zstd: string; depmod: string};
}

/**
 * The tools ImageAPI runs with util-linux options (unshare --kill-child, mount -a -T in a container), and
 * their packages. umount and losetup: the direct start of bench/boot's Layer1 part (a shell script on the
 * node, its baseline) runs them; the service itself uses system calls (imageapi's syscalls.ts).
 */
export const IMAGE_TOOLS = {mount: 'mount', umount: 'mount', losetup: 'mount', unshare: 'util-linux'} as const;

/** Build tools, found on PATH (and the sbin directories, which root's PATH may lack). */
export const TOOLS = {cpio: 'cpio', zstd: 'zstd', depmod: 'kmod', ldd: 'libc-bin'} as const;

export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin']) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Compares kernel versions such as 6.1.0-57-amd64 and 6.1.0-9-amd64 numerically, part by part. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const c = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * The kernel: a VERSION (`/boot/vmlinuz-VERSION` with `/lib/modules/VERSION`), a PATH to a vmlinuz-VERSION
 * file, or (default) the newest /boot/vmlinuz-* that has its modules.
 */
export function findKernel(spec: string | undefined, dirs = {boot: '/boot', modules: '/lib/modules'}): {kernel?: Kernel; requirement: Requirement} {
  const pkg = 'linux-image-amd64';
  const of = (version: string, image: string): Kernel => ({version, image, modulesDir: join(dirs.modules, version)});
  let kernel: Kernel | undefined;
  if (spec && (isAbsolute(spec) || spec.includes('/'))) {
    const m = /^vmlinuz-(.+)$/.exec(basename(spec));
    if (!m) return {requirement: {what: 'the kernel image', path: spec, package: pkg, ok: false, detail: 'expected a file named vmlinuz-VERSION (the version names its modules directory)'}};
    kernel = of(m[1]!, spec);
  } else if (spec) {
    kernel = of(spec, join(dirs.boot, `vmlinuz-${spec}`));
  } else {
    let names: string[] = [];
    try { names = readdirSync(dirs.boot); } catch { /* no /boot */ }
    const versions = names.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length))
      .filter((v) => existsSync(join(dirs.modules, v, 'modules.dep'))).sort(compareVersions);
    const newest = versions.at(-1);
    if (!newest) return {requirement: {what: 'a kernel with its modules', path: join(dirs.boot, 'vmlinuz-*'), package: pkg, ok: false, detail: `no ${dirs.boot}/vmlinuz-VERSION with ${dirs.modules}/VERSION/modules.dep`}};
    kernel = of(newest, join(dirs.boot, `vmlinuz-${newest}`));
  }
  if (!existsSync(kernel.image)) return {requirement: {what: 'the kernel image', path: kernel.image, package: pkg, ok: false}};
  if (!existsSync(join(kernel.modulesDir, 'modules.dep'))) {
    return {requirement: {what: `the modules of kernel ${kernel.version}`, path: join(kernel.modulesDir, 'modules.dep'), package: pkg, ok: false}};
  }
  return {kernel, requirement: {what: `kernel ${kernel.version}`, path: kernel.image, package: pkg, ok: true}};
}

/** ldd's answer: the libraries a dynamic program loads, and its loader; [] for a static program. */
export function parseLdd(text: string): string[] {
  const libs: string[] = [];
  for (const line of text.split('\n')) {
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const loader = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (arrow) libs.push(arrow[1]!);
    else if (loader) libs.push(loader[1]!);
  }
  return [...new Set(libs)].sort();
}

export function sharedLibraries(program: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [program], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  } catch (error) {
    const e = error as {stdout?: string; stderr?: string};
    if (/not a dynamic executable/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) return [];
    throw new Error(`ldd ${program} failed: ${(e.stderr ?? (error as Error).message).trim()}`);
  }
  if (/statically linked|not a dynamic executable/.test(out)) return [];
  const missing = /^\s*(\S+) => not found/m.exec(out);
  if (missing) throw new Error(`${program} needs ${missing[1]}, which is not installed`);
  return parseLdd(out);
}

function program(what: string, path: string, pkg: string, opts: {static?: boolean} = {}): {program?: Program; requirement: Requirement} {
  if (!existsSync(path)) return {requirement: {what, path, package: pkg, ok: false}};
  try {
    const libs = sharedLibraries(path);
    if (opts.static && libs.length) return {requirement: {what, path, package: pkg, ok: false, detail: `${path} is dynamically linked (install the static build)`}};
    return {program: {path: realpathSync(path), libs}, requirement: {what, path, package: pkg, ok: true}};
  } catch (error) {
    return {requirement: {what, path, package: pkg, ok: false, detail: (error as Error).message}};
  }
}

export interface FindOptions {
  kernel?: string;
  /** The Node.js runtime to carry (default: the one running this build). */
  node?: string;
  busybox?: string;
  dropbear?: string;
  /** The ImageAPI's native addon (default: the one the imageapi plugin built). */
  mountsAddon?: string;
  dirs?: {boot: string; modules: string};
  path?: string;
}

/** Every input, and what is missing (the build stops when anything is). */
export function findInputs(opts: FindOptions = {}): {inputs?: Inputs; requirements: Requirement[]} {
  const requirements: Requirement[] = [];
  const tool = (name: string, pkg: string) => {
    const path = which(name, opts.path);
    requirements.push({what: name, path: path ?? `${name} on PATH`, package: pkg, ok: Boolean(path)});
    return path ?? '';
  };
  const tools = {cpio: tool('cpio', TOOLS.cpio), zstd: tool('zstd', TOOLS.zstd), depmod: tool('depmod', TOOLS.depmod)};
  const ldd = tool('ldd', TOOLS.ldd);
  const k = findKernel(opts.kernel, opts.dirs);
  requirements.push(k.requirement);
  const busybox = program('busybox (static)', opts.busybox ?? '/bin/busybox', 'busybox-static', {static: true});
  const dropbear = ldd ? program('dropbear (sshd)', opts.dropbear ?? '/usr/sbin/dropbear', 'dropbear-bin') : undefined;
  const node = ldd ? program('the Node.js runtime', opts.node ?? process.execPath, 'nodejs') : undefined;
  const imageTools = ldd ? Object.entries(IMAGE_TOOLS).map(([name, pkg]) => program(name, which(name, opts.path) ?? `${name} on PATH`, pkg)) : [];
  const mountsAddon = ldd ? program('the ImageAPI\'s native addon', opts.mountsAddon ?? LINUX_MOUNTS_ADDON, 'layercake: npm run build') : undefined;
  for (const r of [busybox, dropbear, node, mountsAddon, ...imageTools]) if (r) requirements.push(r.requirement);
  const ok = requirements.every((r) => r.ok);
  if (!ok || !k.kernel || !busybox.program || !dropbear?.program || !node?.program || !mountsAddon?.program) return {requirements};
  return {
    requirements,
    inputs: {kernel: k.kernel, busybox: busybox.program.path, node: node.program, dropbear: dropbear.program, imageTools: imageTools.map((t) => t.program!), mountsAddon: mountsAddon.program, tools},
  };
}
