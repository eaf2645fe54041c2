/**
 * The daemon's configuration: flags, then the config file (found by cosmiconfig in the command), then
 * these defaults. Module sections (`modules.<name>`) hold the module's own keys plus the engine's
 * per-module settings: maxConcurrent, disable, and per-mutation timeout/disable overrides.
 */
import {z} from 'zod';
import {ValidationError} from '../model/errors.js';
import type {MutationOverride} from '../model/registry.js';
import type {ModuleSpec} from '../model/contract.js';
import {parseSyncConfig} from '../sync/config.js';

const duration = z.union([z.number().nonnegative(), z.string().regex(/^(\d+(\.\d+)?(ms|s|m|h))+$|^\d+$/, 'expected a duration such as 500ms, 10s, 2m')]);

export const daemonConfigSchema = z.object({
  stateDir: z.string().default('.layercake'),
  /** HOST:PORT of the API, or 'none' for an agent that serves no API (a simulated node's). */
  listen: z.string().regex(/^(\[[0-9a-f:]+\]|[^:\s]+):\d{1,5}$|^none$/i, 'expected HOST:PORT (or none)').default('127.0.0.1:3141'),
  parent: z.string().optional(),
  id: z.string().uuid().optional(),
  nodename: z.string().optional(),
  freeze: z.boolean().default(false),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  retry: z.object({max: z.number().int().min(0).default(5), base: duration.default('2s'), max_backoff: duration.default('2m')}).strict().default({max: 5, base: '2s', max_backoff: '2m'}),
  api: z.object({
    token: z.string().min(16).optional(),
    /** The local channel's Unix socket: a path, or 'none'; default: LAYERCAKE_SOCKET, /run/layercake/api.sock as root, else $XDG_RUNTIME_DIR/layercake/api.sock. */
    socket: z.string().min(1).optional(),
    /** Limits (docs/api.md, "Limits"): the largest request body, node and string field, in bytes. */
    bodyLimit: z.number().int().min(1024).optional(),
    maxNodeBytes: z.number().int().min(1024).optional(),
    maxFieldBytes: z.number().int().min(64).optional(),
    /** Host names a loopback API answers to besides localhost, 127.0.0.1 and [::1] (DNS rebinding guard). */
    allowedHosts: z.array(z.string().min(1)).optional(),
  }).strict().default({}),
  /** State sync with children and the parent (validated by the sync engine: docs/sync-protocol.md). */
  sync: z.record(z.string(), z.unknown()).default({}),
  modules: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
}).strict();

export type DaemonConfig = z.infer<typeof daemonConfigSchema>;

const ENGINE_KEYS = ['maxConcurrent', 'disable', 'mutations'] as const;

export interface ModuleSettings {
  disable: boolean;
  maxConcurrent?: number;
  mutations: Record<string, MutationOverride>;
  /** The module's own config, validated against its schema with defaults filled in. */
  config: unknown;
}

const engineSection = z.object({
  disable: z.boolean().default(false),
  maxConcurrent: z.number().int().positive().optional(),
  mutations: z.record(z.string(), z.object({timeout: duration.optional(), disable: z.boolean().optional()}).strict()).default({}),
});

/** Splits and validates `modules.<name>`; an error names the key at fault. */
export function moduleSettings(spec: ModuleSpec, section: Record<string, unknown> = {}): ModuleSettings {
  const own = Object.fromEntries(Object.entries(section).filter(([k]) => !(ENGINE_KEYS as readonly string[]).includes(k)));
  const engine = engineSection.safeParse(Object.fromEntries(Object.entries(section).filter(([k]) => (ENGINE_KEYS as readonly string[]).includes(k))));
  if (!engine.success) throw configError(spec.name, engine.error.issues[0]);
  for (const m of Object.keys(engine.data.mutations)) {
    if (!spec.mutations?.some((x) => x.name === m)) throw new ValidationError(`config modules.${spec.name}.mutations.${m}: module ${spec.name} has no mutation ${m} (it has ${spec.mutations?.map((x) => x.name).join(', ') || 'none'})`);
  }
  let config: unknown = own;
  if (spec.config) {
    const parsed = spec.config.safeParse(own);
    if (!parsed.success) throw configError(spec.name, parsed.error.issues[0]);
    config = parsed.data;
  } else if (Object.keys(own).length) {
    throw new ValidationError(`config modules.${spec.name}: module ${spec.name} takes no settings (got ${Object.keys(own).join(', ')})`);
  }
  return {disable: engine.data.disable, maxConcurrent: engine.data.maxConcurrent, mutations: engine.data.mutations, config};
}

function configError(module: string, issue: z.core.$ZodIssue): ValidationError {
  const path = ['modules', module, ...issue.path.map(String)].join('.');
  return new ValidationError(`config ${path}: ${issue.message}`, {url: path});
}

export function parseDaemonConfig(input: unknown, source = 'config'): DaemonConfig {
  const parsed = daemonConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`${source}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`, {url: issue.path.join('.')});
  }
  parseSyncConfig(parsed.data.sync); // a wrong sync setting fails here, before anything starts (LC_ERR_SYNC_CONFIG)
  return parsed.data;
}
