/**
 * The ImageAPI service's logic: an object table of attachments, mounts and containers, reference
 * counted, persisted in the state directory, and recovered after a restart.
 *
 * Reference counting: every object keeps the list of its users: `api` (created directly through the API:
 * the creator's pin), `mount:N`, `attach:N`, `container:N` (a parent that holds it). A nested spec
 * creates (or shares) a child owned by its parent; `{"id": N}` takes an extra reference to an existing
 * object. When the last user goes, the object is destroyed (unmounted, detached), which releases its own
 * children in turn. Attachments and mounts other than overlays are shared by spec: two containers made
 * from the same image file share its loop device and its squashfs mount, each with its own overlay.
 * Lookups never change references (the original's GET leaked one).
 *
 * Idempotence: creating what exists returns it (200 instead of 201): an attachment or mount with the same
 * spec, a container with the same name and spec (a different spec under the same name is 409).
 *
 * Restart: the table is written (atomically) after every change. On start the service reloads it: a
 * container's processes are found again by pid and verified by their start time in /proc/<pid>/stat (a
 * recycled pid is not mistaken for them); mounts and loop devices are checked against the kernel. After a
 * reboot (another boot id) the table is discarded, since the kernel state it described is gone.
 */
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import type {z} from '@layercake/sdk';
import {ApiError, badRequest, conflict, failed, fromZod, notAvailable, notFound} from '../api/errors.js';
import {
  ATTACH_KINDS, MOUNT_KINDS, attach as attachSchema, container as containerSchema, mount as mountSchema,
  type ApiAttach, type ApiContainer, type ApiExit, type ApiInfo, type ApiMount, type AttachKind, type ContainerState, type MountKind,
} from '../api/models.js';
import {canonical} from '../util/canonical.js';
import {splitCommand} from '../util/command-line.js';
import {Mutex} from '../util/mutex.js';
import {sleep} from '../util/sleep.js';
import {ToolError} from './exec.js';
import {LinuxPlatform} from './linux.js';
import type {Platform} from './platform.js';
import {bootId, sameProcess} from './procfs.js';
import {SimulatedPlatform} from './simulated.js';

export const API_VERSION = '1.0.0';
export const API_BASE = '/imageapi/v1';

type Json = Record<string, unknown>;
interface ChildRef {type: 'attach' | 'mount'; id: number}

interface AttachRec {
  id: number;
  kind: AttachKind;
  /** The normalized spec: nested objects as {id}, no secrets. */
  spec: Json;
  device: string;
  users: string[];
  children: ChildRef[];
  /** The identity used to share it ('' when it is never shared). */
  key: string;
  created: string;
}

interface MountRec {
  id: number;
  kind: MountKind;
  spec: Json;
  mountpoint: string;
  /** An overlay's private tmpfs holding upper/ and work/. */
  upperMount?: string;
  upperdir?: string;
  workdir?: string;
  users: string[];
  children: ChildRef[];
  key: string;
  created: string;
}

interface ContainerRec {
  id: number;
  name: string;
  state: ContainerState;
  command: string[];
  systemd: boolean;
  hostname: string;
  annotations: Record<string, string>;
  mount: number;
  logfile: string;
  /** The spec as given (for idempotent create). */
  key: string;
  pid: number | null;
  pidStart: number | null;
  initPid: number | null;
  initStart: number | null;
  startedAt: string | null;
  exit: ApiExit | null;
  stopRequested: boolean;
  error?: string;
}

interface Persisted {
  version: 1;
  bootId: string;
  nextId: number;
  attachments: AttachRec[];
  mounts: MountRec[];
  containers: ContainerRec[];
}

export interface ServiceLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface ServiceOptions {
  stateDir: string;
  simulate?: boolean;
  /** With simulate: the image files that exist in the simulated world (default: any path does). */
  simulatedFiles?: readonly string[];
  /** Overrides the platform (tests). */
  platform?: Platform;
  log?: ServiceLogger;
  /** How often containers found again after a restart (not our children) are checked (default 250 ms). */
  adoptPollMs?: number;
  /** How long a stop waits for the init to end before killing the whole container (default 5 s, systemd 30 s). */
  stopTimeoutMs?: number;
  systemdStopTimeoutMs?: number;
}

export interface Created<T> {
  created: boolean;
  value: T;
}

const now = () => new Date().toISOString();
const quietLog: ServiceLogger = {info: () => undefined, warn: () => undefined, error: () => undefined};

/** The exit codes of the container's setup script (linux.ts) and what they mean. */
const SETUP_FAILURES: Record<number, string> = {
  111: 'container setup failed: cannot set the host name',
  112: 'container setup failed: cannot mount /dev, /dev/pts, /dev/shm, /dev/mqueue or /sys',
  113: 'container setup failed: cannot populate /dev',
  115: 'container setup failed: cannot enter the root',
  126: 'the init could not be executed',
  127: 'the init was not found',
};

