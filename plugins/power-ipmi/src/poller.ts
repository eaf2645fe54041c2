/**
 * Periodic power polling: every `interval`, ask the BMC of every ipmi node this daemon manages for
 * its power state and discover changes made behind the engine's back (someone pressed the button,
 * ran ipmitool, the machine crashed off). Only a known POWER_ON/POWER_OFF is corrected: unknown
 * states are the UKtoOFF mutation's business, and PHYS_HANG must stay until HANGtoOFF has run (a
 * node that hung while booting is still "on"). An unreachable BMC changes nothing (no flapping):
 * it is logged once when it goes away and once when it comes back, and its failures feed its
 * circuit breaker, which the mutations then report.
 */
import {setMaxListeners} from 'node:events';
import {setTimeout as sleep} from 'node:timers/promises';
import type {ModuleContext, NodeView} from '@layercake/sdk';
import type {BmcClient} from './bmc/client.js';
import {parseIpmiNode, resolveTarget} from './credentials.js';
import {IpmiError} from './errors.js';

export interface PollerOptions {
  ctx: ModuleContext<unknown>;
  client: BmcClient;
  baseDir: string;
  /** ms between polls; 0 disables polling (pollOnce still works). */
  interval: number;
  /** Whether a mutation is running on the node (then its answer, not the poll's, counts). */
  busy: (nodeId: string) => boolean;
  /** Changes whenever a mutation starts or ends on the node. */
  generation: (nodeId: string) => number;
}

export interface PollResult {
  polled: number;
  changed: number;
  failed: number;
}

export class Poller {
  private readonly opts: PollerOptions;
  private readonly stopper = new AbortController();
  /** Nodes whose BMC failed at the last poll (logged once per outage). */
  private readonly failing = new Map<string, string>();
  private loop?: Promise<void>;

  constructor(opts: PollerOptions) {
    this.opts = opts;
  }

  start(): void {
    if (this.opts.interval <= 0 || this.loop) return;
    const signal = AbortSignal.any([this.stopper.signal, this.opts.ctx.signal]);
    this.loop = (async () => {
      while (!signal.aborted) {
        try {
          await sleep(this.opts.interval, undefined, {signal});
          await this.pollOnce(signal);
        } catch (error) {
          if (signal.aborted) return;
          this.opts.ctx.log.error(`power poll failed: ${(error as Error).message}`);
        }
      }
    })();
  }

  stop(): void {
    this.stopper.abort();
  }

  /** The nodes this daemon polls: platform ipmi, managed here (CHILD context), with a BMC address. */
  managed(): NodeView[] {
    const {ctx} = this.opts;
    return ctx.nodes.list().filter((v) => v.cfg.platform === 'ipmi' && v.cfg.parentId === ctx.selfId);
  }

  async pollOnce(parent: AbortSignal = this.opts.ctx.signal): Promise<PollResult> {
    const signal = AbortSignal.any([parent]);
    setMaxListeners(0, signal); // every BMC request of a poll listens to it
    const result: PollResult = {polled: 0, changed: 0, failed: 0};
    await Promise.all(this.managed().map(async (view) => {
      const outcome = await this.pollNode(view, signal);
      if (outcome === 'skipped') return;
      result.polled++;
      if (outcome === 'changed') result.changed++;
      if (outcome === 'failed') result.failed++;
    }));
    return result;
  }

  private async pollNode(view: NodeView, signal: AbortSignal): Promise<'skipped' | 'same' | 'changed' | 'failed'> {
    const {ctx, client, busy, generation} = this.opts;
    const id = view.cfg.id;
    const name = view.cfg.nodename || id;
    const seen = view.dsc.physState;
    if ((seen !== 'POWER_ON' && seen !== 'POWER_OFF') || busy(id)) return 'skipped';
    const gen = generation(id);
    let state: 'on' | 'off';
    try {
      const ext = parseIpmiNode(name, view.cfg.extensions.ipmi);
      const target = await resolveTarget(name, ext, {baseDir: this.opts.baseDir, warn: (m) => ctx.log.warn(m)});
      state = await client.status(target, {signal, driver: ext.driver});
    } catch (error) {
      if (signal.aborted) return 'skipped';
      const message = error instanceof IpmiError ? error.message : String(error);
      if (!this.failing.has(id)) ctx.log.warn(`${name}: power poll failed, power state left as ${seen}: ${message}`);
      this.failing.set(id, message);
      return 'failed';
    }
    if (this.failing.delete(id)) ctx.log.info(`${name}: BMC answers again (power ${state})`);
    // Drop the answer if a mutation started or ended meanwhile, or the state moved on by itself.
    const now = ctx.nodes.get(id);
    if (!now || busy(id) || generation(id) !== gen || now.dsc.physState !== seen) return 'skipped';
    const want = state === 'on' ? 'POWER_ON' : 'POWER_OFF';
    if (want === seen) return 'same';
    ctx.log.info(`${name}: the BMC reports power ${state} but the node was ${seen}: changed outside layercake`);
    ctx.discover(id, '/physState', want);
    return 'changed';
  }
}
