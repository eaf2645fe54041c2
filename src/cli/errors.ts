/**
 * Command-line errors: one line saying what went wrong (naming the node, URL and value when there is
 * one), a next step, a stable code, and a non-zero exit. Errors from the API client and the hostlist
 * parser are converted here, so every command fails the same way.
 */
import {Errors} from '@oclif/core';
import {ApiError, DaemonUnreachableError} from '../api/errors.js';
import {LayercakeError} from '../model/errors.js';
import {HostlistError} from './hostlist.js';

export interface CliErrorDetails {
  /** A stable code, `LC_ERR_<AREA>_<WHAT>` (or the API's code). */
  code: string;
  /** The next step for the operator. */
  hint?: string;
  node?: string;
  url?: string;
  value?: unknown;
  expected?: string;
  /** HTTP status, for errors that came from the API. */
  status?: number;
  /** Process exit code: 2 for bad input (usage, syntax, validation), 1 for everything else (the default). */
  exit?: number;
}

export class CliError extends Errors.CLIError {
  readonly hint?: string;
  readonly node?: string;
  readonly url?: string;
  readonly value?: unknown;
  readonly expected?: string;
  readonly status?: number;

  constructor(message: string, details: CliErrorDetails) {
    super(message, {code: details.code, exit: details.exit ?? 1, suggestions: details.hint ? [details.hint] : undefined});
    this.hint = details.hint;
    this.node = details.node;
    this.url = details.url;
    this.value = details.value;
    this.expected = details.expected;
    this.status = details.status;
  }

  /** The `--json` form: `{error: {code, message, hint?, node?, url?, value?, expected?, status?}}`. */
  toJSON(): {code: string; message: string; hint?: string; node?: string; url?: string; value?: unknown; expected?: string; status?: number} {
    const out: ReturnType<CliError['toJSON']> = {code: this.code ?? 'LC_ERR', message: this.message};
    for (const key of ['hint', 'node', 'url', 'value', 'expected', 'status'] as const) {
      if (this[key] !== undefined) (out as Record<string, unknown>)[key] = this[key];
    }
    return out;
  }
}

/** Turn whatever a command threw into a CliError (oclif's own parse and exit errors pass through unchanged). */
export function toCliError(error: unknown): Error {
  if (error instanceof CliError) return error;
  if (error instanceof DaemonUnreachableError) {
    return new CliError(error.message, {code: 'LC_ERR_API_UNREACHABLE', hint: error.hint});
  }
  if (error instanceof ApiError) {
    return new CliError(error.message, {
      code: error.code, hint: error.hint ?? hintForStatus(error.status), node: error.node, url: error.url,
      value: error.value, expected: error.expected, status: error.status, exit: error.status === 400 ? 2 : 1,
    });
  }
  // The core's LayercakeError (validation, not found, conflict) when it is raised in this process.
  if (error instanceof LayercakeError) {
    return new CliError(error.message, {code: error.code, status: error.status, exit: error.status === 400 ? 2 : 1, ...error.detail});
  }
  if (error instanceof HostlistError) {
    return new CliError(error.message, {code: 'LC_ERR_HOSTLIST', hint: 'write node sets like n[01-16],gpu[1-4] (ranges and lists inside brackets)', exit: 2});
  }
  // oclif's parser and exit errors (and anything already shaped for oclif) keep their own handling.
  if (error instanceof Errors.CLIError || (error instanceof Error && 'oclif' in error)) return error;
  const errno = (error as NodeJS.ErrnoException)?.code;
  if (errno === 'EADDRINUSE' || errno === 'EADDRNOTAVAIL' || errno === 'EACCES') {
    const hint = errno === 'EADDRINUSE' ? 'another process (another daemon?) listens there: stop it, or choose another --listen HOST:PORT'
      : errno === 'EACCES' ? 'ports below 1024 need root (or CAP_NET_BIND_SERVICE); choose another port or run as root'
        : 'that address is not on this machine: choose one of its addresses (or 0.0.0.0) for --listen';
    return new CliError((error as Error).message.split('\n')[0], {code: `LC_ERR_LISTEN_${errno}`, hint});
  }
  if (error instanceof Error) {
    const message = error.message.split('\n')[0] || error.name;
    return new CliError(message, {code: (error as NodeJS.ErrnoException).code ?? 'LC_ERR_INTERNAL', hint: 'run again with DEBUG=* for details'});
  }
  return new CliError(String(error), {code: 'LC_ERR_INTERNAL'});
}

function hintForStatus(status: number): string | undefined {
  if (status === 401 || status === 403) return 'pass the daemon\'s token with --token or LAYERCAKE_TOKEN (it is in <stateDir>/token)';
  if (status === 404) return 'list the nodes with `layercake node list`';
  if (status === 400) return 'fix the input and try again; nothing was changed (layercake extensions lists the fields and enum values)';
  if (status === 409) return 'nothing was changed; ids and nodenames must be unique (layercake node list shows the nodes there are)';
  return undefined;
}
