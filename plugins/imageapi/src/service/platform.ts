/**
 * The node-level operations the service needs, behind one interface: the real Linux parts (loop
 * devices and mounts by system call, unshare + chroot; linux.ts) or a simulation that records them and stands a plain process in
 * for each container's init (simulated.ts), for simulated clusters and tests without root.
 */
import type {ChildProcess} from 'node:child_process';
import type {z} from '@layercake/sdk';
import type {attachHttp, attachIscsi, attachRbd, mountNfs} from '../api/models.js';

export type RbdSpec = z.output<typeof attachRbd>;
export type IscsiSpec = z.output<typeof attachIscsi>;
export type HttpSpec = z.output<typeof attachHttp>;
export type NfsSpec = z.output<typeof mountNfs>;

export interface DriverStatus {
  available: boolean;
  reason?: string;
}

export interface StartSpec {
  id: number;
  name: string;
  /** The mountpoint that becomes the container's root. */
  root: string;
  argv: string[];
  systemd: boolean;
  hostname: string;
  logfile: string;
  /** A directory private to this container's run (scratch files such as fstabs). */
  runDir: string;
}

export interface Started {
  /** The process the service spawned (unshare, or the stand-in). */
  pid: number;
  pidStart: number;
  /** The container's init as the host sees it (PID 1 in its namespace). */
  initPid: number;
  initStart: number;
  /** The spawned process when this process is its parent (linux.ts; the service does not use it). */
  child?: ChildProcess;
  /** Settles when the spawned process ends (captured from the spawn on, so no exit is missed). */
  exited: Promise<ExitStatus>;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why code and signal are unknown, when they are (e.g. the end was noticed in /proc). */
  note?: string;
}

/** The end of a child process as a promise, from now on. */
export function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({code, signal}));
    child.once('error', () => resolve({code: null, signal: null}));
  });
}

export interface Platform {
  readonly simulated: boolean;
  /** Prepares the directories (the shared mounts root, the /dev template). */
  init(dirs: {mounts: string; run: string}): Promise<void>;
  /** Undoes init (only when nothing is left mounted under it). */
  shutdown(): Promise<void>;
  drivers(): Record<string, DriverStatus>;

  attachLoopback(file: string, readOnly: boolean): Promise<string>;
  detachLoopback(device: string): Promise<void>;
  /** The file a loop device is bound to now (undefined if none): recovery after a restart. */
  loopbackFile(device: string): string | undefined;
  /** Throws an ApiError (400, naming `field`) unless `path` is a regular file. */
  checkFile(path: string, field: string): void;
  /** Throws an ApiError (400, naming `field`) unless `path` is a block device. */
  checkBlockDevice(path: string, field: string): void;
  rbdMap(spec: RbdSpec, key: string | undefined, scratch: string): Promise<string>;
  rbdUnmap(device: string): Promise<void>;
  iscsiLogin(spec: IscsiSpec): Promise<string>;
  iscsiLogout(spec: IscsiSpec): Promise<void>;
  /** Fetches the image into RAM, checks its sha256, attaches it read-only: the loop device; nothing left on failure. */
  attachHttp(spec: HttpSpec): Promise<string>;
  /** Detaches the loop device and frees the fetched copy. */
  detachHttp(device: string, spec: HttpSpec): Promise<void>;

  mount(source: string, target: string, fsType: string, options: string[]): Promise<void>;
  mountNfs(spec: NfsSpec, target: string): Promise<void>;
  bind(source: string, target: string, recursive: boolean, readOnly: boolean): Promise<void>;
  umount(target: string): Promise<void>;
  isMounted(target: string): boolean;
  /** Throws an ApiError (400, naming `field`) unless `path` (inside a mount) exists. */
  checkPath(path: string, field: string): void;
  makeDir(path: string): void;
  removeDir(path: string): void;

  /** Why `argv[0]` cannot be the init of an image rooted at `root` ("" if it can). */
  checkCommand(root: string, argv0: string): string;
  start(spec: StartSpec): Promise<Started>;
}
