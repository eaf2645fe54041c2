/**
 * The stand-in spawner of the simulation: one small Node process per (large) Node process, shared by
 * every SimulatedPlatform in it, that starts the containers' stand-in processes (`sleep infinity`) and
 * reports their ends.
 *
 * Why: spawning from the caller costs a fork of the caller (libuv forks, then execs), and a fork copies
 * the page tables of the whole process: in a simulated cluster of thousands of services in one process of
 * gigabytes, that is tens of milliseconds per container, growing with the caller's memory. The spawner is
 * small, so a start costs an IPC round trip and a fork of about 40 MB whatever the caller's size. The
 * spawner itself is forked once (lazily, on the first start), and again only after it went idle.
 *
 * The protocol (JSON over the IPC channel): `{t: 'start', id, log}` → `{t: 'started', id, pid}` or
 * `{t: 'started', id, error}`; later `{t: 'exit', id, code, signal}` when that stand-in ends (the spawner
 * is its parent and reaps it). The stand-ins are started exactly as the service started them itself
 * (detached into their own session, stdin from /dev/null, stdout and stderr appended to the container's
 * log file), so they outlive the spawner and the caller, and a restarted service finds them again by pid
 * and start time like any container.
 *
 * Lifetime: the spawner exits when its IPC channel closes (its parent ended or let it go). The caller
 * never waits for it: its process handle is unreferenced, and its channel is referenced only while a
 * start is awaiting its reply. It is let go once no stand-in it started is alive and none is being
 * started, after a short grace (so that a stop followed by a start does not fork it again). If it ends
 * unexpectedly, the ends of the stand-ins it had started are noticed by polling /proc instead.
 *
 * The program is inline (run with `node -e`), not a file beside this one: it then runs the same from
 * the TypeScript sources under tsx (tests) and from the build, without a loader in the spawner.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import type {ExitStatus} from './platform.js';
import {sameProcess, startTime} from './procfs.js';

export interface StandIn {
  pid: number;
  /** Its start time (/proc/<pid>/stat field 22; 0 if it already ended). */
  start: number;
  /** Settles when the stand-in ends. */
  exited: Promise<ExitStatus>;
}

/** How long the spawner is kept with nothing to do before it is let go. */
const IDLE_MS = 1000;
/** How often stand-ins orphaned by an unexpected end of their spawner are checked. */
const ORPHAN_POLL_MS = 250;

const PROGRAM = String.raw`'use strict';
const {spawn} = require('node:child_process');
const {openSync, closeSync} = require('node:fs');
const send = (m) => { if (process.connected) process.send(m, () => {}); }; // a send after the parent went fails quietly
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  if (!m || m.t !== 'start') return;
  let child;
  try {
    const log = openSync(m.log, 'a', 0o640);
    try {
      child = spawn('sleep', ['infinity'], {detached: true, stdio: ['ignore', log, log]});
    } finally {
      closeSync(log);
    }
  } catch (e) {
    return send({t: 'started', id: m.id, error: e.message});
  }
  if (!child.pid) return child.once('error', (e) => send({t: 'started', id: m.id, error: e.message}));
  child.on('error', () => {});
  child.once('exit', (code, signal) => send({t: 'exit', id: m.id, code, signal}));
  send({t: 'started', id: m.id, pid: child.pid});
});
`;

type Message =
  | {t: 'started'; id: number; pid?: number; error?: string}
  | {t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null};

interface Pending {
  resolve(standIn: StandIn): void;
  reject(error: Error): void;
}

interface Live {
  pid: number;
  start: number;
  resolve(exit: ExitStatus): void;
}

class Spawner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private readonly live = new Map<number, Live>();
  private nextId = 1;
  private idleTimer?: NodeJS.Timeout;
  /** Let go (or ended): takes no more starts. */
  retired = false;

  constructor() {
    const env = {...process.env};
    delete env.NODE_OPTIONS; // no loaders or inspectors from the caller's options in the spawner
    this.child = spawn(process.execPath, ['-e', PROGRAM], {detached: true, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env});
    this.child.unref();
    this.child.channel?.unref();
    this.child.on('message', (m: Message) => this.onMessage(m));
    // 'close' comes after the last message was delivered (unlike 'exit'); 'error' if it never started.
    this.child.once('close', (code, signal) => this.onEnd(`the stand-in spawner ended (${signal ?? `exit status ${code}`})`));
    this.child.once('error', (error) => {
      if (!this.child.pid) this.onEnd(`cannot start the stand-in spawner: ${error.message}`);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  start(logfile: string): Promise<StandIn> {
    clearTimeout(this.idleTimer);
    const id = this.nextId++;
    return new Promise<StandIn>((resolve, reject) => {
      this.pending.set(id, {resolve, reject});
      this.child.channel?.ref(); // a reply is awaited
      try {
        this.child.send({t: 'start', id, log: logfile}, (error) => {
          if (error) this.answer(id, () => reject(error));
        });
      } catch (error) {
        this.answer(id, () => reject(error as Error));
      }
    });
  }

  private answer(id: number, settle: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.child.channel?.unref();
    settle(p);
    this.checkIdle();
  }

  private onMessage(m: Message): void {
    if (m.t === 'started') {
      this.answer(m.id, (p) => {
        if (!m.pid) return p.reject(new Error(m.error ?? 'no pid'));
        const pid = m.pid;
        const start = startTime(pid) ?? 0;
        const exited = new Promise<ExitStatus>((resolve) => this.live.set(m.id, {pid, start, resolve}));
        p.resolve({pid, start, exited});
      });
    } else if (m.t === 'exit') {
      const live = this.live.get(m.id);
      if (!live) return;
      this.live.delete(m.id);
      live.resolve({code: m.code, signal: m.signal});
      this.checkIdle();
    }
  }

  /** With nothing alive and nothing being started, lets the spawner go after a grace. */
  private checkIdle(): void {
    if (this.retired || this.live.size || this.pending.size) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.live.size || this.pending.size) return;
      this.retire();
      this.child.disconnect(); // the spawner exits when its channel closes
    }, IDLE_MS);
    this.idleTimer.unref();
  }

  private retire(): void {
    this.retired = true;
    clearTimeout(this.idleTimer);
    if (current === this) current = undefined;
  }

  private onEnd(reason: string): void {
    this.retire();
    for (const [id, p] of [...this.pending]) {
      this.pending.delete(id);
      p.reject(new Error(reason));
    }
    if (this.live.size) watchOrphans([...this.live.values()], reason);
    this.live.clear();
  }
}

/** Stand-ins whose spawner ended unexpectedly (they were re-parented): their ends are noticed in /proc. */
function watchOrphans(orphans: Live[], reason: string): void {
  const timer = setInterval(() => {
    for (let i = orphans.length - 1; i >= 0; i--) {
      const o = orphans[i];
      if (sameProcess(o.pid, o.start)) continue;
      orphans.splice(i, 1);
      o.resolve({code: null, signal: null, note: `exit status unknown (${reason} before it)`});
    }
    if (orphans.length === 0) clearInterval(timer);
  }, ORPHAN_POLL_MS);
  timer.unref();
}

let current: Spawner | undefined;

/** Starts a stand-in (`sleep infinity`, detached, output appended to `logfile`) through this process's spawner. */
export function startStandIn(logfile: string): Promise<StandIn> {
  if (!current || current.retired) current = new Spawner();
  return current.start(logfile);
}

/** The pid of this process's spawner while it runs (tests). */
export function spawnerPid(): number | undefined {
  return current?.retired === false ? current.pid : undefined;
}
