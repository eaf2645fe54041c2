/**
 * One error type for everything that can go wrong talking to a BMC, whichever driver talks. The
 * `kind` is what callers (the module, the circuit breaker, the tests that cross-check the drivers)
 * look at; the message is what the operator reads in `layercake node why`, so it names the BMC and
 * says what happened in plain words. Messages never contain a password.
 */
import type {ErrorCode} from '@layercake/sdk';

export type IpmiErrorKind =
  /** No answer (timeout) or the port is closed: the BMC is down, unplugged or hung. */
  | 'unreachable'
  /** The BMC rejected the user name, the password or the privilege level. */
  | 'auth'
  /** The BMC answered, but with a completion code other than success. */
  | 'command'
  /** The BMC's answer could not be understood (malformed, bad integrity code, unexpected values). */
  | 'protocol'
  /** The circuit breaker is open for this BMC: it failed repeatedly and is not asked again yet. */
  | 'circuit'
  /** The node's ipmi extension is incomplete (no host, no password) or a password file is unreadable. */
  | 'config'
  /** The caller gave up (mutation timeout, re-plan, shutdown). */
  | 'aborted';

export class IpmiError extends Error {
  readonly kind: IpmiErrorKind;
  /** The BMC, as host:port. */
  readonly bmc: string;
  /** The catalogue's code, when the failure has one of its own (the CLI shows it). */
  readonly code?: ErrorCode;

  constructor(kind: IpmiErrorKind, bmc: string, message: string, options?: {cause?: unknown; code?: ErrorCode}) {
    super(message, options);
    this.name = 'IpmiError';
    this.kind = kind;
    this.bmc = bmc;
    this.code = options?.code;
  }
}

/** A BMC host name that does not resolve: a mistake in the node's ipmi extension, not a sick BMC. */
export function hostNotFound(bmc: string, host: string, why: string): IpmiError {
  return new IpmiError('config', bmc, `BMC host name "${host}" does not resolve (${why}): give ipmi.host the BMC's IP address or a name this machine resolves`, {code: 'LC_ERR_IPMI_HOST'});
}

/** Whether a failure says something about the BMC's health (and so counts for its circuit breaker). */
export function isBmcFailure(error: unknown): error is IpmiError {
  return error instanceof IpmiError && (error.kind === 'unreachable' || error.kind === 'auth' || error.kind === 'protocol');
}

export function bmcLabel(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The reason an AbortSignal fired, as an IpmiError of kind 'aborted' (or the signal's own IpmiError). */
export function abortError(bmc: string, signal: AbortSignal): IpmiError {
  const reason: unknown = signal.reason;
  if (reason instanceof IpmiError) return reason;
  const why = reason instanceof Error ? (reason.name === 'TimeoutError' ? 'timed out' : reason.message) : String(reason ?? 'aborted');
  return new IpmiError('aborted', bmc, `request to BMC ${bmc} was abandoned: ${why}`, {cause: reason});
}
