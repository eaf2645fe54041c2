/**
 * `layercake exec NODES -- CMD`: run one command on many nodes over SSH (ssh2), in parallel with a bound,
 * only on nodes that are up (dsc runState SYNC). Output lines are prefixed with the node's name as they
 * arrive; each node's exit status is collected. Host keys are checked against ~/.ssh/known_hosts when it
 * knows the host (a changed key is refused); unknown hosts are accepted, as with
 * StrictHostKeyChecking=accept-new, but not recorded.
 */
import {createHmac} from 'node:crypto';
import {existsSync, readFileSync} from 'node:fs';
import {homedir} from 'node:os';
import {join} from 'node:path';
import {Client, type ConnectConfig} from 'ssh2';
import type {NodeView} from '../api/types.js';
import {getAt, toPointer} from '../model/url.js';

export interface ExecTarget {
  id: string;
  nodename: string;
  host: string;
  port: number;
}

export interface ExecResult {
  nodename: string;
  host: string;
  /** The remote exit code; null when the command did not run (connection or auth failure). */
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  error?: string;
  seconds: number;
}

export interface ExecOptions {
  user: string;
  port: number;
  /** Private key files to offer (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa, when present). */
  identities?: string[];
  /** An ssh-agent socket (default SSH_AUTH_SOCK). */
  agent?: string;
  password?: string;
  parallel: number;
  timeoutMs: number;
  knownHosts?: string;
  /** Called with each complete output line as it arrives. */
  onLine?: (target: ExecTarget, stream: 'stdout' | 'stderr', line: string) => void;
}

/**
 * Where to reach each node: the value at `addressUrl` (default ipv4.ip), else its nodename (resolved by
 * DNS or /etc/hosts). Nodes that are not up are returned separately, to be reported, not contacted.
 */
export function execTargets(views: readonly NodeView[], opts: {addressUrl?: string; port: number}): {targets: ExecTarget[]; skipped: {nodename: string; reason: string}[]} {
  const pointer = toPointer(opts.addressUrl ?? 'ipv4.ip');
  const targets: ExecTarget[] = [];
  const skipped: {nodename: string; reason: string}[] = [];
  for (const v of views) {
    const nodename = v.cfg.nodename || v.cfg.id;
    if (v.dsc.runState !== 'SYNC') {
      skipped.push({nodename, reason: `not up (runState ${v.dsc.runState})`});
      continue;
    }
    const address = getAt(v.dsc, pointer) ?? getAt(v.cfg, pointer);
    const host = typeof address === 'string' && address ? address : v.cfg.nodename;
    if (!host) {
      skipped.push({nodename, reason: `no address at ${pointer} and no nodename`});
      continue;
    }
    targets.push({id: v.cfg.id, nodename, host, port: opts.port});
  }
  return {targets, skipped};
}

/** Known host keys by "host" or "[host]:port", from an OpenSSH known_hosts file (hashed entries included). */
export function knownHostKeys(file: string, host: string, port: number): string[] | undefined {
  if (!existsSync(file)) return undefined;
  const names = port === 22 ? [host] : [`[${host}]:${port}`];
  const keys: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 3 || parts[0].startsWith('#') || parts[0].startsWith('@')) continue;
    const [patterns, , key] = parts;
    const match = patterns.split(',').some((p) => {
      if (p.startsWith('|1|')) {
        const [, , salt, hash] = p.split('|');
        return names.some((n) => createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash);
      }
      return names.includes(p);
    });
    if (match) keys.push(key);
  }
  return keys.length ? keys : undefined;
}

function defaultIdentities(): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f)).filter((f) => existsSync(f));
}

/** Run `command` on one target. Never throws: failures are in the result. */
export function execOne(target: ExecTarget, command: string, opts: ExecOptions): Promise<ExecResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const client = new Client();
    const result: ExecResult = {nodename: target.nodename, host: target.host, exitCode: null, stdout: '', stderr: '', seconds: 0};
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) result.error = error;
      result.seconds = (Date.now() - started) / 1000;
      client.end();
      resolve(result);
    };
    const timer = setTimeout(() => finish(`timed out after ${opts.timeoutMs / 1000} s`), opts.timeoutMs);
    const known = knownHostKeys(opts.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'), target.host, target.port);
    const identities = opts.identities ?? defaultIdentities();
    const config: ConnectConfig = {
      host: target.host, port: target.port, username: opts.user, readyTimeout: opts.timeoutMs,
      agent: opts.agent ?? process.env.SSH_AUTH_SOCK, password: opts.password,
      privateKey: identities.length ? readFileSync(identities[0]) : undefined,
      hostVerifier: (key: Buffer) => !known || known.includes(key.toString('base64')),
    };
    client.on('error', (error) => finish(error.message.includes('verification') ? `host key of ${target.host} does not match known_hosts: refusing` : error.message));
    client.on('ready', () => {
      client.exec(command, (error, channel) => {
        if (error) return finish(error.message);
        const lines = {stdout: '', stderr: ''};
        const feed = (stream: 'stdout' | 'stderr', data: Buffer) => {
          const text = data.toString('utf8');
          result[stream] += text;
          lines[stream] += text;
          const parts = lines[stream].split('\n');
          lines[stream] = parts.pop()!;
          for (const line of parts) opts.onLine?.(target, stream, line);
        };
        channel.on('data', (d: Buffer) => feed('stdout', d));
        channel.stderr.on('data', (d: Buffer) => feed('stderr', d));
        channel.on('exit', (code: number | null, signal?: string) => {
          result.exitCode = code;
          if (signal) result.signal = signal;
        });
        channel.on('close', () => {
          for (const stream of ['stdout', 'stderr'] as const) if (lines[stream]) opts.onLine?.(target, stream, lines[stream]);
          finish();
        });
      });
    });
    client.connect(config);
  });
}

/** Run `command` on every target, at most `parallel` at a time; results in the targets' order. */
export async function execAll(targets: readonly ExecTarget[], command: string, opts: ExecOptions): Promise<ExecResult[]> {
  const results: ExecResult[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      results[i] = await execOne(targets[i], command, opts);
    }
  };
  await Promise.all(Array.from({length: Math.min(Math.max(1, opts.parallel), targets.length)}, worker));
  return results;
}
