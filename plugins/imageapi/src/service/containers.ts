/**
 * Containers: created on a mount resolved from their spec, started through the platform, stopped and
 * found again after a service restart (by pid, verified by the start time in /proc/<pid>/stat, so a
 * recycled pid is not mistaken for them). Methods marked "under the lock" expect the service's lock held.
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {setImmediate, setTimeout as sleep} from 'node:timers/promises';
import type {z} from '@layercake/sdk';
import type {Mutex} from 'async-mutex';
import {badRequest, conflict, failed, notFound} from '../api/errors.js';
import type {ApiContainer, container as containerSchema} from '../api/models.js';
import type {Platform} from './platform.js';
import {sameProcess} from './procfs.js';
import {asApiError, type SpecResolver} from './resolve.js';
import type {ServiceLogger, ServiceOptions} from './options.js';
import {now, type ContainerRec, type ObjectTable} from './table.js';
import {timed, timedSync, type Debug} from './timing.js';
import {apiContainer} from './views.js';

/** The exit codes of the container's setup script (linux.ts) and what they mean. */
const SETUP_FAILURES: Record<number, string> = {
  111: 'container setup failed: cannot set the host name',
  112: 'container setup failed: cannot mount /dev, /dev/pts, /dev/shm, /dev/mqueue or /sys',
  113: 'container setup failed: cannot populate /dev',
  115: 'container setup failed: cannot enter the root',
  126: 'the init could not be executed',
  127: 'the init was not found',
};

export interface ContainerContext {
  table: ObjectTable;
  platform: Platform;
  resolver: SpecResolver;
  lock: Mutex;
  log: ServiceLogger;
  /** The log's debug level, for step timings (undefined: off). */
  debug: Debug;
  options: ServiceOptions;
  logsDir: string;
  runDir: string;
  /** Records a change (generation, table, watchers). */
  changed: () => void;
}

