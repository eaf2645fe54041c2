/**
 * The real Linux parts: loop devices and mounts by system call (syscalls.ts, the native addon), and
 * the standard tools for what a kernel call cannot do alone: mount.nfs when present, rbd and iscsiadm
 * when present, cp for the /dev template, and unshare + chroot (with util-linux's mount inside the new
 * namespace) for containers.
 *
 * Containers: `unshare --mount --pid --ipc --uts --fork --propagation slave --mount-proc=<root>/proc
 * --kill-child` runs a short POSIX sh script as PID 1 of the new namespaces, which sets the host name,
 * mounts a private /dev (tmpfs with the usual device nodes, devpts, shm, mqueue) and a read-only /sys,
 * then `exec chroot <root> <init>`: the init replaces the script and stays PID 1.
 *
 * Why chroot and not pivot_root: the mount namespace is private to the container and its root is a
 * mount of ours, so chroot gives the same view of the file system with one exec less, and after a
 * pivot_root the host's umount would no longer be reachable to drop the old root. What pivot_root would
 * add (the host's mounts unreachable from inside) does not buy isolation here: a Layer1 container runs
 * as root with no user namespace, exactly as in the original.
 *
 * Why `--propagation slave` over a shared mounts root: every container's mount namespace starts as a
 * copy of the host's, including the other containers' images. With private propagation those copies
 * would pin a rolled-away image (its loop device stays busy until every other container has exited);
 * as slaves they receive the host's unmounts, so a roll frees the old image at once.
 */
import {spawn} from 'node:child_process';
import {once} from 'node:events';
import {lookup} from 'node:dns/promises';
import {createSocket} from 'node:dgram';
import {closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs';
import {isIP} from 'node:net';
import type {Readable} from 'node:stream';
import {join, posix} from 'node:path';
import {badRequest, failed, notAvailable} from '../api/errors.js';
import {setTimeout as sleep} from 'node:timers/promises';
import {run, ToolError, which} from './exec.js';
import {checkAddon, loopAttach, loopDetach, mount, SyscallError, umount} from './syscalls.js';
import {timed, type Debug} from './timing.js';
import {fetchImage, type FetchOptions} from './fetch.js';
import {exitOf, type DriverStatus, type HttpSpec, type IscsiSpec, type NfsSpec, type Platform, type RbdSpec, type StartSpec, type Started} from './platform.js';
import {children, mountPoints, startTime} from './procfs.js';

/**
 * PID 1 of a new container: $1 root, $2 host name, $3 run dir (its fstab), $4 /dev template, $5 the path
 * of util-linux's mount; then the init's argv. mount is called by its path: on Layer0, /bin/sh is busybox
 * built with FEATURE_SH_STANDALONE, which runs its own mount applet for a bare `mount` (found on the VMs:
 * busybox's mount has no -T and no X-mount.mkdir, and the container died with exit 112).
 * The script first writes a byte to fd 3, a pipe to the service, so that the service learns its PID 1
 * runs without polling /proc (on a one-CPU VM without KVM, a poll every millisecond took the CPU from the
 * very start it waited for). The host name is written through /proc (a shell builtin, no exec); one `mount -a` mounts
 * /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue and /sys (X-mount.mkdir makes their mount points); one
 * `cp -a` adds the device nodes. Four execs more than a bare `unshare ... chroot`.
 */
const INIT_SCRIPT = [
  'printf . >&3; exec 3>&-', // "PID 1 runs" to the service (an event instead of polling /proc), then the pipe is closed
  'root=$1; host=$2; run=$3; tmpl=$4; mount=$5; shift 5',
  'echo "$host" > /proc/sys/kernel/hostname || { echo "layercake: cannot set the host name" >&2; exit 111; }',
  '"$mount" -a -T "$run/fstab" || exit 112',
  'cp -a "$tmpl/." "$root/dev/" || exit 113',
  'cd "$root" || exit 115',
  'exec chroot . "$@"',
].join('\n');

/** How long unshare may take to run the container's PID 1 (generous: a loaded VM without KVM took seconds for a start). */
const START_LIMIT_MS = 10_000;

/** The container's environment: PATH for the init, and `container` so that systemd knows where it is. */
const CONTAINER_ENV = {PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', container: 'layercake'};
const INIT_PATH = CONTAINER_ENV.PATH.split(':');

/** fstab(5) escapes for a path. */
const fstabPath = (p: string) => p.replace(/[\\ \t\n]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));

function fstab(entries: [source: string, target: string, type: string, options: string][]): string {
  return entries.map(([s, t, y, o]) => `${fstabPath(s)} ${fstabPath(t)} ${y} ${o} 0 0`).join('\n') + '\n';
}

/** Resolves a path inside an image root the way the kernel would after chroot (symlinks stay inside). */
export function resolveInRoot(root: string, path: string): string | undefined {
  const pending = path.split('/').filter(Boolean);
  let current = '/';
  for (let hops = 0; pending.length;) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      current = posix.dirname(current);
      continue;
    }
    const next = posix.join(current, part);
    let st;
    try {
      st = lstatSync(join(root, next));
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = readlinkSync(join(root, next));
      pending.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) current = '/';
      continue;
    }
    current = next;
  }
  return join(root, current);
}

