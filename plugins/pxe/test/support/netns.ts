/**
 * Network namespaces for tests: created by the test, removed by it (also on failure). Only addresses
 * inside these namespaces are used.
 */
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {createInterface} from 'node:readline';
import {fileURLToPath} from 'node:url';

export function sh(cmd: string, args: string[], opts: {input?: string; timeout?: number} = {}): string {
  return execFileSync(cmd, args, {encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeout ?? 30_000, input: opts.input});
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Why netns tests cannot run here, or undefined if they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespace tests need root';
  if (!has('ip')) return 'iproute2 (ip) is not installed';
  const probe = `lcprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe]);
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export class Netns {
  private constructor(readonly name: string) {}
  static create(name: string): Netns {
    spawnSync('ip', ['netns', 'del', name]); // a leftover from a killed run
    sh('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }
  ip(...args: string[]): string { return sh('ip', ['-n', this.name, ...args]); }
  exec(cmd: string, args: string[], opts: {timeout?: number} = {}): {status: number | null; stdout: string; stderr: string} {
    const r = spawnSync('ip', ['netns', 'exec', this.name, cmd, ...args], {encoding: 'utf8', timeout: opts.timeout ?? 60_000});
    return {status: r.status, stdout: r.stdout, stderr: r.stderr};
  }
  spawn(cmd: string, args: string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {stdio: ['pipe', 'pipe', 'pipe']});
  }
  delete(): void {
    // Kill whatever still runs in the namespace, then remove it (its interfaces go with it).
    const pids = spawnSync('ip', ['netns', 'pids', this.name], {encoding: 'utf8'}).stdout.split(/\s+/).filter(Boolean);
    for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}

/** Connects two namespaces with a veth pair; returns the interface names (a in ns a, b in ns b). */
export function veth(a: Netns, aName: string, b: Netns, bName: string): void {
  sh('ip', ['link', 'add', aName, 'netns', a.name, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
  a.ip('link', 'set', aName, 'up');
  b.ip('link', 'set', bName, 'up');
}

export interface ServerProcess {
  child: ChildProcess;
  ready: {dhcp?: number; tftp?: number; http?: number};
  events: {event: string; nodeId?: string; url?: string; value?: unknown}[];
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts test/support/serve.ts inside a namespace and waits for it to listen. */
export async function startServer(ns: Netns, arg: object, timeoutMs = 20_000): Promise<ServerProcess> {
  const serve = fileURLToPath(new URL('./serve.ts', import.meta.url));
  const child = ns.spawn(process.execPath, ['--import', 'tsx', serve, JSON.stringify(arg)]);
  const events: ServerProcess['events'] = [];
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  let onReady: (r: ServerProcess['ready']) => void;
  const ready = new Promise<ServerProcess['ready']>((r) => { onReady = r; });
  createInterface({input: child.stdout!}).on('line', (line) => {
    try {
      const e = JSON.parse(line);
      events.push(e);
      if (e.event === 'ready') onReady(e);
    } catch { /* not ours */ }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const timer = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`server did not start: ${err}`)), timeoutMs).unref());
  const r = await Promise.race([ready, timer, exited.then(() => { throw new Error(`server exited: ${err}`); })]);
  return {
    child, ready: r, events, stderr: () => err,
    async stop() {
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