export class ImageApiService {
  readonly stateDir: string;
  readonly platform: Platform;
  private readonly mountsDir: string;
  private readonly logsDir: string;
  private readonly runDir: string;
  private readonly tableFile: string;
  private readonly log: ServiceLogger;
  private readonly lock = new Mutex();
  private readonly attaches = new Map<number, AttachRec>();
  private readonly mounts = new Map<number, MountRec>();
  private readonly containers = new Map<number, ContainerRec>();
  /** Containers this service started: the platform reports their end (Started.exited); the others are polled. */
  private readonly children = new Set<number>();
  private readonly exitWaiters = new Map<number, Set<() => void>>();
  private readonly watchers = new Set<() => void>();
  private nextId = 1;
  private gen = 0;
  private adoptTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(private readonly options: ServiceOptions) {
    this.stateDir = resolve(options.stateDir);
    if (/[,:\s]/.test(this.stateDir)) throw new Error(`the state directory ${this.stateDir} must not contain commas, colons or white space (they would break overlay options)`);
    this.platform = options.platform ?? (options.simulate ? new SimulatedPlatform(options.simulatedFiles && new Set(options.simulatedFiles)) : new LinuxPlatform());
    this.mountsDir = join(this.stateDir, 'mounts');
    this.logsDir = join(this.stateDir, 'logs');
    this.runDir = join(this.stateDir, 'run');
    this.tableFile = join(this.stateDir, 'objects.json');
    this.log = options.log ?? quietLog;
  }

  static async open(options: ServiceOptions): Promise<ImageApiService> {
    const service = new ImageApiService(options);
    mkdirSync(service.stateDir, {recursive: true, mode: 0o700});
    mkdirSync(service.logsDir, {recursive: true, mode: 0o750});
    await service.platform.init({mounts: service.mountsDir, run: service.runDir});
    service.recover();
    return service;
  }

  get simulated(): boolean {
    return this.platform.simulated;
  }

  get generation(): number {
    return this.gen;
  }

  /**
   * Stops serving. Containers keep running (a restarted service finds them again) unless `purge`, which
   * stops and deletes every container and releases every object (tests, and `serve --purge-on-exit`).
   */
  async close(options: {purge?: boolean} = {}): Promise<void> {
    if (options.purge) {
      await this.lock.run(async () => {
        for (const c of [...this.containers.values()]) await this.removeContainer(c, true);
        for (const m of [...this.mounts.values()]) if (m.users.includes('api')) await this.release('mount', m.id, 'api');
        for (const a of [...this.attaches.values()]) if (a.users.includes('api')) await this.release('attach', a.id, 'api');
        for (const m of [...this.mounts.values()]) await this.destroyMount(m).catch((e: Error) => this.log.error(`purge: ${e.message}`));
        for (const a of [...this.attaches.values()]) await this.destroyAttach(a).catch((e: Error) => this.log.error(`purge: ${e.message}`));
        this.persist();
      });
      await this.platform.shutdown();
    }
    this.closed = true;
    clearInterval(this.adoptTimer);
    for (const wake of this.watchers) wake();
  }

  // ---- info and watch ----

  info(): ApiInfo {
    return {version: API_VERSION, api: API_BASE, simulate: this.simulated, state_dir: this.stateDir, generation: this.gen, drivers: this.platform.drivers()};
  }

  /** Resolves with the generation once it is past `since` (at once if it already is), or after `timeoutMs`. */
  watch(since: number, timeoutMs: number): Promise<number> {
    if (this.gen > since || timeoutMs === 0 || this.closed) return Promise.resolve(this.gen);
    return new Promise((done) => {
      const wake = () => {
        clearTimeout(timer);
        this.watchers.delete(wake);
        done(this.gen);
      };
      const timer = setTimeout(wake, timeoutMs);
      this.watchers.add(wake);
    });
  }

  private changed(): void {
    if (this.closed) return;
    this.gen++;
    this.persist();
    for (const wake of [...this.watchers]) wake();
  }

  // ---- attachments ----

  listAttach(q: {id?: number; kind?: AttachKind}): ApiAttach[] {
    return [...this.attaches.values()].filter((a) => (q.id === undefined || a.id === q.id) && (q.kind === undefined || a.kind === q.kind)).map((a) => this.apiAttach(a));
  }

  createAttach(body: unknown): Promise<Created<ApiAttach>> {
    const input = parse(attachSchema, body);
    if (input.id !== undefined) throw badRequest('id', 'is assigned by the service');
    return this.lock.run(async () => {
      const before = this.attaches.size;
      const rec = await this.resolveAttach(input, 'api', '');
      this.changed();
      return {created: this.attaches.size > before, value: this.apiAttach(rec)};
    });
  }

  deleteAttach(id: number, force: boolean): Promise<ApiAttach> {
    return this.lock.run(async () => {
      const rec = this.attaches.get(id);
      if (!rec) throw notFound(`no attachment ${id}`);
      const view = this.apiAttach(rec);
      await this.unpin('attach', rec, force);
      this.changed();
      return {...view, refs: rec.users.length, users: [...rec.users]};
    });
  }

  // ---- mounts ----