export class LinuxPlatform implements Platform {
  readonly simulated = false;
  private mountsDir = '';
  private runDir = '';
  private devTemplate = '';
  private tools: Record<string, string | undefined> = {};
  private imagesMounted = false;

  /** `fetch`: how http images are fetched (tests inject the node's free RAM); `debug`: step timings. */
  constructor(private readonly fetchOptions: FetchOptions = {}, private readonly debug?: Debug) {}

  /**
   * A tool by its full path (found at init), timed in the debug log. None is on a roll's path any more
   * (loop devices and mounts are system calls), so each is a plain spawn.
   */
  private run(tool: string, args: string[]): Promise<string> {
    return timed(this.debug, `${tool} ${args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}`, () => run(this.tools[tool] ?? tool, args));
  }

  async init(dirs: {mounts: string; run: string}): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error('the ImageAPI service must run as root (or with --simulate)');
    checkAddon();
    for (const tool of ['mount', 'unshare', 'chroot', 'cp', 'sh', 'rbd', 'iscsiadm', 'mount.nfs']) this.tools[tool] = which(tool);
    const missing = ['mount', 'unshare', 'chroot', 'cp', 'sh'].filter((t) => !this.tools[t]);
    if (missing.length) throw new Error(`missing tools: ${missing.join(', ')} (util-linux and coreutils are needed: containers run mount, unshare, chroot)`);
    this.mountsDir = dirs.mounts;
    this.runDir = dirs.run;
    mkdirSync(this.mountsDir, {recursive: true, mode: 0o700});
    mkdirSync(this.runDir, {recursive: true, mode: 0o700});
    // The mounts root is a shared mount, so that containers (slaves) see our unmounts.
    if (!this.isMounted(this.mountsDir)) await this.syscall(`mount bind ${this.mountsDir}`, () => mount(this.mountsDir, this.mountsDir, null, ['bind']));
    await this.syscall(`mount make-shared ${this.mountsDir}`, () => mount('none', this.mountsDir, null, ['make-shared']));
    await this.makeDevTemplate();
  }

  async shutdown(): Promise<void> {
    if (this.mountsDir && this.isMounted(this.mountsDir)) await this.umount(this.mountsDir);
    const images = join(this.runDir, 'images');
    if (this.runDir && this.isMounted(images) && readdirSync(images).length === 0) { // no http image left in use
      await this.umount(images);
      this.imagesMounted = false;
    }
  }

  private async makeDevTemplate(): Promise<void> {
    this.devTemplate = join(this.runDir, 'dev.v2');
    if (existsSync(join(this.devTemplate, 'urandom'))) return;
    mkdirSync(this.devTemplate, {recursive: true});
    await this.run('cp', ['-a', '/dev/null', '/dev/zero', '/dev/full', '/dev/tty', '/dev/random', '/dev/urandom', this.devTemplate]);
    for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx']]) {
      if (!existsSync(join(this.devTemplate, name))) symlinkSync(target, join(this.devTemplate, name));
    }
  }

  drivers(): Record<string, DriverStatus> {
    const fs = readFileSync('/proc/filesystems', 'utf8');
    const has = (t: string) => new RegExp(`\\s${t}\\n`).test(fs + '\n');
    const kernelNfs = has('nfs') || has('nfs4') || existsSync(`/lib/modules/${release()}/kernel/fs/nfs`);
    return {
      loopback: {available: true},
      http: {available: true},
      local: {available: true},
      rbd: this.tools.rbd ? {available: true} : {available: false, reason: 'rbd is not available on this node (the rbd tool of ceph-common was not found)'},
      iscsi: this.tools.iscsiadm ? {available: true} : {available: false, reason: 'iscsi is not available on this node (iscsiadm of open-iscsi was not found)'},
      nfs: kernelNfs ? {available: true} : {available: false, reason: 'nfs is not available on this node (the kernel has no nfs file system)'},
      overlay: has('overlay') || existsSync(`/lib/modules/${release()}/kernel/fs/overlayfs`) ? {available: true} : {available: false, reason: 'overlay is not available on this node (no overlay file system in the kernel)'},
      squashfs: {available: has('squashfs') || existsSync(`/lib/modules/${release()}/kernel/fs/squashfs`)},
    };
  }

  // ---- attachments ----

  /**
   * No LO_FLAGS_AUTOCLEAR: the attachment is an object of its own in the table, detached when its last
   * user lets go, and autoclear would detach the device as soon as the addon closes it, before any mount.
   */
  attachLoopback(file: string, readOnly: boolean): Promise<string> {
    return this.syscall(`loop attach ${file}`, () => loopAttach(file, readOnly));
  }

  async detachLoopback(device: string): Promise<void> {
    try {
      await this.syscall(`loop detach ${device}`, () => loopDetach(device));
    } catch (error) {
      if (error instanceof SyscallError && (error.code === 'ENXIO' || error.code === 'ENOENT')) return; // not bound (or no such device): already gone
      throw error;
    }
  }

  /** A system call through the addon, timed in the debug log. */
  private syscall<T>(what: string, call: () => Promise<T>): Promise<T> {
    return timed(this.debug, what, call);
  }

  /**
   * Where fetched images live: a tmpfs of the service (RAM), mounted on first use. Checked once: reading
   * the mount table costs about 30 ms on a one-CPU VM without KVM, and only shutdown unmounts it.
   */
  private async imagesDir(): Promise<string> {
    const dir = join(this.runDir, 'images');
    if (!this.imagesMounted && !this.isMounted(dir)) {
      mkdirSync(dir, {recursive: true, mode: 0o700});
      await this.syscall(`mount tmpfs ${dir}`, () => mount('layercake-images', dir, 'tmpfs', ['mode=700']));
    }
    this.imagesMounted = true;
    return dir;
  }

  async attachHttp(spec: HttpSpec): Promise<string> {
    const file = join(await this.imagesDir(), `${spec.sha256}.squashfs`);
    rmSync(file, {force: true}); // a copy left by a crash is not trusted: fetched and checked again
    await timed(this.debug, `fetch + sha256 ${spec.url}`, () => fetchImage(spec, file, {debug: this.debug, ...this.fetchOptions}), {gc: true});
    try {
      return await this.attachLoopback(file, true);
    } catch (error) {
      rmSync(file, {force: true});
      throw error;
    }
  }

  async detachHttp(device: string, spec: HttpSpec): Promise<void> {
    await this.detachLoopback(device);
    rmSync(join(this.runDir, 'images', `${spec.sha256}.squashfs`), {force: true});
  }

  loopbackFile(device: string): string | undefined {
    try {
      const name = device.replace(/^\/dev\//, '');
      return readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  checkFile(path: string, field: string): void {
    let st;
    try {
      st = statSync(path);
    } catch {
      throw badRequest(field, `${path} does not exist`);
    }
    if (!st.isFile()) throw badRequest(field, `${path} is not a regular file`);
  }

  checkBlockDevice(path: string, field: string): void {
    let st;
    try {
      st = statSync(path);
    } catch {
      throw badRequest(field, `${path} does not exist`);
    }
    if (!st.isBlockDevice()) throw badRequest(field, `${path} is not a block device`);
  }

  checkPath(path: string, field: string): void {
    if (!existsSync(path)) throw badRequest(field, `${path} does not exist`);
  }

  makeDir(path: string): void {
    mkdirSync(path, {recursive: true, mode: 0o755});
  }

  removeDir(path: string): void {
    try {
      rmdirSync(path);
    } catch {
      // not empty or gone: leave it
    }
  }

  async rbdMap(spec: RbdSpec, key: string | undefined, scratch: string): Promise<string> {
    if (!this.tools.rbd) throw notAvailable(this.drivers().rbd.reason!);
    const image = `${spec.pool}/${spec.options.namespace ? `${spec.options.namespace}/` : ''}${spec.image}${spec.snapshot ? `@${spec.snapshot}` : ''}`;
    const o = spec.options;
    const options = [o.ro ? 'ro' : 'rw', ...(o.exclusive ? ['exclusive'] : []), ...(o.lock_on_read ? ['lock_on_read'] : []), ...(o.notrim ? ['notrim'] : []),
      ...(o.queue_depth ? [`queue_depth=${o.queue_depth}`] : []), ...(o.alloc_size ? [`alloc_size=${o.alloc_size}`] : [])];
    let keyfile = o.keyfile;
    if (key) { // the key lives only for the map call, in a file only root can read
      mkdirSync(scratch, {recursive: true, mode: 0o700});
      keyfile = join(scratch, `rbd-${process.pid}-${Date.now()}.key`);
      writeFileSync(keyfile, key, {mode: 0o600});
    }
    try {
      const out = await this.run('rbd', ['device', 'map', image, '--id', o.name, '-m', spec.monitors.join(','), ...(keyfile ? ['--keyfile', keyfile] : []), '-o', options.join(',')]);
      return out.trim().split('\n').at(-1)!.trim();
    } finally {
      if (key && keyfile) rmSync(keyfile, {force: true});
    }
  }

  async rbdUnmap(device: string): Promise<void> {
    if (!this.tools.rbd) throw notAvailable(this.drivers().rbd.reason!);
    if (!existsSync(device)) return;
    await this.run('rbd', ['device', 'unmap', device]);
  }

  async iscsiLogin(spec: IscsiSpec): Promise<string> {
    if (!this.tools.iscsiadm) throw notAvailable(this.drivers().iscsi.reason!);
    const portal = `${spec.host}:${spec.port}`;
    await this.run('iscsiadm', ['-m', 'node', '-o', 'new', '-T', spec.target, '-p', portal]);
    if (spec.initiator) await this.run('iscsiadm', ['-m', 'node', '-T', spec.target, '-p', portal, '-o', 'update', '-n', 'iface.initiatorname', '-v', spec.initiator]);
    try {
      await this.run('iscsiadm', ['-m', 'node', '-T', spec.target, '-p', portal, '--login']);
    } catch (error) {
      if (!(error instanceof ToolError && /already present|session exists/i.test(error.stderr))) throw error;
    }
    const link = `/dev/disk/by-path/ip-${portal}-iscsi-${spec.target}-lun-${spec.lun}`;
    for (let i = 0; i < 100 && !existsSync(link); i++) await sleep(100);
    if (!existsSync(link)) throw failed(`iscsi: logged in to ${spec.target} at ${portal}, but lun ${spec.lun} did not appear (${link})`);
    return realpathSync(link);
  }

  async iscsiLogout(spec: IscsiSpec): Promise<void> {
    if (!this.tools.iscsiadm) throw notAvailable(this.drivers().iscsi.reason!);
    const portal = `${spec.host}:${spec.port}`;
    await this.run('iscsiadm', ['-m', 'node', '-T', spec.target, '-p', portal, '--logout']).catch(() => undefined);
    await this.run('iscsiadm', ['-m', 'node', '-o', 'delete', '-T', spec.target, '-p', portal]).catch(() => undefined);
  }

  // ---- mounts ----

  /**
   * As mount(8) does, a device that refuses a read-write mount (write-protected: EACCES, EROFS) is
   * mounted read-only when the options asked for neither: mount(2) alone would fail where mount did not.
   */
  async mount(source: string, target: string, fsType: string, options: string[]): Promise<void> {
    try {
      await this.syscall(`mount ${fsType} ${target}`, () => mount(source, target, fsType, options));
    } catch (error) {
      const writeProtected = error instanceof SyscallError && (error.code === 'EACCES' || error.code === 'EROFS');
      if (!writeProtected || options.includes('ro') || options.includes('rw') || !source.startsWith('/dev/')) throw error;
      this.debug?.(`mount ${fsType} ${target}: ${source} is write-protected, mounted read-only`);
      await this.syscall(`mount ${fsType} ${target} (ro)`, () => mount(source, target, fsType, [...options, 'ro']));
    }
  }

  async mountNfs(spec: NfsSpec, target: string): Promise<void> {
    const status = this.drivers().nfs;
    if (!status.available) throw notAvailable(status.reason!);
    const version = spec.version;
    const options = [`vers=${version}`, ...(spec.ro ? ['ro'] : []), ...spec.options];
    if (!this.tools['mount.nfs']) {
      // Without nfs-common the kernel is called directly and needs the addresses spelled out: the
      // server's, and for NFSv4 our own address on the route to it (the original sent the server's).
      const addr = isIP(spec.host) ? spec.host : (await lookup(spec.host)).address;
      options.push(`addr=${addr}`);
      if (!version.startsWith('3')) options.push(`clientaddr=${await localAddressTowards(addr)}`);
      else options.push('nolock');
    }
    const source = `${spec.host}:${spec.path}`;
    const fsType = version.startsWith('3') ? 'nfs' : 'nfs4';
    // mount.nfs (nfs-common) resolves the server, talks to its mountd and statd: only mount(8) runs it.
    if (this.tools['mount.nfs']) await this.run('mount', ['-t', fsType, '-o', options.join(','), source, target]);
    else await this.mount(source, target, fsType, options);
  }

  async bind(source: string, target: string, recursive: boolean, readOnly: boolean): Promise<void> {
    await this.syscall(`mount bind ${target}`, () => mount(source, target, null, [recursive ? 'rbind' : 'bind']));
    // A bind keeps the source's flags: read-only takes a remount of the new mount (the kernel's one way).
    if (readOnly) await this.syscall(`mount remount,bind,ro ${target}`, () => mount('none', target, null, ['remount', 'bind', 'ro']));
  }

  /** Unmounts `target` if it is mounted (the kernel says when it is not: no read of the mount table). */
  async umount(target: string): Promise<void> {
    try {
      await this.syscall(`umount ${target}`, () => umount(target));
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      if (error.code === 'EINVAL' || error.code === 'ENOENT') return; // not a mount point (or no such path): not mounted
      if (error.code !== 'EBUSY') throw error;
      // Busy (a process still has a file open there): detach it now, the kernel frees it when released.
      await this.syscall(`umount (lazy) ${target}`, () => umount(target, true));
    }
  }

  isMounted(target: string): boolean {
    return mountPoints().has(target);
  }

  // ---- containers ----

  checkCommand(root: string, argv0: string): string {
    for (const dir of ['proc', 'dev', 'sys']) {
      if (!existsSync(join(root, dir))) return `the image has no /${dir} directory`;
    }
    const candidates = argv0.includes('/') ? [argv0.startsWith('/') ? argv0 : `/${argv0}`] : INIT_PATH.map((d) => `${d}/${argv0}`);
    for (const candidate of candidates) {
      const real = resolveInRoot(root, candidate);
      if (!real) continue;
      try {
        const st = statSync(real);
        if (st.isFile() && (st.mode & 0o111) !== 0) return '';
        if (argv0.includes('/')) return `${argv0} is not an executable file in the image`;
      } catch {
        // not there: try the next candidate
      }
    }
    return argv0.includes('/') ? `${argv0} does not exist in the image` : `${argv0} was not found in the image's PATH (${INIT_PATH.join(':')})`;
  }

  async start(spec: StartSpec): Promise<Started> {
    mkdirSync(spec.runDir, {recursive: true, mode: 0o700});
    const r = spec.root;
    const mounts: [string, string, string, string][] = [
      ['dev', `${r}/dev`, 'tmpfs', 'mode=755,nosuid,size=65536k'],
      ['devpts', `${r}/dev/pts`, 'devpts', 'newinstance,ptmxmode=0666,mode=620,X-mount.mkdir'],
      ['shm', `${r}/dev/shm`, 'tmpfs', 'nosuid,nodev,mode=1777,X-mount.mkdir'],
      ['mqueue', `${r}/dev/mqueue`, 'mqueue', 'nosuid,nodev,noexec,X-mount.mkdir'],
      ['sysfs', `${r}/sys`, 'sysfs', 'ro,nosuid,nodev,noexec'],
    ];
    if (spec.systemd) {
      mounts.push(['tmpfs', `${r}/run`, 'tmpfs', 'nosuid,nodev,mode=755,X-mount.mkdir'], ['tmpfs', `${r}/tmp`, 'tmpfs', 'nosuid,nodev,mode=1777,X-mount.mkdir'],
        ['cgroup', `${r}/sys/fs/cgroup`, 'tmpfs', 'nosuid,nodev,noexec,mode=755'], ['journal', `${r}/var/lib/journal`, 'tmpfs', 'nosuid,nodev,X-mount.mkdir']);
    }
    writeFileSync(join(spec.runDir, 'fstab'), fstab(mounts));
    const log = openSync(spec.logfile, 'a', 0o640);
    const t0 = performance.now();
    let child;
    try {
      child = spawn('unshare', [
        '--mount', '--pid', '--ipc', '--uts', '--fork', '--kill-child', '--propagation', 'slave', `--mount-proc=${r}/proc`,
        '--', '/bin/sh', '-c', INIT_SCRIPT, 'layercake-init', r, spec.hostname, spec.runDir, this.devTemplate, this.tools.mount!, ...spec.argv,
      ], {detached: true, stdio: ['ignore', log, log, 'pipe'], env: CONTAINER_ENV});
    } finally {
      closeSync(log);
    }
    const spawned = performance.now();
    const pid = child.pid;
    if (!pid) throw failed(`cannot start unshare for container ${spec.name}`);
    child.unref();
    let exited = false;
    const exit = exitOf(child);
    void exit.then(() => { exited = true; });
    const pidStart = startTime(pid) ?? 0;
    // unshare forks the namespace's PID 1, whose script reports on fd 3 first thing (it becomes the init by exec).
    const ready = child.stdio[3] as Readable;
    const waited = new AbortController();
    const {signal} = waited;
    await Promise.race([once(ready, 'data', {signal}), exit, sleep(START_LIMIT_MS, undefined, {signal})]).catch(() => undefined);
    waited.abort();
    ready.destroy();
    this.debug?.(`container ${spec.name}: spawn of unshare ${Math.round(spawned - t0)} ms, then its PID 1 reported in ${Math.round(performance.now() - spawned)} ms`);
    const initPid = exited ? 0 : (children(pid)[0] ?? 0);
    if (!initPid) {
      if (!exited) child.kill('SIGKILL');
      throw failed(`container ${spec.name} did not start: ${tail(spec.logfile) || 'unshare exited at once'}`);
    }
    return {pid, pidStart, initPid, initStart: startTime(initPid) ?? 0, child, exited: exit};
  }
}

function release(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return '';
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

/** Our address on the route to `addr` (a connected UDP socket sends nothing but picks it). */
function localAddressTowards(addr: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(addr) === 6 ? 'udp6' : 'udp4');
    socket.once('error', (e) => {
      socket.close();
      reject(e);
    });
    socket.connect(2049, addr, () => {
      const local = socket.address().address;
      socket.close();
      resolve(local);
    });
  });
}

