/**
 * Driving the real CLI (bin/run.js, compiled commands in dist/) and real daemon processes from tests.
 * Every test gets its own directory holding HOME, the XDG dirs (so oclif's plugin data never touches the
 * user's), the config file and the state dir; `cleanup()` stops every daemon it started and removes it.
 */
import {type ChildProcess, spawn} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {stringify} from 'yaml';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const BIN = join(ROOT, 'bin', 'run.js');

/**
 * The suite needs the compiled CLI (and the built files it names, relative to the repository: a plugin's
 * commands); `npm test` builds them first. A missing build is a failure, not a skip: nothing was tested.
 */
export function requireBuild(...files: string[]): void {
  const missing = ['dist/commands/daemon.js', ...files].filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) throw new Error(`${missing.join(', ')} not built: run \`npm run build\` (npm test does it) before this suite`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  json?: any;
}

export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Run `layercake ARGS` in the sandbox. */
  run(args: string[], opts?: {input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; wrap?: string[]}): Promise<CliResult>;
  /** Write a file in the sandbox; objects are written as YAML. */
  write(name: string, content: string | object): string;
  startDaemon(opts?: {args?: string[]; env?: NodeJS.ProcessEnv; wrap?: string[]}): Promise<DaemonProcess>;
  cleanup(): Promise<void>;
}

export interface DaemonProcess {
  /** host:port the API listens on. */
  listen: string;
  url: string;
  proc: ChildProcess;
  output(): string;
  /** fetch() of a path of this daemon's API over TCP, with its token (read from its --state-dir). */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** SIGTERM and wait for a clean exit (SIGKILL after 10 s); resolves to the exit code. */
  stop(): Promise<number | null>;
}

export function sandbox(prefix = 'lc-cli-'): Sandbox {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const d of ['home', 'data', 'config', 'cache']) mkdirSync(join(dir, d));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    NO_COLOR: '1',
    // The sandbox's daemon and CLI meet on a socket of their own, never the machine's default one.
    LAYERCAKE_SOCKET: join(dir, 'api.sock'),
    // Some npm versions read this; the plugins link never needs the registry.
    npm_config_offline: 'true',
  };
  const daemons = new Set<DaemonProcess>();
  let sockets = 0;

  const run: Sandbox['run'] = (args, opts = {}) => new Promise((resolve, reject) => {
    // `wrap` runs the CLI under another command, e.g. ['ip', 'netns', 'exec', NS].
    const [cmd, ...cmdArgs] = [...(opts.wrap ?? []), process.execPath, BIN, ...args];
    const child = spawn(cmd, cmdArgs, {cwd: opts.cwd ?? dir, env: {...env, ...opts.env}, stdio: ['pipe', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`layercake ${args.join(' ')} did not finish in ${(opts.timeoutMs ?? 60_000) / 1000} s\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        // Not JSON output.
      }
      resolve({code, stdout, stderr, json});
    });
    child.stdin.end(opts.input ?? '');
  });

  const startDaemon: Sandbox['startDaemon'] = (opts = {}) => new Promise((resolve, reject) => {
    const argv = [BIN, 'daemon', '--log-level', 'info', ...(opts.args ?? [])];
    const [cmd, ...cmdArgs] = opts.wrap ? [...opts.wrap, process.execPath, ...argv] : [process.execPath, ...argv];
    // The first daemon takes the sandbox's socket; one started while another runs gets a socket of its own.
    const running = [...daemons].some((d) => d.proc.exitCode === null && d.proc.signalCode === null);
    const socket = running ? {LAYERCAKE_SOCKET: join(dir, `api-${++sockets}.sock`)} : {};
    const proc = spawn(cmd, cmdArgs, {cwd: dir, env: {...env, ...socket, ...opts.env}, stdio: ['ignore', 'pipe', 'pipe']});
    const stateDirArg = opts.args?.indexOf('--state-dir') ?? -1;
    const stateDir = stateDirArg >= 0 ? opts.args![stateDirArg + 1] : undefined;
    let out = '';
    let settled = false;
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const timer = setTimeout(() => fail(new Error(`daemon did not start within 30 s:\n${out}`)), 30_000);
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(error);
    };
    const onData = (d: Buffer) => {
      out += d;
      if (settled) return;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const rec = JSON.parse(line) as {listen?: string; msg?: string};
          if (rec.listen && /listening/.test(rec.msg ?? '')) {
            settled = true;
            clearTimeout(timer);
            const daemon: DaemonProcess = {
              listen: rec.listen, url: `http://${rec.listen}`, proc, output: () => out,
              api: (path, init = {}) => {
                if (!stateDir) throw new Error('daemon.api() needs the daemon started with --state-dir');
                const token = readFileSync(join(stateDir, 'token'), 'utf8').trim();
                return fetch(`http://${rec.listen}${path}`, {...init, headers: {...init.headers as Record<string, string>, authorization: `Bearer ${token}`}});
              },
              stop: async () => {
                daemons.delete(daemon);
                if (proc.exitCode === null && proc.signalCode === null) {
                  proc.kill('SIGTERM');
                  const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
                  const code = await exited;
                  clearTimeout(kill);
                  return code;
                }
                return proc.exitCode;
              },
            };
            daemons.add(daemon);
            resolve(daemon);
            return;
          }
        } catch {
          // A partial line; wait for the rest.
        }
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => fail(new Error(`daemon exited with ${code} before listening:\n${out}`)));
  });

  return {
    dir, env, run, startDaemon,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, typeof content === 'string' ? content : stringify(content));
      return path;
    },
    async cleanup() {
      for (const d of [...daemons]) await d.stop();
      rmSync(dir, {recursive: true, force: true});
    },
  };
}

/**
 * A config file that disables every bundled module (their servers want privileged ports and real
 * networks), except those named; plus the state dir.
 */
export async function isolatedConfig(box: Sandbox, opts: {keep?: string[]; extra?: object} = {}): Promise<string> {
  const printed = await box.run(['daemon', '--print-config', '--json']);
  if (printed.code !== 0 || !printed.json) throw new Error(`daemon --print-config failed:\n${printed.stdout}\n${printed.stderr}`);
  const names: string[] = printed.json.modules.map((m: {name: string}) => m.name);
  const modules = Object.fromEntries(names.filter((n) => !opts.keep?.includes(n)).map((n) => [n, {disable: true}]));
  return box.write('layercake.config.yaml', {stateDir: 'state', modules, ...opts.extra});
}

/** Poll `check` until it returns something truthy, or fail after `ms`. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms = 15_000, label = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