  listMount(q: {id?: number; kind?: MountKind}): ApiMount[] {
    return [...this.mounts.values()].filter((m) => (q.id === undefined || m.id === q.id) && (q.kind === undefined || m.kind === q.kind)).map((m) => this.apiMount(m));
  }

  createMount(body: unknown): Promise<Created<ApiMount>> {
    const input = parse(mountSchema, body);
    if (input.id !== undefined) throw badRequest('id', 'is assigned by the service');
    return this.lock.run(async () => {
      const before = this.mounts.size;
      const rec = await this.resolveMount(input, 'api', '');
      this.changed();
      return {created: this.mounts.size > before, value: this.apiMount(rec)};
    });
  }

  deleteMount(id: number, force: boolean): Promise<ApiMount> {
    return this.lock.run(async () => {
      const rec = this.mounts.get(id);
      if (!rec) throw notFound(`no mount ${id}`);
      const view = this.apiMount(rec);
      await this.unpin('mount', rec, force);
      this.changed();
      return {...view, refs: rec.users.length, users: [...rec.users]};
    });
  }

  /** Drops the API's pin on an object: 409 while others use it (unless force: then it goes with its last user). */
  private async unpin(type: 'attach' | 'mount', rec: AttachRec | MountRec, force: boolean): Promise<void> {
    const others = rec.users.filter((u) => u !== 'api');
    if (!rec.users.includes('api')) {
      if (rec.users.length === 0) { // a destroy that failed earlier: try again
        await (type === 'attach' ? this.destroyAttach(rec as AttachRec) : this.destroyMount(rec as MountRec));
        return;
      }
      throw conflict(`${type} ${rec.id} was not created through the API: it belongs to ${others.join(', ')} and goes when they do`);
    }
    if (others.length && !force) throw conflict(`${type} ${rec.id} is in use by ${others.join(', ')} (force=true releases the API's reference anyway; it then goes with its last user)`);
    await this.release(type, rec.id, 'api');
  }

  // ---- containers ----

  listContainers(q: {id?: number; name?: string; state?: ContainerState}): ApiContainer[] {
    return [...this.containers.values()]
      .filter((c) => (q.id === undefined || c.id === q.id) && (q.name === undefined || c.name === q.name) && (q.state === undefined || c.state === q.state))
      .map((c) => this.apiContainer(c));
  }

  /**
   * Creates a container (and starts it if asked). With `replace`, a container of the same name but
   * another spec (or not running) is replaced: the new mount is prepared while the old container still
   * runs (objects both use are shared, not re-made), then the old one is stopped, the new one started,
   * and what only the old one used is released.
   */
  createContainer(body: unknown, options: {replace?: boolean} = {}): Promise<Created<ApiContainer>> {
    const input = parse(containerSchema, body);
    if (input.id !== undefined) throw badRequest('id', 'is assigned by the service');
    if (input.state !== 'created' && input.state !== 'running') throw badRequest('state', `a new container is created or running, not ${input.state}`);
    let argv: string[];
    try {
      argv = typeof input.command === 'string' ? splitCommand(input.command) : input.command;
    } catch (error) {
      throw badRequest('command', (error as Error).message);
    }
    if (argv.length === 0 || !argv[0]) throw badRequest('command', 'is empty');
    const key = canonical({mount: stripReadOnly(input.mount), command: argv, systemd: input.systemd, hostname: input.hostname ?? null, annotations: input.annotations});
    return this.lock.run(async () => {
      const existing = [...this.containers.values()].find((c) => c.name === input.name);
      if (existing) {
        const same = existing.key === key;
        if (same && (!options.replace || input.state !== 'running' || existing.state === 'running')) return {created: false, value: this.apiContainer(existing)};
        if (!options.replace) throw conflict(`a container named ${input.name} exists with a different spec (delete it first, or replace=true)`, 'name');
      }
      const id = this.nextId++;
      const owner = `container:${id}`;
      const mount = await this.resolveMount(input.mount, owner, 'mount');
      const problem = this.platform.checkCommand(mount.mountpoint, argv[0]);
      if (problem) {
        await this.release('mount', mount.id, owner);
        throw badRequest('command', problem);
      }
      const stamp = Math.floor(Date.now() / 1000);
      const rec: ContainerRec = {
        id, name: input.name, state: 'created', command: argv, systemd: input.systemd, hostname: input.hostname ?? input.name,
        annotations: input.annotations, mount: mount.id, logfile: join(this.logsDir, `${input.name}-${id}-${stamp}.log`), key,
        pid: null, pidStart: null, initPid: null, initStart: null, startedAt: null, exit: null, stopRequested: false,
      };
      if (existing) {
        if (existing.state === 'running' || existing.state === 'stopping') await this.stopNow(existing, existing.systemd ? 37 : 'SIGKILL');
        this.containers.delete(existing.id);
        this.children.delete(existing.id);
      }
      this.containers.set(id, rec);
      try {
        if (input.state === 'running') await this.startContainer(rec);
      } catch (error) {
        this.containers.delete(id);
        await this.release('mount', mount.id, owner);
        if (existing) await this.release('mount', existing.mount, `container:${existing.id}`).catch(() => undefined);
        this.changed();
        throw asApiError(error);
      }
      if (existing) {
        try {
          await this.release('mount', existing.mount, `container:${existing.id}`);
        } catch (error) {
          this.log.error(`container ${existing.name} (${existing.id}) replaced, but releasing its mount failed: ${(error as Error).message}`);
        }
      }
      this.changed();
      return {created: true, value: this.apiContainer(rec)};
    });
  }

