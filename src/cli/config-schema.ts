/**
 * The configuration file's schema (src/cli/config.ts finds and loads the file). Apart from config.ts
 * so that zod, a tenth of a CLI start's CPU, loads only when there is a file to check.
 */
import {z} from 'zod';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * The keys layercake reads. Unknown top-level keys are kept and passed to the daemon (sections such as
 * `retry`, `api` and `sync` are validated there), so a file written for a newer version still loads.
 */
export const fileConfigSchema = z.looseObject({
  /** Daemon: where the durable cfg store, the token and module files live. */
  stateDir: z.string().min(1).optional(),
  /** Daemon: `host:port` the API listens on. */
  listen: z.string().min(1).optional(),
  /** Daemon: the parent daemon's address, for a child. */
  parent: z.string().optional(),
  /** Daemon: this daemon's node id (a UUID). */
  id: z.string().optional(),
  freeze: z.boolean().optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  /** Daemon: per-module settings, `modules.<name>`, validated by each module's schema. */
  modules: z.record(z.string(), z.unknown()).optional(),
  /** Client: the daemon's API address, http://HOST:PORT or unix:/path/to/api.sock (default: the local socket when it exists, else derived from `listen`, else http://127.0.0.1:3141). */
  url: z.string().min(1).optional(),
  /** Client: the API bearer token. */
  token: z.string().min(1).optional(),
  /** Client: a file holding the token (default: `<stateDir>/token` when it is readable). */
  tokenFile: z.string().min(1).optional(),
  /** Daemon: API settings; `api.token` fixes the token, `api.socket` the local socket (the client uses both too). */
  api: z.looseObject({token: z.string().optional(), socket: z.string().optional()}).optional(),
});
export type FileConfig = z.infer<typeof fileConfigSchema>;
