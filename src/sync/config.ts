/**
 * The `sync` section of the daemon configuration, with its defaults, and the `--parent` URL.
 */
import {z} from 'zod';
import {LayercakeError} from '../model/errors.js';
import {durationSchema} from '../model/duration-schema.js';

/** The UDP port of the sync protocol when nothing else is said (the original's 31415). */
export const DEFAULT_SYNC_PORT = 31415;

const duration = durationSchema;

export const syncConfigSchema = z.object({
  /** Where this daemon receives sync datagrams. A parent's children send to this port. */
  listen: z.string().default(`0.0.0.0:${DEFAULT_SYNC_PORT}`),
  /** The sync port of the parent when the `--parent` URL does not give one (an http:// URL names the API, not sync). */
  parentPort: z.number().int().min(1).max(65535).default(DEFAULT_SYNC_PORT),
  /** How often each side says hello when it has nothing else to say. */
  helloInterval: duration('10s'),
  /** Silence after which a peer is declared dead (parent: RunState ERROR; child: phone home again). */
  deadInterval: duration('40s'),
  /** How often a full state goes each way besides the deltas (a safety net; 0 turns it off). */
  fullStateInterval: duration('60s'),
  /** First retransmission of an unacknowledged update; doubles up to the hello interval. */
  retransmit: duration('250ms'),
  /** First phone-home retry; doubles up to phoneHomeRetryMax (with jitter). */
  phoneHomeRetry: duration('1s'),
  phoneHomeRetryMax: duration('10s'),
  /**
   * Flow control on a parent: at most this many children with an unacknowledged update at once (the
   * others wait for a slot), so that a fan-out to 10,000 children does not outrun them and retransmit.
   */
  maxInFlight: z.number().int().min(1).default(512),
  /** Largest datagram sent, headers included; larger messages are fragmented. */
  maxDatagram: z.number().int().min(256).max(65507).default(1400),
  /** Largest reassembled message accepted from one peer. */
  maxMessageBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
  /** Total bytes held in reassembly buffers, all peers together. */
  maxReassemblyBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** Socket receive buffer (capped by the kernel's net.core.rmem_max). */
  recvBufferSize: z.number().int().min(0).default(4 * 1024 * 1024),
  /** A child's join secret: a file holding it (hex), read at start. */
  joinSecretFile: z.string().optional(),
  /** A child's join secret from the kernel command line (`layercake.secret=<hex>`), read when no file is given. */
  kernelCmdline: z.string().default('/proc/cmdline'),
}).strict().superRefine((c, ctx) => {
  if (c.helloInterval <= 0) ctx.addIssue({code: 'custom', path: ['helloInterval'], message: 'must be greater than 0'});
  if (c.deadInterval < 2 * c.helloInterval) {
    ctx.addIssue({code: 'custom', path: ['deadInterval'], message: `must be at least twice helloInterval (${c.helloInterval} ms), got ${c.deadInterval} ms`});
  }
  if (c.phoneHomeRetryMax < c.phoneHomeRetry) ctx.addIssue({code: 'custom', path: ['phoneHomeRetryMax'], message: 'must not be below phoneHomeRetry'});
});

/**
 * How far ahead periodic work is pulled together: the hellos due within this window go out in one
 * batch (one wake-up instead of one per child, and the answers come back in bursts).
 */
export function batchWindowMs(c: SyncConfig): number {
  return Math.min(500, c.helloInterval / 20);
}

export type SyncConfigInput = z.input<typeof syncConfigSchema>;
export type SyncConfig = z.output<typeof syncConfigSchema>;

export function parseSyncConfig(input: unknown): SyncConfig {
  const r = syncConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const url = `sync.${issue.path.join('.') || '(root)'}`;
    throw new LayercakeError(`config ${url}: ${issue.message}`, 'LC_ERR_SYNC_CONFIG', {url});
  }
  return r.data;
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`, or a bare host (port = fallback). */
export function parseHostPort(text: string, fallbackPort: number): HostPort {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) return {host: v6[1]!, port: v6[2] ? Number(v6[2]) : fallbackPort};
  const colons = text.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = text.split(':');
    if (!/^\d+$/.test(port!)) throw new Error(`expected host:port, got "${text}"`);
    return {host: host!, port: Number(port)};
  }
  return {host: text, port: fallbackPort};
}

/**
 * The parent's sync address from `--parent`: `udp://host:port` (or `sync://`), `host:port`, `host`, or
 * the parent's API URL `http(s)://host[:apiPort]` (then the sync port is `parentPort`, default 31415).
 */
export function parseParentUrl(url: string, parentPort = DEFAULT_SYNC_PORT): HostPort {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.+?)\/?$/i.exec(url.trim());
  if (!m) return parseHostPort(url.trim(), parentPort);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'udp' || scheme === 'sync') return parseHostPort(rest, parentPort);
  if (scheme === 'http' || scheme === 'https') return {host: parseHostPort(rest.split('/')[0]!, parentPort).host, port: parentPort};
  throw new Error(`--parent ${url}: expected udp://host:port, host:port or http://host (the parent's API)`);
}
