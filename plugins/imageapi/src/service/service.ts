/**
 * The ImageAPI service: attachments, mounts and containers, reference counted, persisted in the state
 * directory, and recovered after a restart. This file is the facade the HTTP server calls: it checks
 * requests, takes the lock (one change at a time) and counts generations for watchers. The parts:
 * table.ts (the object table and its persistence), resolve.ts (attach and mount specs into objects, and
 * reference counting), containers.ts (running them), views.ts (what the API shows).
 *
 * Idempotence: creating what exists returns it (200 instead of 201): an attachment or mount with the same
 * spec, a container with the same name and spec (a different spec under the same name is 409).
 * Lookups never change references (the original's GET leaked one).
 */
import {mkdirSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {canonical, type z} from '@layercake/sdk';
import {Mutex} from 'async-mutex';
import {badRequest, fromZod, notFound} from '../api/errors.js';
import {
  attach as attachSchema, container as containerSchema, mount as mountSchema,
  type ApiAttach, type ApiContainer, type ApiInfo, type ApiMount, type AttachKind, type ContainerState, type MountKind,
} from '../api/models.js';
import {splitCommand} from '../util/command-line.js';
import {Containers} from './containers.js';
import {LinuxPlatform} from './linux.js';
import type {Platform} from './platform.js';
import type {ServiceLogger, ServiceOptions} from './options.js';
import {SpecResolver} from './resolve.js';
import {SimulatedPlatform} from './simulated.js';
import {stamped, timed, timedSync, type Debug} from './timing.js';
import {ObjectTable, type AttachRec, type MountRec, type ObjectType} from './table.js';
import {apiAttach, apiMount, apiObject} from './views.js';

export const API_VERSION = '1.0.0';
export const API_BASE = '/imageapi/v1';

export interface Created<T> {
  created: boolean;
  value: T;
}

const quietLog: ServiceLogger = {info: () => undefined, warn: () => undefined, error: () => undefined};

export class ImageApiService {
  readonly stateDir: string;
  readonly platform: Platform;
  private readonly mountsDir: string;
  private readonly logsDir: string;
  private readonly runDir: string;
  private readonly log: ServiceLogger;
  /** The log's debug level: step timings (wall-clock stamped), off unless the log has one. */
  readonly debug: Debug;
  private readonly lock = new Mutex();
  private readonly table: ObjectTable;
  private readonly resolver: SpecResolver;
  private readonly containers: Containers;
  private readonly watchers = new Set<() => void>();
  private gen = 0;
  /** A wake of the watchers is due in the event loop's next turn (see changed). */
  private wakePending = false;
  private closed = false;

  private constructor(options: ServiceOptions) {
    this.stateDir = resolve(options.stateDir);
    if (/[,:\s]/.test(this.stateDir)) throw new Error(`the state directory ${this.stateDir} must not contain commas, colons or white space (they would break overlay options)`);
    this.log = options.log ?? quietLog;
    this.debug = stamped(this.log.debug?.bind(this.log));
    this.platform = options.platform ?? (options.simulate ? new SimulatedPlatform(options.simulatedFiles) : new LinuxPlatform({}, this.debug));
    this.mountsDir = join(this.stateDir, 'mounts');
    this.logsDir = join(this.stateDir, 'logs');
    this.runDir = join(this.stateDir, 'run');
    this.table = new ObjectTable(join(this.stateDir, 'objects.json'));
    this.resolver = new SpecResolver(this.table, this.platform, this.mountsDir, this.runDir);
    this.containers = new Containers({
      table: this.table, platform: this.platform, resolver: this.resolver, lock: this.lock, log: this.log, debug: this.debug, options,
      logsDir: this.logsDir, runDir: this.runDir, changed: () => this.changed(),
    });
  }

  static async open(options: ServiceOptions): Promise<ImageApiService> {
    const service = new ImageApiService(options);
    mkdirSync(service.stateDir, {recursive: true, mode: 0o700});
    mkdirSync(service.logsDir, {recursive: true, mode: 0o750});
    await service.platform.init({mounts: service.mountsDir, run: service.runDir});
    await service.recover();
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
    await this.containers.released(); // a replaced container's objects: never left half-released
    if (options.purge) {
      const {table, resolver} = this;
      await this.lock.runExclusive(async () => {
        for (const c of [...table.containers.values()]) await this.containers.remove(c, true);
        for (const type of ['mount', 'attach'] as const) {
          for (const rec of [...table.map(type).values()]) if (rec.users.includes('api')) await resolver.release(type, rec.id, 'api');
        }
        for (const type of ['mount', 'attach'] as const) {
          for (const rec of [...table.map(type).values()]) await resolver.destroy(type, rec).catch((e: Error) => this.log.error(`purge: ${e.message}`));
        }
        table.persist();
      });
      await this.platform.shutdown();
    }
    this.closed = true;
    this.containers.close();
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
      const finish = () => {
        clearTimeout(timer);
        this.watchers.delete(wake);
        done(this.gen);
      };
      const wake = () => { if (this.gen > since || this.closed) finish(); }; // a wake due from before this watch began is not for it
      const timer = setTimeout(finish, timeoutMs);
      this.watchers.add(wake);
    });
  }

  /**
   * Records a change: the generation, the table (before any answer), and the watchers, woken in the
   * event loop's next turn, so that the answer to the request that made the change goes out first (its
   * client is often the watcher too: on a one-vCPU VM it otherwise handled the watch, and asked again,
   * before it got the answer it waited for). Changes in one turn wake them once.
   */
  private changed(): void {
    if (this.closed) return;
    this.gen++;
    timedSync(this.debug, 'the table written', () => this.table.persist());
    if (this.wakePending) return;
    this.wakePending = true;
    setImmediate(() => {
      this.wakePending = false;
      for (const wake of [...this.watchers]) wake();
    });
  }

  // ---- attachments and mounts ----

  listAttach(q: {id?: number; kind?: AttachKind}): ApiAttach[] {
    return [...this.table.attaches.values()].filter((a) => (q.id === undefined || a.id === q.id) && (q.kind === undefined || a.kind === q.kind)).map((a) => apiAttach(this.table, a));
  }

  createAttach(body: unknown): Promise<Created<ApiAttach>> {
    const input = parseBody(attachSchema, body);
    return this.createObject('attach', input.id, () => this.resolver.resolveAttach(input, 'api', '')) as Promise<Created<ApiAttach>>;
  }

  deleteAttach(id: number, force: boolean): Promise<ApiAttach> {
    return this.deleteObject('attach', id, force) as Promise<ApiAttach>;
  }

  listMount(q: {id?: number; kind?: MountKind}): ApiMount[] {
    return [...this.table.mounts.values()].filter((m) => (q.id === undefined || m.id === q.id) && (q.kind === undefined || m.kind === q.kind)).map((m) => apiMount(this.table, m));
  }

  createMount(body: unknown): Promise<Created<ApiMount>> {
    const input = parseBody(mountSchema, body);
    return this.createObject('mount', input.id, () => this.resolver.resolveMount(input, 'api', '')) as Promise<Created<ApiMount>>;
  }

  deleteMount(id: number, force: boolean): Promise<ApiMount> {
    return this.deleteObject('mount', id, force) as Promise<ApiMount>;
  }

  /** The attach and mount verbs' create: the API pins a new object, or the existing one with the same spec. */
  private createObject(type: ObjectType, givenId: number | undefined, resolveSpec: () => Promise<AttachRec | MountRec>): Promise<Created<ApiAttach | ApiMount>> {
    if (givenId !== undefined) throw badRequest('id', 'is assigned by the service');
    return this.lock.runExclusive(async () => {
      const before = this.table.map(type).size;
      const rec = await resolveSpec();
      this.changed();
      return {created: this.table.map(type).size > before, value: apiObject(this.table, type, rec)};
    });
  }

  /** The attach and mount verbs' delete: drops the API's pin (see SpecResolver.unpin); shows the object as it was left. */
  private deleteObject(type: ObjectType, id: number, force: boolean): Promise<ApiAttach | ApiMount> {
    return this.lock.runExclusive(async () => {
      const rec = this.table.get(type, id);
      if (!rec) throw notFound(`no ${type === 'attach' ? 'attachment' : 'mount'} ${id}`);
      const view = apiObject(this.table, type, rec);
      await this.resolver.unpin(type, rec, force);
      this.changed();
      return {...view, refs: rec.users.length, users: [...rec.users]};
    });
  }

  // ---- containers ----

  listContainers(q: {id?: number; name?: string; state?: ContainerState}): ApiContainer[] {
    return this.containers.list(q);
  }

  /**
   * Creates a container (and starts it if asked). With `replace`, a container of the same name but
   * another spec (or not running) is replaced: the new mount is prepared while the old container still
   * runs (objects both use are shared, not re-made), then the old one is stopped, the new one started,
   * and the answer given; what only the old one used is released right after, next under the lock.
   */
  createContainer(body: unknown, options: {replace?: boolean} = {}): Promise<Created<ApiContainer>> {
    const input = parseBody(containerSchema, body);
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
    const asked = performance.now();
    const create = () => this.lock.runExclusive(() => {
      this.debug?.(`container ${input.name}: the lock's wait: ${Math.round(performance.now() - asked)} ms`);
      return this.containers.create(input, argv, key, options.replace ?? false);
    });
    return timed(this.debug, `container ${input.name}: ${options.replace ? 'create or replace' : 'create'} (with the lock's wait)`, create, {gc: true});
  }

  /** PATCH: running (start a created, exited or dead container) or exited (stop it). */
  setContainerState(q: {id?: number; name?: string; state: 'running' | 'exited' | 'paused'}): Promise<ApiContainer> {
    return this.containers.setState(q);
  }

  deleteContainer(q: {id?: number; name?: string; force: boolean}): Promise<ApiContainer> {
    return this.containers.delete(q);
  }

  logs(q: {id?: number; name?: string; tail: number}): string {
    return this.containers.logs(q);
  }

  // ---- recovery ----

  /** Reads back the table, checks it against the kernel and adopts the containers still running. */
  private async recover(): Promise<void> {
    if (!this.table.load(this.log, this.simulated)) return;
    await this.releaseOrphans();
    for (const a of this.table.attaches.values()) {
      if ((a.kind === 'loopback' || a.kind === 'http') && !this.platform.loopbackFile(a.device)) this.log.warn(`attachment ${a.id}: ${a.device} is no longer attached`);
    }
    for (const m of this.table.mounts.values()) {
      if (!this.platform.isMounted(m.mountpoint)) this.log.warn(`mount ${m.id}: ${m.mountpoint} is no longer mounted`);
    }
    const adopted = this.containers.adopt();
    this.log.info(`found ${this.table.containers.size} containers (${adopted} running), ${this.table.mounts.size} mounts and ${this.table.attaches.size} attachments from before`);
    this.table.persist();
  }

  /**
   * A replaced container's mount is released just after the replace was recorded (Containers.releaseAfter):
   * if the service ended in between, the mount still names that container as a user. Released here.
   */
  private async releaseOrphans(): Promise<void> {
    for (const m of [...this.table.mounts.values()]) {
      for (const user of m.users.filter((u) => /^container:\d+$/.test(u) && !this.table.containers.has(Number(u.slice(10))))) {
        this.log.warn(`mount ${m.id}: its container ${user.slice(10)} is gone (replaced just before the service ended): released`);
        await this.resolver.release('mount', m.id, user).catch((e: Error) => this.log.error(`mount ${m.id}: releasing it failed: ${e.message}`));
      }
    }
  }
}

// ---- helpers ----

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('body', 'expected a JSON object');
  const result = schema.safeParse(body);
  if (!result.success) throw fromZod(result.error);
  return result.data;
}

/** A spec without the fields the service fills in (for comparing what two requests asked for). */
function stripReadOnly(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripReadOnly);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (['refs', 'users', 'device_file', 'mountpoint', 'upperdir', 'workdir', 'device_id', 'secret'].includes(k)) continue;
    out[k] = stripReadOnly(v);
  }
  return out;
}
