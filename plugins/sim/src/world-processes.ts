/**
 * The simulated world split over child processes, so that the daemon under test keeps a core of its own
 * (in one process, thousands of agents and the daemon would share one event loop). Machine k lives in
 * process k mod n; each process answers for its machines' BMCs at its own URL and reports their stages.
 */
import {fork, type ChildProcess} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {setPriority, totalmem} from 'node:os';
import {fileURLToPath} from 'node:url';
import type {MachineStatus} from './machine.js';
import type {FromShard, ToShard, WorldShard} from './world-process.js';
import {stageCounts, type WorldView} from './world.js';

export interface WorldProcessesOptions extends Omit<WorldShard, 'machines'> {
  machines: WorldShard['machines'];
  processes: number;
  log?: (message: string) => void;
}

const entry = fileURLToPath(new URL('./world-process.js', import.meta.url));

/**
 * A machine's Layer0 holds about ten file descriptors in its world process (the agent's sync socket and
 * store, its ImageAPI's listener, both ends of their HTTP connections...): more machines than the
 * descriptor limit allows go to more processes.
 */
function machinesPerProcess(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? 1024);
  return Math.max(64, Math.floor(soft / 10));
}

export class WorldProcesses implements WorldView {
  readonly machines = new Map<string, MachineStatus>();
  /** Each machine's BMC service. */
  readonly bmcUrls = new Map<string, string>();
  private readonly children: ChildProcess[] = [];

  constructor(private readonly options: WorldProcessesOptions) {
    for (const m of options.machines) this.machines.set(m.id, {stage: 'off', boots: 0});
  }

  async start(): Promise<void> {
    const {machines, log, ...shared} = this.options;
    const processes = Math.max(this.options.processes, Math.ceil(machines.length / machinesPerProcess()));
    const shares = Array.from({length: processes}, (_, p) => machines.filter((_m, k) => k % processes === p));
    // Thousands of agents outgrow V8's default heap limit: share the machine's memory with the daemon.
    const heapMB = Math.floor(totalmem() / 2 ** 20 / (processes + 1));
    await Promise.all(shares.filter((s) => s.length).map(async (share) => {
      const child = fork(entry, [], {stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, `--max-old-space-size=${heapMB}`]});
      this.children.push(child);
      // The world is the harness, the daemon the system under test: on a shared CPU the daemon comes first,
      // as a head node's would (each real machine has CPUs of its own).
      if (child.pid) setPriority(child.pid, 10);
      child.on('message', (message: FromShard) => {
        if (message.type === 'changes') for (const m of message.machines) this.machines.set(m.id, m);
        else if (message.type === 'log') log?.(message.message);
      });
      const bmcUrl = await this.ask(child, {type: 'start', shard: {...shared, machines: share}}, 'ready');
      for (const m of share) this.bmcUrls.set(m.id, bmcUrl);
    }));
  }

  /** The world's processes (to measure them). */
  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid ? [c.pid] : []));
  }

  stages(): Record<string, number> {
    return stageCounts(this.machines.values());
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map(async (child) => {
      if (child.exitCode !== null || !child.connected) return;
      const exited = new Promise((r) => child.once('exit', r));
      await this.ask(child, {type: 'stop'}, 'stopped').catch(() => child.kill('SIGKILL'));
      await exited;
    }));
  }

  /** Sends a request and waits for its answer (or the process's failure or death). */
  private ask(child: ChildProcess, message: ToShard, answer: 'ready' | 'stopped'): Promise<string> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromShard) => {
        if (m.type === answer) done(undefined, m.type === 'ready' ? m.bmcUrl : '');
        else if (m.type === 'failed') done(new Error(`simulated world process ${child.pid}: ${m.message}`));
      };
      const onExit = (code: number | null) => done(new Error(`simulated world process ${child.pid} exited (${code})`));
      const done = (error?: Error, value = '') => {
        child.off('message', onMessage).off('exit', onExit);
        if (error) reject(error);
        else resolve(value);
      };
      child.on('message', onMessage).on('exit', onExit);
      child.send(message);
    });
  }
}
