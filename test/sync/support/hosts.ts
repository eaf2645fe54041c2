/**
 * Test-side handle on a daemon-host process (real daemons with sync, see daemon-host.ts).
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {randomUUID} from 'node:crypto';
import {EventEmitter} from 'node:events';
import {fileURLToPath} from 'node:url';

const HOST = fileURLToPath(new URL('./daemon-host.ts', import.meta.url));
/** Every hosted daemon's API token (they listen on TCP only, no local socket). */
export const SYNC_TEST_TOKEN = 'sync-test-token-0123456789';

export interface HostedDaemon {
  id: string;
  api: string;
  sync: string;
}

export interface DaemonSpec {
  stateDir: string;
  id?: string;
  parent?: string;
  joinSecret?: string;
  nodename?: string;
  sync?: Record<string, unknown>;
  listen?: string;
}

const withId = (d: DaemonSpec): DaemonSpec & {id: string} => ({...d, id: d.id ?? randomUUID()});

export class Host extends EventEmitter {
  daemons: HostedDaemon[] = [];
  output = '';
  private seq = 0;
  private readonly waiting = new Map<number, {resolve: (v: unknown) => void; reject: (e: Error) => void}>();
  exited: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    super();
    proc.stdout?.on('data', (d) => { this.output += d; if (process.env.LC_SYNC_TEST_LOG) process.stdout.write(d); });
    proc.stderr?.on('data', (d) => { this.output += d; if (process.env.LC_SYNC_TEST_LOG) process.stderr.write(d); });
    proc.on('message', (m: {re?: number; ok?: boolean; result?: unknown; error?: string; event?: string}) => {
      if (m.event) return this.emit(m.event, m);
      if (m.re === undefined) return;
      const w = this.waiting.get(m.re);
      this.waiting.delete(m.re);
      if (m.ok) w?.resolve(m.result);
      else w?.reject(new Error(m.error));
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error('host exited'));
      this.waiting.clear();
      resolve(code);
    }));
  }

  /** Starts a host with the given daemons (ids generated when missing); `netns` runs it in a network namespace. */
  static async start(daemons: DaemonSpec[], opts: {watch?: string[]; netns?: string; timeoutMs?: number} = {}): Promise<Host> {
    const spec = {daemons: daemons.map(withId), watch: opts.watch ?? []};
    // LC_HOST_NODE_ARGS: extra node flags for the hosts (e.g. --cpu-prof when profiling bench/sync).
    const args = [...(process.env.LC_HOST_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', HOST, JSON.stringify(spec)];
    const proc = opts.netns
      ? spawn('ip', ['netns', 'exec', opts.netns, process.execPath, ...args], {stdio: ['ignore', 'pipe', 'pipe', 'ipc']})
      : spawn(process.execPath, args, {stdio: ['ignore', 'pipe', 'pipe', 'ipc']});
    const host = new Host(proc);
    const ready = await new Promise<{ready?: HostedDaemon[]; failed?: string}>((resolve) => {
      const timer = setTimeout(() => resolve({failed: `host did not start within ${opts.timeoutMs ?? 60_000} ms`}), opts.timeoutMs ?? 60_000);
      proc.on('message', (m: {ready?: HostedDaemon[]; failed?: string}) => {
        if (m.ready || m.failed) { clearTimeout(timer); resolve(m); }
      });
      void host.exited.then((code) => { clearTimeout(timer); resolve({failed: `host exited (${code}): ${host.output.slice(-2000)}`}); });
    });
    if (!ready.ready) {
      proc.kill('SIGKILL');
      throw new Error(ready.failed);
    }
    host.daemons = ready.ready;
    return host;
  }

  /** Starts more daemons in this host's process (ids generated when missing); resolves to their indices for request(). */
  async add(daemons: DaemonSpec[]): Promise<number[]> {
    const added = await this.request<HostedDaemon[]>('start', {daemons: daemons.map(withId)});
    const first = this.daemons.length;
    this.daemons.push(...added);
    return added.map((_, i) => first + i);
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}, daemon = 0): Promise<T> {
    const re = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(re, {resolve: resolve as (v: unknown) => void, reject});
      this.proc.send({re, op, daemon, ...args});
    });
  }

  /** Graceful stop (sync says BYE to its children). */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    try { await this.request('stop'); } catch { /* exiting */ }
    await this.exited;
    clearTimeout(t);
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`, naming `what`). */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
