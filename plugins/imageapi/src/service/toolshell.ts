/**
 * Runs the service's tools (cp, rbd, iscsiadm, mount for nfs with its helper ...) one at a time through
 * one resident POSIX shell, started on first use, instead of one Node `spawn` each. (Loop devices and
 * mounts are system calls: syscalls.ts.)
 *
 * Why: a spawn from Node forks the whole service (about 100 MB of page tables) and then reaps it
 * through libuv; on a one-CPU VM without KVM that made each tool cost 150-250 ms, against 50-60 ms for
 * the same tool run by a shell (measured in the VM, issue 16). The shell is small, so each tool costs
 * what it costs a shell script. Each tool is still one call with its own exit status and stderr: the
 * service records every object exactly as before.
 *
 * The protocol: one line per command on the shell's stdin (the tool's path and arguments, each in single
 * quotes), which it runs with stdin from /dev/null and stdout and stderr into two files of `dir`, then
 * answers with the exit status on a line of its stdout. A command that outlives its timeout takes the
 * shell with it (the next command starts a new one). An argument with a newline cannot travel on one
 * line: such a command is run by execFile, as is everything when the shell cannot start.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdirSync, readFileSync} from 'node:fs';
import {setPriority} from 'node:os';
import type {Socket} from 'node:net';
import {join} from 'node:path';
import {createInterface, type Interface} from 'node:readline';
import {run, ToolError} from './exec.js';

const SCRIPT = 'd=$1; while IFS= read -r line; do eval "$line" </dev/null >"$d/out" 2>"$d/err"; echo $?; done';

/** POSIX sh single quoting. */
const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

interface Pending {
  resolve(status: number): void;
  reject(error: Error): void;
}

export class ToolShell {
  private child?: ChildProcess;
  private lines?: Interface;
  private pending?: Pending;
  /** Commands run one after another: each waits for the one before it. */
  private queue: Promise<unknown> = Promise.resolve();

  /** `dir`: a private directory (mode 700) for the tools' output files; `nice`: the shell's (and so its tools') niceness. */
  constructor(private readonly dir: string, private readonly options: {nice?: number} = {}) {}

  /** Runs `tool` (a full path: a shell would run its own builtin or applet for a bare name) and returns its stdout. */
  run(tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
    if ([tool, ...args].some((a) => a.includes('\n') || a.includes('\0'))) return run(tool, args, {timeoutMs});
    const next = this.queue.then(() => this.runNow(tool, args, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the shell (it also ends by itself when this process does: its stdin closes). */
  close(): void {
    this.child?.stdin?.end();
    this.forget();
  }

  private async runNow(tool: string, args: string[], timeoutMs: number): Promise<string> {
    const child = this.shell();
    if (!child) return run(tool, args, {timeoutMs});
    const status = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(new ToolError(tool, args, null, `timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.pending = undefined;
        (child.stdout as Socket).unref();
      };
      this.pending = {resolve: (s) => { settle(); resolve(s); }, reject: (e) => { settle(); reject(e); }};
      (child.stdout as Socket).ref(); // an answer is awaited
      child.stdin!.write(`${[tool, ...args].map(quote).join(' ')}\n`);
    });
    const stdout = readFileSync(join(this.dir, 'out'), 'utf8');
    if (status !== 0) throw new ToolError(tool, args, status, readFileSync(join(this.dir, 'err'), 'utf8'));
    return stdout;
  }

  /** The running shell, started if need be (undefined if it cannot start). */
  private shell(): ChildProcess | undefined {
    if (this.child) return this.child;
    mkdirSync(this.dir, {recursive: true, mode: 0o700});
    const child = spawn('/bin/sh', ['-c', SCRIPT, 'layercake-tools', this.dir], {stdio: ['pipe', 'pipe', 'ignore'], detached: true, env: {...process.env, LC_ALL: 'C'}});
    child.once('error', () => undefined); // it did not start (no pid below): execFile runs the tools instead
    if (!child.pid) return undefined;
    if (this.options.nice) setPriority(child.pid, this.options.nice); // the tools it forks inherit it
    child.unref();
    (child.stdin as unknown as Socket).unref();
    (child.stdout as Socket).unref();
    this.child = child;
    this.lines = createInterface({input: child.stdout!});
    this.lines.on('line', (line) => this.pending?.resolve(Number(line)));
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.forget();
      this.pending?.reject(new Error(`the tool shell ended (${signal ?? `exit status ${code}`})`));
    });
    child.stdin!.on('error', () => undefined); // a shell that ended: its exit rejects the command
    return child;
  }

  /** A command that hangs: the shell and the tool go (one process group). */
  private kill(): void {
    const pid = this.child?.pid;
    this.forget();
    if (pid) try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  }

  private forget(): void {
    this.lines?.close();
    this.lines = undefined;
    this.child = undefined;
  }
}
