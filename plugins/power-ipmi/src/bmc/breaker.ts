/**
 * A circuit breaker for one BMC. Closed: requests go through. After `failures` failed requests in a
 * row it opens: requests fail at once (kind 'circuit', with the last error) for `cooldown` ms.
 * Then it is half-open: one trial request goes through; success closes it, failure opens it again.
 */
import {IpmiError} from '../errors.js';
import {formatDuration} from '@layercake/sdk';

export interface BreakerOptions {
  failures: number;
  cooldown: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private consecutive = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private lastError?: IpmiError;
  private stateValue: BreakerState = 'closed';

  constructor(readonly bmc: string, private readonly opts: BreakerOptions, private readonly now: () => number = Date.now) {}

  get state(): BreakerState {
    if (this.stateValue === 'open' && this.now() - this.openedAt >= this.opts.cooldown) return 'half-open';
    return this.stateValue;
  }

  get failures(): number {
    return this.consecutive;
  }

  get last(): IpmiError | undefined {
    return this.lastError;
  }

  /**
   * Asks to send a request. Returns a token to pass to success()/failure(), or throws an
   * IpmiError of kind 'circuit' while the breaker is open (or a half-open trial is running).
   */
  admit(): {trial: boolean} {
    const state = this.state;
    if (state === 'closed') return {trial: false};
    if (state === 'half-open' && !this.trialInFlight) {
      this.stateValue = 'half-open';
      this.trialInFlight = true;
      return {trial: true};
    }
    throw this.openError();
  }

  /** Throws like admit() would, without taking the half-open trial. */
  check(): void {
    const state = this.state;
    if (state === 'open' || (state === 'half-open' && this.trialInFlight)) throw this.openError();
  }

  success(token: {trial: boolean}): void {
    if (token.trial) this.trialInFlight = false;
    this.consecutive = 0;
    this.lastError = undefined;
    this.stateValue = 'closed';
  }

  failure(token: {trial: boolean}, error: IpmiError): void {
    if (token.trial) this.trialInFlight = false;
    this.consecutive++;
    this.lastError = error;
    if (token.trial || this.consecutive >= this.opts.failures) {
      this.stateValue = 'open';
      this.openedAt = this.now();
    }
  }

  /** The request neither succeeded nor failed because of the BMC (aborted, bad config). */
  release(token: {trial: boolean}): void {
    if (token.trial) this.trialInFlight = false;
  }

  reset(): void {
    this.consecutive = 0;
    this.lastError = undefined;
    this.trialInFlight = false;
    this.stateValue = 'closed';
  }

  private openError(): IpmiError {
    const wait = Math.max(0, this.opts.cooldown - (this.now() - this.openedAt));
    const next = this.trialInFlight ? 'a trial request is running' : `next try in ${formatDuration(Math.ceil(wait / 1000) * 1000)}`;
    const last = this.lastError ? this.lastError.message : 'unknown error';
    return new IpmiError('circuit', this.bmc,
      `${last} [circuit breaker open after ${this.consecutive} failures in a row; ${next}]`, {cause: this.lastError});
  }
}
