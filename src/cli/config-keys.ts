/**
 * The keys of the configuration file (src/cli/config.ts finds and loads it) and their check. Checked
 * by hand, not by a zod schema: every client command reads the file, and loading zod would cost each
 * one 0.05 s of CPU, a fifth of its start (docs/cli.md, "Start-up"). The daemon checks its own keys
 * again, in full, with its schema (src/daemon/config.ts).
 */
import {kindOf} from '../model/issues.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * The keys layercake reads. Unknown top-level keys are kept and passed to the daemon (sections such as
 * `retry`, `api` and `sync` are validated there), so a file written for a newer version still loads.
 */
export interface FileConfig {
  /** Daemon: where the durable cfg store, the token and module files live. */
  stateDir?: string;
  /** Daemon: `host:port` the API listens on. */
  listen?: string;
  /** Daemon: the parent daemon's address, for a child. */
  parent?: string;
  /** Daemon: this daemon's node id (a UUID). */
  id?: string;
  freeze?: boolean;
  logLevel?: (typeof LOG_LEVELS)[number];
  /** Daemon: per-module settings, `modules.<name>`, validated by each module's schema. */
  modules?: Record<string, unknown>;
  /** Client: the daemon's API address, http://HOST:PORT or unix:/path/to/api.sock (default: the local socket when it exists, else derived from `listen`, else http://127.0.0.1:3141). */
  url?: string;
  /** Client: the API bearer token. */
  token?: string;
  /** Client: a file holding the token (default: `<stateDir>/token` when it is readable). */
  tokenFile?: string;
  /** Daemon: API settings; `api.token` fixes the token, `api.socket` the local socket (the client uses both too). */
  api?: {token?: string; socket?: string; [key: string]: unknown};
  [key: string]: unknown;
}

/** What is wrong with a value, or undefined when it is fine. */
type Check = (value: unknown) => Problem | undefined;
/** Where (keys from the top) and what. */
export interface Problem {
  path: string[];
  message: string;
}

const string = (minLength: number): Check => (v) => {
  if (typeof v !== 'string') return {path: [], message: `expected a string, got ${kindOf(v)}`};
  return v.length < minLength ? {path: [], message: 'must not be empty'} : undefined;
};
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : {path: [], message: `expected true or false, got ${kindOf(v)}`});
const oneOf = (values: readonly string[]): Check => (v) =>
  (values.includes(v as string) ? undefined : {path: [], message: `expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`});

/** A mapping whose listed keys, when present, pass their checks; other keys pass through. */
const section = (keys: Record<string, Check>): Check => (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {path: [], message: `expected a mapping (key: value), got ${kindOf(v)}`};
  for (const [key, check] of Object.entries(keys)) {
    const value = (v as Record<string, unknown>)[key];
    const problem = value === undefined ? undefined : check(value);
    if (problem) return {path: [key, ...problem.path], message: problem.message};
  }
  return undefined;
};

const fileConfig = section({
  stateDir: string(1), listen: string(1), parent: string(0), id: string(0), freeze: boolean, logLevel: oneOf(LOG_LEVELS),
  modules: section({}), url: string(1), token: string(1), tokenFile: string(1), api: section({token: string(0), socket: string(0)}),
});

/** The first problem in a config file's contents (the value its parser returned), if any. */
export function checkFileConfig(value: unknown): Problem | undefined {
  return fileConfig(value);
}