  /** PATCH: running (start a created, exited or dead container) or exited (stop it). */
  async setContainerState(q: {id?: number; name?: string; state: 'running' | 'exited' | 'paused'}): Promise<ApiContainer> {
    if (q.state === 'paused') throw badRequest('state', 'paused is not supported (containers have no freezer cgroup)');
    const rec = this.findContainer(q);
    if (q.state === 'running') {
      return this.lock.run(async () => {
        if (rec.state === 'running') return this.apiContainer(rec);
        if (rec.state === 'stopping') throw conflict(`container ${rec.name} is stopping`);
        await this.startContainer(rec);
        this.changed();
        return this.apiContainer(rec);
      });
    }
    await this.stopContainer(rec);
    return this.apiContainer(rec);
  }

  deleteContainer(q: {id?: number; name?: string; force: boolean}): Promise<ApiContainer> {
    const rec = this.findContainer(q);
    if ((rec.state === 'running' || rec.state === 'stopping') && !q.force) {
      return Promise.reject(conflict(`container ${rec.name} is ${rec.state} (stop it first, or force=true)`));
    }
    return (async () => {
      if (rec.state === 'running' || rec.state === 'stopping') await this.stopContainer(rec);
      return this.lock.run(async () => {
        const view = this.apiContainer(rec);
        if (!this.containers.has(rec.id)) throw notFound(`no container ${rec.name}`);
        await this.removeContainer(rec, false);
        this.changed();
        return view;
      });
    })();
  }

