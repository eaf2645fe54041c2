/**
 * Every BMC request of the plugin (mutations, polling, commands) goes through one BmcClient: it
 * picks the driver, bounds how many requests are in flight over all BMCs (a shared limiter), and
 * keeps a circuit breaker per BMC so that a dead or slow BMC fails fast instead of holding slots
 * the others need.
 */
import {abortError, bmcLabel, IpmiError, isBmcFailure} from '../errors.js';
import type {BootDevice, DriverName} from '../extension.js';
import type {BmcDriver, BmcTarget, BootOptions, PowerAction, PowerState} from '../drivers/driver.js';
import {IpmitoolDriver} from '../drivers/ipmitool.js';
import {NativeDriver} from '../drivers/native.js';
import {CircuitBreaker, type BreakerOptions, type BreakerState} from './breaker.js';
import {Limiter} from './limiter.js';

export interface BmcClientOptions {
  driver: DriverName;
  concurrency: number;
  attemptTimeout: number;
  retries: number;
  sessionIdle: number;
  breaker: BreakerOptions;
  ipmitool?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's default driver (the node's ipmi.driver). */
  driver?: DriverName;
}

export class BmcClient {
  readonly limiter: Limiter;
  private readonly opts: BmcClientOptions;
  private readonly drivers = new Map<DriverName, BmcDriver>();
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(opts: BmcClientOptions) {
    this.opts = opts;
    this.limiter = new Limiter(opts.concurrency);
  }

  status(target: BmcTarget, call: CallOptions = {}): Promise<PowerState> {
    return this.call(target, call, (d, signal) => d.status(target, signal));
  }

  power(target: BmcTarget, action: PowerAction, call: CallOptions = {}): Promise<void> {
    return this.call(target, call, (d, signal) => d.power(target, action, signal));
  }

  bootdev(target: BmcTarget, device: BootDevice, options: BootOptions = {}, call: CallOptions = {}): Promise<void> {
    return this.call(target, call, (d, signal) => d.bootdev(target, device, options, signal));
  }

  breaker(host: string, port: number): {state: BreakerState; failures: number; lastError?: string} {
    const b = this.breakers.get(bmcLabel(host, port));
    return b ? {state: b.state, failures: b.failures, lastError: b.last?.message} : {state: 'closed', failures: 0};
  }

  /** Forgets a BMC's failures (its settings changed, or the operator asks to try again now). */
  resetBreaker(host: string, port: number): void {
    this.breakers.get(bmcLabel(host, port))?.reset();
  }

  driver(name: DriverName = this.opts.driver): BmcDriver {
    let d = this.drivers.get(name);
    if (!d) {
      const timing = {attemptTimeout: this.opts.attemptTimeout, retries: this.opts.retries};
      d = name === 'native'
        ? new NativeDriver({...timing, sessionIdle: this.opts.sessionIdle})
        : new IpmitoolDriver({...timing, binary: this.opts.ipmitool});
      this.drivers.set(name, d);
    }
    return d;
  }

  async close(): Promise<void> {
    const all = [...this.drivers.values()];
    this.drivers.clear();
    await Promise.all(all.map((d) => d.close()));
  }

  private async call<T>(target: BmcTarget, call: CallOptions, fn: (driver: BmcDriver, signal?: AbortSignal) => Promise<T>): Promise<T> {
    const bmc = bmcLabel(target.host, target.port);
    let breaker = this.breakers.get(bmc);
    if (!breaker) {
      breaker = new CircuitBreaker(bmc, this.opts.breaker);
      this.breakers.set(bmc, breaker);
    }
    const b = breaker;
    b.check(); // fail fast without queueing while the breaker is open (throws kind 'circuit')
    const signal = call.signal;
    try {
      return await this.limiter.run(async () => {
        const token = b.admit(); // again: it may have opened while this request waited for a slot
        try {
          const result = await fn(this.driver(call.driver), signal);
          b.success(token);
          return result;
        } catch (error) {
          if (isBmcFailure(error)) b.failure(token, error);
          else b.release(token);
          throw error;
        }
      }, signal);
    } catch (error) {
      if (error instanceof IpmiError) throw error;
      if (signal?.aborted) throw abortError(bmc, signal);
      throw error;
    }
  }
}
