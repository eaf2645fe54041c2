/**
 * Command-line errors: one line saying what went wrong (naming the node, URL and value when there is
 * one), a next step, a stable code, and a non-zero exit. Errors from the API client and the hostlist
 * parser are converted here, so every command fails the same way.
 */
import {Errors} from '@oclif/core';
import {ApiError, DaemonUnreachableError} from '../api/client/errors.js';
import {type ErrorCode, errorSpec, LayercakeError} from '../model/errors.js';
import {colorEnabled} from './color.js';
import {HostlistError} from './hostlist.js';

export interface CliErrorDetails {
  /** A code of the catalogue (src/model/errors.ts, docs/errors.md). */
  code: ErrorCode;
  /** The next step for the operator (default: the catalogue's). */
  hint?: string;
  node?: string;
  url?: string;
  value?: unknown;
  expected?: string;
  /** HTTP status, for errors that came from the API. */
  status?: number;
  /** Process exit code (default: the catalogue's: 2 bad input, 130 interrupted, 1 anything else). */
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
    const spec = errorSpec(details.code);
    const hint = details.hint ?? spec?.next;
    super(message, {code: details.code, exit: details.exit ?? spec?.exit ?? 1, suggestions: hint ? [hint] : undefined});
    this.hint = hint;
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

/** An oclif parser error (unknown flag, missing argument, bad value) as one line with the catalogue's code. */
function fromParseError(error: Errors.CLIError & {args?: {name: string}[]}, command?: string): CliError {
  const kind = error.constructor.name;
  const code: ErrorCode = kind === 'NonExistentFlagsError' || kind === 'UnexpectedArgsError' ? 'LC_ERR_UNKNOWN_FLAG' : 'LC_ERR_USAGE';
  const missing = kind === 'RequiredArgsError' && error.args?.length ? `missing argument ${error.args.map((a) => a.name.toUpperCase()).join(', ')}` : undefined;
  const hint = command ? `see \`layercake ${command.replaceAll(':', ' ')} --help\` for its arguments, flags and examples` : undefined;
  return new CliError(missing ?? error.message.split('\n')[0], {code, hint});
}

/**
 * Turn whatever a command threw into a CliError with a code of the catalogue: the API's answers, the
 * core's errors, oclif's parser errors, system errors (ENOSPC, a port in use) and, last, LC_ERR_INTERNAL.
 * oclif's exit (this.exit) passes through unchanged.
 */
export function toCliError(error: unknown, command?: string): Error {
  if (error instanceof CliError) return error;
  if (error instanceof DaemonUnreachableError) {
    return new CliError(error.message, {code: 'LC_ERR_API_UNREACHABLE', hint: error.hint});
  }
  if (error instanceof ApiError) {
    // A daemon older than the catalogue answers with its own codes: keep them, the status decides the exit.
    const code = error.code as ErrorCode;
    return new CliError(error.message, {
      code, hint: error.hint, node: error.node, url: error.url,
      value: error.value, expected: error.expected, status: error.status, exit: errorSpec(code)?.exit ?? (error.status === 400 ? 2 : 1),
    });
  }
  // The core's LayercakeError (validation, not found, conflict, a bad daemon config) when it is raised in
  // this process: an HTTP status only for a code the API answers with (the catalogue's), never a made-up 500.
  if (error instanceof LayercakeError) {
    return new CliError(error.message, {code: error.code, status: errorSpec(error.code)?.status, ...error.detail});
  }
  if (error instanceof HostlistError) return new CliError(error.message, {code: 'LC_ERR_HOSTLIST'});
  if (error instanceof Error && error.name === 'ExitPromptError') {
    return new CliError('interrupted, nothing was changed', {code: 'LC_ERR_INTERRUPTED'});
  }
  if (error instanceof Errors.CLIError && 'parse' in error) return fromParseError(error, command);
  // oclif's exit (and anything else already shaped for oclif) keeps its own handling.
  if (error instanceof Errors.CLIError || (error instanceof Error && 'oclif' in error)) return error;
  const errno = (error as NodeJS.ErrnoException)?.code;
  if (errno === 'EADDRINUSE' || errno === 'EADDRNOTAVAIL' || errno === 'EACCES') {
    return new CliError((error as Error).message.split('\n')[0], {code: `LC_ERR_LISTEN_${errno}`});
  }
  if (errno === 'ENOSPC') {
    const path = (error as NodeJS.ErrnoException).path;
    return new CliError(`no space left on the device${path ? ` of ${path}` : ''}: ${(error as Error).message.split('\n')[0]}`, {code: 'LC_ERR_DISK_FULL'});
  }
  // Anything else that carries a code of the catalogue (a plugin's own error class).
  if (error instanceof Error && errno && errorSpec(errno)) return new CliError(error.message.split('\n')[0], {code: errno as ErrorCode});
  if (error instanceof Error) {
    const message = error.message.split('\n')[0] || error.name;
    return new CliError(errno ? `${message} (${errno})` : message, {code: 'LC_ERR_INTERNAL'});
  }
  return new CliError(String(error), {code: 'LC_ERR_INTERNAL'});
}

/** The human form on stderr: `Error [CODE]: message` and `  Try this: hint` (red "Error" on a terminal). */
export function formatError(error: CliError): string {
  const label = colorEnabled(process.stderr) ? '\u001b[31mError\u001b[39m' : 'Error';
  return `${label} [${error.code}]: ${error.message}\n${error.hint ? `  Try this: ${error.hint}\n` : ''}`;
}