  logs(q: {id?: number; name?: string; tail: number}): string {
    const rec = this.findContainer(q);
    try {
      const lines = readFileSync(rec.logfile, 'utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      return lines.slice(-q.tail).join('\n') + (lines.length ? '\n' : '');
    } catch {
      return '';
    }
  }

  private findContainer(q: {id?: number; name?: string}): ContainerRec {
    if (q.id === undefined && q.name === undefined) throw badRequest('name', 'give the container\'s id or name');
    const rec = [...this.containers.values()].find((c) => (q.id === undefined || c.id === q.id) && (q.name === undefined || c.name === q.name));
    if (!rec) throw notFound(`no container ${q.name ?? q.id}`);
    return rec;
  }

  /** Under the lock. */
  private async removeContainer(rec: ContainerRec, stopFirst: boolean): Promise<void> {
    if (stopFirst && (rec.state === 'running' || rec.state === 'stopping')) await this.stopNow(rec, 'SIGKILL');
    this.containers.delete(rec.id);
    this.children.delete(rec.id);
    await this.release('mount', rec.mount, `container:${rec.id}`);
  }

  /** Under the lock. */
  private async startContainer(rec: ContainerRec): Promise<void> {
    const mount = this.mounts.get(rec.mount);
    if (!mount) throw failed(`container ${rec.name}: its mount ${rec.mount} is gone`);
    if (!this.platform.simulated && !this.platform.isMounted(mount.mountpoint)) throw failed(`container ${rec.name}: ${mount.mountpoint} is no longer mounted`);
    const started = await this.platform.start({
      id: rec.id, name: rec.name, root: mount.mountpoint, argv: rec.command, systemd: rec.systemd, hostname: rec.hostname,
      logfile: rec.logfile, runDir: join(this.runDir, String(rec.id)),
    });
    Object.assign(rec, {
      state: 'running', pid: started.pid, pidStart: started.pidStart, initPid: started.initPid, initStart: started.initStart,
      startedAt: now(), exit: null, stopRequested: false, error: undefined,
    });
    this.children.add(rec.id);
    const pid = started.pid;
    void started.exited.then(({code, signal, note}) => this.onExit(rec.id, pid, code, signal, note));
  }

  private onExit(id: number, pid: number, code: number | null, signal: NodeJS.Signals | null, note?: string): void {
    const rec = this.containers.get(id);
    if (this.closed || !rec || rec.pid !== pid) return;
    this.children.delete(id);
    const clean = rec.stopRequested || code === 0;
    rec.state = clean ? 'exited' : 'dead';
    rec.exit = {code, signal, at: now(), ...(note ? {note} : {})};
    rec.error = clean ? undefined : describeExit(code, signal, note);
    rec.pid = rec.initPid = rec.pidStart = rec.initStart = null;
    rec.stopRequested = false;
    this.log.info(`container ${rec.name} ${rec.state}${rec.error ? `: ${rec.error}` : ''}`);
    this.changed();
    for (const wake of this.exitWaiters.get(id) ?? []) wake();
    this.exitWaiters.delete(id);
  }

  /** Stops a running container: SIGRTMIN+3 to a systemd init, SIGKILL to any other; waits for the end. */
  private async stopContainer(rec: ContainerRec): Promise<void> {
    await this.lock.run(() => {
      if (rec.state !== 'running') return;
      rec.state = 'stopping';
      rec.stopRequested = true;
      this.signalInit(rec, rec.systemd ? 37 : 'SIGKILL');
      this.changed();
    });
    if (rec.state === 'stopping') await this.awaitStop(rec);
  }

  /** Under the lock (replace, purge): stop without taking the lock again. */
  private async stopNow(rec: ContainerRec, signal: NodeJS.Signals | number): Promise<void> {
    rec.state = 'stopping';
    rec.stopRequested = true;
    this.signalInit(rec, signal);
    await this.awaitStop(rec);
  }

  private signalInit(rec: ContainerRec, signal: NodeJS.Signals | number): void {
    const target = sameProcess(rec.initPid, rec.initStart) ? rec.initPid! : sameProcess(rec.pid, rec.pidStart) ? rec.pid! : 0;
    if (!target) return;
    try {
      process.kill(target, signal);
    } catch {
      // already gone
    }
  }

  private async awaitStop(rec: ContainerRec): Promise<void> {
    const timeout = rec.systemd ? (this.options.systemdStopTimeoutMs ?? 30_000) : (this.options.stopTimeoutMs ?? 5000);
    if (await this.waitExit(rec, timeout)) return;
    this.log.warn(`container ${rec.name} did not stop in ${timeout} ms: killing it`);
    for (const [pid, start] of [[rec.initPid, rec.initStart], [rec.pid, rec.pidStart]] as const) {
      if (sameProcess(pid, start)) try { process.kill(pid!, 'SIGKILL'); } catch { /* gone */ }
    }
    if (await this.waitExit(rec, 5000)) return;
    this.onExit(rec.id, rec.pid!, null, null, 'did not end after SIGKILL; forgotten');
  }

  /** Waits for the container's processes to end (our child's exit event, or polling for one we adopted). */
  private async waitExit(rec: ContainerRec, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (rec.state === 'running' || rec.state === 'stopping') {
      if (Date.now() >= deadline) return false;
      if (!this.children.has(rec.id)) {
        if (!sameProcess(rec.pid, rec.pidStart)) this.onExit(rec.id, rec.pid!, null, null, 'exit status unknown (found again after a service restart)');
        else await sleep(10);
        continue;
      }
      await new Promise<void>((done) => {
        const timer = setTimeout(() => finish(), Math.max(0, deadline - Date.now()));
        const finish = () => {
          clearTimeout(timer);
          this.exitWaiters.get(rec.id)?.delete(finish);
          done();
        };
        let set = this.exitWaiters.get(rec.id);
        if (!set) this.exitWaiters.set(rec.id, (set = new Set()));
        set.add(finish);
      });
    }
    return true;
  }

  // ---- resolving nested specs (under the lock) ----

  private async resolveAttach(input: z.output<typeof attachSchema>, owner: string, field: string): Promise<AttachRec> {
    const f = (name: string) => (field ? `${field}.${name}` : name);
    if (input.id !== undefined) {
      const rec = this.attaches.get(input.id);
      if (!rec) throw badRequest(f('id'), `no attachment ${input.id}`);
      rec.users.push(owner);
      return rec;
    }
    const kind = kindOf(input, ATTACH_KINDS, field);
    const status = this.platform.drivers()[kind];
    if (status && !status.available) throw notAvailable(status.reason ?? `${kind} is not available on this node`);
    const id = this.nextId++;
    const self = `attach:${id}`;
    const children: ChildRef[] = [];
    let spec: Json;
    let secret: string | undefined;
    try {
      let file = '';
      if (kind === 'loopback') {
        const l = input.loopback!;
        spec = {path: l.path, base: l.base, read_only: l.read_only};
        if (l.base === 'mount') {
          if (!l.mount) throw badRequest(f('loopback.mount'), 'is required with base "mount"');
          const m = await this.resolveMount(l.mount, self, f('loopback.mount'));
          children.push({type: 'mount', id: m.id});
          spec.mount = {id: m.id};
          file = join(m.mountpoint, l.path);
          if (!file.startsWith(m.mountpoint + '/')) throw badRequest(f('loopback.path'), 'must stay inside the mount');
        } else {
          if (!l.path.startsWith('/')) throw badRequest(f('loopback.path'), 'must be an absolute path with base "root"');
          if (l.mount) throw badRequest(f('loopback.mount'), 'is only allowed with base "mount"');
          file = resolve(l.path);
          spec.path = file;
        }
        this.platform.checkFile(file, f('loopback.path'));
      } else if (kind === 'local') {
        spec = {path: resolve(input.local!.path)};
        this.platform.checkBlockDevice(spec.path as string, f('local.path'));
      } else if (kind === 'rbd') {
        const {options, ...rest} = input.rbd!;
        const {secret: key, ...kept} = options;
        if (!key && !kept.keyfile) throw badRequest(f('rbd.options.secret'), 'give the cephx key (secret) or a keyfile on this node');
        secret = key;
        spec = {...rest, options: kept};
        delete spec.device_id;
      } else {
        spec = {...input.iscsi!};
      }
      const key = canonical({kind, spec});
      const same = [...this.attaches.values()].find((a) => a.key === key);
      if (same) {
        for (const c of children) await this.release(c.type, c.id, self);
        if (owner !== 'api' || !same.users.includes('api')) same.users.push(owner); // the API pins once
        return same;
      }
      let device: string;
      if (kind === 'loopback') device = await this.platform.attachLoopback(file, spec.read_only as boolean);
      else if (kind === 'local') device = spec.path as string;
      else if (kind === 'rbd') device = await this.platform.rbdMap(input.rbd! as never, secret, this.runDir);
      else device = await this.platform.iscsiLogin(input.iscsi!);
      const rec: AttachRec = {id, kind, spec, device, users: [owner], children, key, created: now()};
      this.attaches.set(id, rec);
      return rec;
    } catch (error) {
      for (const c of children) await this.release(c.type, c.id, self).catch(() => undefined);
      throw asApiError(error);
    }
  }

  private async resolveMount(input: z.output<typeof mountSchema>, owner: string, field: string): Promise<MountRec> {
    const f = (name: string) => (field ? `${field}.${name}` : name);
    if (input.id !== undefined) {
      const rec = this.mounts.get(input.id);
      if (!rec) throw badRequest(f('id'), `no mount ${input.id}`);
      rec.users.push(owner);
      return rec;
    }
    const kind = kindOf(input, MOUNT_KINDS, field);
    const status = this.platform.drivers()[kind === 'nfs' ? 'nfs' : kind === 'overlay' ? 'overlay' : ''];
    if (status && !status.available) throw notAvailable(status.reason ?? `${kind} is not available on this node`);
    const id = this.nextId++;
    const self = `mount:${id}`;
    const mountpoint = join(this.mountsDir, String(id));
    const children: ChildRef[] = [];
    const rec: MountRec = {id, kind, spec: {}, mountpoint, users: [owner], children, key: '', created: now()};
    let made = false;
    try {
      let perform: () => Promise<void>;
      if (kind === 'attach') {
        const m = input.attach!;
        const a = await this.resolveAttach(m.attach, self, f('attach.attach'));
        children.push({type: 'attach', id: a.id});
        rec.spec = {attach: {id: a.id}, fs_type: m.fs_type, mount_options: m.mount_options};
        const readOnly = a.spec.read_only === true || (a.kind === 'rbd' && (a.spec.options as Json)?.ro === true);
        const options = readOnly && !m.mount_options.includes('ro') ? ['ro', ...m.mount_options] : m.mount_options;
        perform = () => this.platform.mount(a.device, mountpoint, m.fs_type, options);
      } else if (kind === 'bind') {
        const b = input.bind!;
        rec.spec = {path: b.path, base: b.base, recursive: b.recursive, ro: b.ro};
        let source: string;
        if (b.base === 'mount') {
          if (!b.mount) throw badRequest(f('bind.mount'), 'is required with base "mount"');
          const m = await this.resolveMount(b.mount, self, f('bind.mount'));
          children.push({type: 'mount', id: m.id});
          rec.spec.mount = {id: m.id};
          source = join(m.mountpoint, b.path);
          if (source !== m.mountpoint && !source.startsWith(m.mountpoint + '/')) throw badRequest(f('bind.path'), 'must stay inside the mount');
        } else {
          if (!b.path.startsWith('/')) throw badRequest(f('bind.path'), 'must be an absolute path with base "root"');
          if (b.mount) throw badRequest(f('bind.mount'), 'is only allowed with base "mount"');
          source = resolve(b.path);
          rec.spec.path = source;
        }
        this.platform.checkPath(source, f('bind.path'));
        perform = () => this.platform.bind(source, mountpoint, b.recursive, b.ro);
      } else if (kind === 'nfs') {
        const n = input.nfs!;
        rec.spec = {...n};
        perform = () => this.platform.mountNfs(n, mountpoint);
      } else {
        const o = input.overlay!;
        if (o.upper.kind === 'dir' && !o.upper.path) throw badRequest(f('overlay.upper.path'), 'is required with an upper layer of kind "dir"');
        if (o.upper.kind === 'tmpfs' && o.upper.path) throw badRequest(f('overlay.upper.path'), 'is only allowed with an upper layer of kind "dir"');
        const lowers: MountRec[] = [];
        for (const [i, lower] of o.lower.entries()) {
          const m = await this.resolveMount(lower, self, f(`overlay.lower[${i}]`));
          children.push({type: 'mount', id: m.id});
          lowers.push(m);
        }
        rec.spec = {lower: lowers.map((m) => ({id: m.id})), upper: o.upper};
        if (o.upper.kind === 'tmpfs') {
          rec.upperMount = `${mountpoint}.upper`;
          rec.upperdir = `${rec.upperMount}/upper`;
          rec.workdir = `${rec.upperMount}/work`;
        } else {
          rec.upperdir = join(resolve(o.upper.path!), 'upper');
          rec.workdir = join(resolve(o.upper.path!), 'work');
        }
        perform = async () => {
          if (rec.upperMount) {
            this.platform.makeDir(rec.upperMount);
            await this.platform.mount('tmpfs', rec.upperMount, 'tmpfs', ['mode=755', ...(o.upper.size ? [`size=${o.upper.size}`] : [])]);
          }
          this.platform.makeDir(rec.upperdir!);
          this.platform.makeDir(rec.workdir!);
          await this.platform.mount('overlay', mountpoint, 'overlay', [`lowerdir=${lowers.map((m) => m.mountpoint).join(':')}`, `upperdir=${rec.upperdir}`, `workdir=${rec.workdir}`]);
        };
      }
      // Everything but an overlay is shared by spec; an overlay only with another of the API's own.
      const identity = canonical({kind, spec: rec.spec});
      rec.key = kind === 'overlay' ? '' : identity;
      const same = [...this.mounts.values()].find((m) => (kind === 'overlay' ? owner === 'api' && m.users.includes('api') && canonical({kind: m.kind, spec: m.spec}) === identity : m.key === identity));
      if (same) {
        for (const c of children) await this.release(c.type, c.id, self);
        if (owner !== 'api' || !same.users.includes('api')) same.users.push(owner); // the API pins once
        return same;
      }
      this.platform.makeDir(mountpoint);
      made = true;
      this.mounts.set(id, rec); // registered first, so that a failure below unwinds through destroyMount
      await perform();
      return rec;
    } catch (error) {
      if (this.mounts.get(id) === rec) {
        rec.users = [];
        await this.destroyMount(rec).catch(() => undefined);
      } else {
        for (const c of children) await this.release(c.type, c.id, self).catch(() => undefined);
        if (made) this.platform.removeDir(mountpoint);
      }
      throw asApiError(error);
    }
  }

  // ---- releasing (under the lock) ----

  private async release(type: 'attach' | 'mount', id: number, user: string): Promise<void> {
    const rec = type === 'attach' ? this.attaches.get(id) : this.mounts.get(id);
    if (!rec) return;
    const i = rec.users.indexOf(user);
    if (i >= 0) rec.users.splice(i, 1);
    if (rec.users.length > 0) return;
    if (type === 'attach') await this.destroyAttach(rec as AttachRec);
    else await this.destroyMount(rec as MountRec);
  }

  private async destroyAttach(rec: AttachRec): Promise<void> {
    if (rec.kind === 'loopback') await this.platform.detachLoopback(rec.device);
    else if (rec.kind === 'rbd') await this.platform.rbdUnmap(rec.device);
    else if (rec.kind === 'iscsi') await this.platform.iscsiLogout(rec.spec as never);
    this.attaches.delete(rec.id);
    for (const c of rec.children) await this.release(c.type, c.id, `attach:${rec.id}`);
  }

  private async destroyMount(rec: MountRec): Promise<void> {
    await this.platform.umount(rec.mountpoint);
    this.platform.removeDir(rec.mountpoint);
    if (rec.upperMount) {
      await this.platform.umount(rec.upperMount);
      this.platform.removeDir(rec.upperMount);
    }
    this.mounts.delete(rec.id);
    for (const c of rec.children) await this.release(c.type, c.id, `mount:${rec.id}`);
  }

  // ---- views ----

  private apiAttach(rec: AttachRec): ApiAttach {
    const spec: Json = {...rec.spec};
    if (spec.mount) spec.mount = this.refView('mount', (spec.mount as {id: number}).id);
    return {id: rec.id, kind: rec.kind, device_file: rec.device, refs: rec.users.length, users: [...rec.users], [rec.kind]: spec};
  }

  private apiMount(rec: MountRec): ApiMount {
    const spec: Json = {...rec.spec};
    if (rec.kind === 'attach') spec.attach = this.refView('attach', (spec.attach as {id: number}).id);
    if (rec.kind === 'bind' && spec.mount) spec.mount = this.refView('mount', (spec.mount as {id: number}).id);
    if (rec.kind === 'overlay') {
      spec.lower = (spec.lower as {id: number}[]).map((l) => this.refView('mount', l.id));
      spec.upperdir = rec.upperdir;
      spec.workdir = rec.workdir;
    }
    return {id: rec.id, kind: rec.kind, mountpoint: rec.mountpoint, refs: rec.users.length, users: [...rec.users], [rec.kind]: spec};
  }

  private refView(type: 'attach' | 'mount', id: number): Json {
    const rec = type === 'attach' ? this.attaches.get(id) : this.mounts.get(id);
    if (!rec) return {id, missing: true};
    return (type === 'attach' ? this.apiAttach(rec as AttachRec) : this.apiMount(rec as MountRec)) as unknown as Json;
  }

  private apiContainer(rec: ContainerRec): ApiContainer {
    const mount = this.mounts.get(rec.mount);
    return {
      id: rec.id, name: rec.name, state: rec.state, command: [...rec.command], systemd: rec.systemd, hostname: rec.hostname,
      annotations: {...rec.annotations}, mount: mount ? this.apiMount(mount) : ({id: rec.mount} as ApiMount), logfile: rec.logfile,
      pid: rec.pid, init_pid: rec.initPid, started_at: rec.startedAt, exit: rec.exit, ...(rec.error ? {error: rec.error} : {}),
    };
  }

  // ---- persistence and recovery ----

  private persist(): void {
    const table: Persisted = {
      version: 1, bootId: bootId(), nextId: this.nextId,
      attachments: [...this.attaches.values()], mounts: [...this.mounts.values()], containers: [...this.containers.values()],
    };
    const tmp = `${this.tableFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(table, null, 1), {mode: 0o600});
    renameSync(tmp, this.tableFile);
  }

  private recover(): void {
    let table: Persisted;
    try {
      table = JSON.parse(readFileSync(this.tableFile, 'utf8')) as Persisted;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`cannot read ${this.tableFile} (${(error as Error).message}): starting empty`);
      return;
    }
    if (table.version !== 1) {
      this.log.warn(`${this.tableFile} has version ${table.version}: starting empty`);
      return;
    }
    this.nextId = table.nextId;
    if (table.bootId !== bootId() && !this.simulated) {
      this.log.warn(`the node rebooted since ${this.tableFile} was written: its ${table.containers.length} containers and mounts are gone; starting empty`);
      this.persist();
      return;
    }
    for (const a of table.attachments) {
      this.attaches.set(a.id, a);
      if (a.kind === 'loopback' && !this.platform.loopbackFile(a.device)) this.log.warn(`attachment ${a.id}: ${a.device} is no longer attached`);
    }
    for (const m of table.mounts) {
      this.mounts.set(m.id, m);
      if (!this.platform.isMounted(m.mountpoint)) this.log.warn(`mount ${m.id}: ${m.mountpoint} is no longer mounted`);
    }
    let adopted = 0;
    for (const c of table.containers) {
      this.containers.set(c.id, c);
      if (c.state !== 'running' && c.state !== 'stopping') continue;
      if (sameProcess(c.pid, c.pidStart)) {
        adopted++;
        continue;
      }
      c.state = c.stopRequested ? 'exited' : 'dead';
      c.exit = {code: null, signal: null, at: now(), note: 'ended while the service was not running'};
      c.error = c.stopRequested ? undefined : 'the init ended while the service was not running';
      c.pid = c.initPid = c.pidStart = c.initStart = null;
    }
    this.log.info(`found ${this.containers.size} containers (${adopted} running), ${this.mounts.size} mounts and ${this.attaches.size} attachments from before`);
    if (adopted) {
      this.adoptTimer = setInterval(() => this.pollAdopted(), this.options.adoptPollMs ?? 250);
      this.adoptTimer.unref();
    }
    this.persist();
  }

  /** Containers found again after a restart are not our children: their end is noticed by polling. */
  private pollAdopted(): void {
    for (const c of this.containers.values()) {
      if ((c.state === 'running' || c.state === 'stopping') && !this.children.has(c.id) && !sameProcess(c.pid, c.pidStart)) {
        this.onExit(c.id, c.pid!, null, null, 'exit status unknown (found again after a service restart)');
      }
    }
  }
}

// ---- helpers ----

function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('body', 'expected a JSON object');
  const result = schema.safeParse(body);
  if (!result.success) throw fromZod(result.error);
  return result.data;
}

/** The kind of a spec: its `kind`, or the one kind-named member it has; the member must match. */
function kindOf<K extends string>(input: Record<string, unknown>, kinds: readonly K[], field: string): K {
  const f = (name: string) => (field ? `${field}.${name}` : name);
  const present = kinds.filter((k) => input[k] !== undefined);
  const kind = (input.kind as K | undefined) ?? (present.length === 1 ? present[0] : undefined);
  if (!kind) throw badRequest(f('kind'), `is required (one of ${kinds.join(', ')}), or give {"id": N} to use an existing object`);
  if (input[kind] === undefined) throw badRequest(f(kind), `is required with kind ${kind}`);
  const extra = present.find((k) => k !== kind);
  if (extra) throw badRequest(f(extra), `is not allowed with kind ${kind}`);
  return kind;
}

/** A spec without the fields the service fills in (for comparing what two requests asked for). */
function stripReadOnly(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripReadOnly);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (['refs', 'users', 'device_file', 'mountpoint', 'upperdir', 'workdir', 'device_id', 'secret'].includes(k)) continue;
    out[k] = stripReadOnly(v);
  }
  return out;
}

function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ToolError) return failed(error.message);
  return failed((error as Error)?.message ?? String(error));
}

function describeExit(code: number | null, signal: NodeJS.Signals | null, note?: string): string {
  if (note) return note;
  if (signal) return `the init was killed by ${signal}`;
  if (code !== null && SETUP_FAILURES[code]) return `${SETUP_FAILURES[code]} (exit status ${code}; see the container's log)`;
  if (code === 1) return 'the init exited with status 1 (or was killed by a signal)';
  return `the init exited with status ${code}`;
}
