/**
 * What a mutation handler may answer besides "done" (it resolves) and "failed, retry" (it throws), as
 * controller-runtime's reconcile.Result{RequeueAfter} and reconcile.TerminalError have it:
 *
 * - `return requeueAfter('5s', reason)`: not yet; the engine keeps the step and calls the handler again
 *   after that long. Nothing failed: no failTo, no failure counted, and the step's timeout does not run
 *   while it waits (the timeout bounds each call of the handler).
 * - `return requeue(reason)`: the same, after the engine's own backoff (retry.base, doubled for each
 *   requeue of the step, at most retry.max_backoff).
 * - `throw new TerminalError(reason)`: failed for good. The failTo value is discovered and the node is
 *   held (nothing retried) until its cfg changes or `layercake node retry` releases it.
 *
 * The engine alone waits: a handler never sleeps to retry. Both are recognised by shape (a `kind` field,
 * a `terminal` flag), not by class identity, so a plugin with its own copy of the sdk (or plain
 * JavaScript) is understood the same.
 */
import {parseDuration} from './duration.js';

export interface Requeue {
  readonly kind: 'requeue';
  /** Milliseconds to wait; absent: the engine's backoff. */
  readonly afterMs?: number;
  /** What the step waits for (shown by `layercake node why` and in the WAIT event). */
  readonly reason: string;
}

/** What a handler's promise may resolve to: nothing (done), or a requeue. */
export type HandlerResult = void | undefined | Requeue;

/** Not yet: ask again after `after` (milliseconds or a duration such as '5s'). */
export function requeueAfter(after: number | string, reason: string): Requeue {
  return {kind: 'requeue', afterMs: parseDuration(after, 'requeueAfter'), reason};
}

/** Not yet: ask again after the engine's backoff. */
export function requeue(reason: string): Requeue {
  return {kind: 'requeue', reason};
}

export function isRequeue(result: unknown): result is Requeue {
  return typeof result === 'object' && result !== null && (result as Requeue).kind === 'requeue';
}

/** A failure that retrying cannot mend (a cfg that cannot work, attempts exhausted). */
export class TerminalError extends Error {
  readonly terminal = true;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export function isTerminal(error: unknown): boolean {
  return error instanceof Error && (error as Partial<TerminalError>).terminal === true;
}