export class Containers {
  /** Containers this service started: the platform reports their end (Started.exited); the others are polled. */
  private readonly children = new Set<number>();
  private readonly exitWaiters = new Map<number, Set<() => void>>();
  /** Releases of replaced containers' objects not yet done (see releaseAfter). */
  private readonly releasing = new Set<Promise<void>>();
  /** Containers being stopped by an operation under the lock that records the change itself (see stopNow). */
  private readonly endRecordedByCaller = new Set<number>();
  private adoptTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly cx: ContainerContext) {}

  private get table(): ObjectTable {
    return this.cx.table;
  }

  list(q: {id?: number; name?: string; state?: ApiContainer['state']}): ApiContainer[] {
    return [...this.table.containers.values()]
      .filter((c) => (q.id === undefined || c.id === q.id) && (q.name === undefined || c.name === q.name) && (q.state === undefined || c.state === q.state))
      .map((c) => apiContainer(this.table, c));
  }

  /** Under the lock: see ImageApiService.createContainer. */
  async create(input: z.output<typeof containerSchema>, argv: string[], key: string, replace: boolean): Promise<{created: boolean; value: ApiContainer}> {
    const {table, platform, resolver} = this.cx;
    const existing = [...table.containers.values()].find((c) => c.name === input.name);
    if (existing) {
      const same = existing.key === key;
      if (same && (!replace || input.state !== 'running' || existing.state === 'running')) return {created: false, value: apiContainer(table, existing)};
      if (!replace) throw conflict(`a container named ${input.name} exists with a different spec (delete it first, or replace=true)`, 'name');
    }
    const id = table.nextId++;
    const owner = `container:${id}`;
    const {debug} = this.cx;
    const mount = await timed(debug, `container ${input.name}: new mount ready`, () => resolver.resolveMount(input.mount, owner, 'mount'));
    const problem = timedSync(debug, `container ${input.name}: its command checked`, () => platform.checkCommand(mount.mountpoint, argv[0]));
    if (problem) {
      await resolver.release('mount', mount.id, owner);
      throw badRequest('command', problem);
    }
    const stamp = Math.floor(Date.now() / 1000);
    const rec: ContainerRec = {
      id, name: input.name, state: 'created', command: argv, systemd: input.systemd, hostname: input.hostname ?? input.name,
      annotations: input.annotations, mount: mount.id, logfile: join(this.cx.logsDir, `${input.name}-${id}-${stamp}.log`), key,
      pid: null, pidStart: null, initPid: null, initStart: null, startedAt: null, exit: null, stopRequested: false,
    };
    if (existing) {
      if (existing.state === 'running' || existing.state === 'stopping') await timed(debug, `container ${existing.name} (${existing.id}): stopped`, () => this.stopNow(existing, existing.systemd ? 37 : 'SIGKILL'));
      table.containers.delete(existing.id);
      this.children.delete(existing.id);
    }
    table.containers.set(id, rec);
    try {
      if (input.state === 'running') await timed(debug, `container ${input.name} (${id}): started`, () => this.start(rec));
    } catch (error) {
      table.containers.delete(id);
      await resolver.release('mount', mount.id, owner);
      if (existing) await resolver.release('mount', existing.mount, `container:${existing.id}`).catch(() => undefined);
      this.cx.changed();
      throw asApiError(error);
    }
    if (existing) this.releaseAfter(existing);
    this.cx.changed();
    return {created: true, value: apiContainer(table, rec)};
  }

  /**
   * What only a replaced container used (its overlay, and the image if no one else uses it) is released
   * once the replace has answered: the new container already runs, and on a slow node (a VM without KVM)
   * the unmounts and the loop detach were about half of the processes a roll waited for. It runs under
   * the lock, next in line, so every later change sees it done; close() waits for it. Its first system
   * call waits for the event loop's next turn, by when the answer is written (the unmount of the overlay
   * otherwise shared the VM's one vCPU with writing it: 5-10 ms of each replace). Its unmounts and the
   * loop detach are system calls of a few ms (an rbd unmap or iscsi logout, which are tools, is not on a
   * roll's path).
   */
  private releaseAfter(old: ContainerRec): void {
    const job = this.cx.lock.runExclusive(async () => {
      await setImmediate(); // the answer goes out in this turn of the event loop
      try {
        await timed(this.cx.debug, `container ${old.name} (${old.id}): its mount released, after the answer`, () => this.cx.resolver.release('mount', old.mount, `container:${old.id}`));
      } catch (error) {
        this.cx.log.error(`container ${old.name} (${old.id}) replaced, but releasing its mount failed: ${(error as Error).message}`);
      }
      this.cx.changed();
    });
    this.releasing.add(job);
    void job.finally(() => this.releasing.delete(job));
  }

  /** Settles once the releases of replaced containers started so far are done. */
  async released(): Promise<void> {
    await Promise.all(this.releasing);
  }

  /** PATCH: running (start a created, exited or dead container) or exited (stop it). */
  async setState(q: {id?: number; name?: string; state: 'running' | 'exited' | 'paused'}): Promise<ApiContainer> {
    if (q.state === 'paused') throw badRequest('state', 'paused is not supported (containers have no freezer cgroup)');
    const rec = this.find(q);
    if (q.state === 'running') {
      return this.cx.lock.runExclusive(async () => {
        if (rec.state === 'running') return apiContainer(this.table, rec);
        if (rec.state === 'stopping') throw conflict(`container ${rec.name} is stopping`);
        await this.start(rec);
        this.cx.changed();
        return apiContainer(this.table, rec);
      });
    }
    await this.stop(rec);
    return apiContainer(this.table, rec);
  }

  delete(q: {id?: number; name?: string; force: boolean}): Promise<ApiContainer> {
    const rec = this.find(q);
    if ((rec.state === 'running' || rec.state === 'stopping') && !q.force) {
      return Promise.reject(conflict(`container ${rec.name} is ${rec.state} (stop it first, or force=true)`));
    }
    return (async () => {
      if (rec.state === 'running' || rec.state === 'stopping') await this.stop(rec);
      return this.cx.lock.runExclusive(async () => {
        const view = apiContainer(this.table, rec);
        if (!this.table.containers.has(rec.id)) throw notFound(`no container ${rec.name}`);
        await this.remove(rec, false);
        this.cx.changed();
        return view;
      });
    })();
  }

  logs(q: {id?: number; name?: string; tail: number}): string {
    const rec = this.find(q);
    try {
      const lines = readFileSync(rec.logfile, 'utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      return lines.slice(-q.tail).join('\n') + (lines.length ? '\n' : '');
    } catch {
      return '';
    }
  }

  private find(q: {id?: number; name?: string}): ContainerRec {
    if (q.id === undefined && q.name === undefined) throw badRequest('name', 'give the container\'s id or name');
    const rec = [...this.table.containers.values()].find((c) => (q.id === undefined || c.id === q.id) && (q.name === undefined || c.name === q.name));
    if (!rec) throw notFound(`no container ${q.name ?? q.id}`);
    return rec;
  }

  /** Under the lock. */
  async remove(rec: ContainerRec, stopFirst: boolean): Promise<void> {
    if (stopFirst && (rec.state === 'running' || rec.state === 'stopping')) await this.stopNow(rec, 'SIGKILL');
    this.table.containers.delete(rec.id);
    this.children.delete(rec.id);
    await this.cx.resolver.release('mount', rec.mount, `container:${rec.id}`);
  }

  /** Under the lock. */
  private async start(rec: ContainerRec): Promise<void> {
    const {platform} = this.cx;
    const mount = this.table.mounts.get(rec.mount);
    if (!mount) throw failed(`container ${rec.name}: its mount ${rec.mount} is gone`);
    if (!platform.simulated && !timedSync(this.cx.debug, `container ${rec.name}: its root checked`, () => platform.isMounted(mount.mountpoint))) throw failed(`container ${rec.name}: ${mount.mountpoint} is no longer mounted`);
    const started = await platform.start({
      id: rec.id, name: rec.name, root: mount.mountpoint, argv: rec.command, systemd: rec.systemd, hostname: rec.hostname,
      logfile: rec.logfile, runDir: join(this.cx.runDir, String(rec.id)),
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
    const rec = this.table.containers.get(id);
    if (this.closed || !rec || rec.pid !== pid) return;
    this.children.delete(id);
    const clean = rec.stopRequested || code === 0;
    rec.state = clean ? 'exited' : 'dead';
    rec.exit = {code, signal, at: now(), ...(note ? {note} : {})};
    rec.error = clean ? undefined : describeExit(code, signal, note);
    rec.pid = rec.initPid = rec.pidStart = rec.initStart = null;
    rec.stopRequested = false;
    this.cx.log.info(`container ${rec.name} ${rec.state}${rec.error ? `: ${rec.error}` : ''}`);
    if (!this.endRecordedByCaller.has(id)) this.cx.changed();
    for (const wake of this.exitWaiters.get(id) ?? []) wake();
    this.exitWaiters.delete(id);
  }

  /** Stops a running container: SIGRTMIN+3 to a systemd init, SIGKILL to any other; waits for the end. */
  private async stop(rec: ContainerRec): Promise<void> {
    await this.cx.lock.runExclusive(() => {
      if (rec.state !== 'running') return;
      rec.state = 'stopping';
      rec.stopRequested = true;
      this.signalInit(rec, rec.systemd ? 37 : 'SIGKILL');
      this.cx.changed();
    });
    if (rec.state === 'stopping') await this.awaitStop(rec);
  }

  /**
   * Under the lock (replace, purge): stop without taking the lock again. The caller records the
   * change once it is whole (the container gone or replaced), so the end is not recorded apart: in a
   * replace that was a table write and a wake of the module's watch in the middle of it (the agent then
   * answered a watch, and asked again, on the VM's one vCPU while the new container started).
   */
  private async stopNow(rec: ContainerRec, signal: NodeJS.Signals | number): Promise<void> {
    rec.state = 'stopping';
    rec.stopRequested = true;
    this.endRecordedByCaller.add(rec.id);
    try {
      this.signalInit(rec, signal);
      await this.awaitStop(rec);
    } finally {
      this.endRecordedByCaller.delete(rec.id);
    }
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
    const {options} = this.cx;
    const timeout = rec.systemd ? (options.systemdStopTimeoutMs ?? 30_000) : (options.stopTimeoutMs ?? 5000);
    if (await this.waitExit(rec, timeout)) return;
    this.cx.log.warn(`container ${rec.name} did not stop in ${timeout} ms: killing it`);
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

  /**
   * After the table was read back: containers whose init still runs are adopted (their end is noticed
   * by polling, as they are not our children); the others ended while the service was not running.
   * Returns how many were adopted.
   */
  adopt(): number {
    let adopted = 0;
    for (const c of this.table.containers.values()) {
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
    if (adopted) {
      this.adoptTimer = setInterval(() => this.pollAdopted(), this.cx.options.adoptPollMs ?? 250);
      this.adoptTimer.unref();
    }
    return adopted;
  }

  private pollAdopted(): void {
    for (const c of this.table.containers.values()) {
      if ((c.state === 'running' || c.state === 'stopping') && !this.children.has(c.id) && !sameProcess(c.pid, c.pidStart)) {
        this.onExit(c.id, c.pid!, null, null, 'exit status unknown (found again after a service restart)');
      }
    }
  }

  /** Stops noticing ends (the containers keep running unless they were removed first). */
  close(): void {
    this.closed = true;
    clearInterval(this.adoptTimer);
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null, note?: string): string {
  if (note) return note;
  if (signal) return `the init was killed by ${signal}`;
  if (code !== null && SETUP_FAILURES[code]) return `${SETUP_FAILURES[code]} (exit status ${code}; see the container's log)`;
  if (code === 1) return 'the init exited with status 1 (or was killed by a signal)';
  return `the init exited with status ${code}`;
}
