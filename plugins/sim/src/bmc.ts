/**
 * Simulated BMCs: one small HTTP service answers for every machine of a world, the way a Redfish
 * aggregator would. It runs on a thread of its own (bmc-thread.ts) and keeps the power state itself,
 * because a BMC is hardware of its own: it answers at once however busy the simulated hosts are (a world
 * of 2,000 booting machines kept its event loop so busy that requests served there waited 13-30 s), and
 * tells the machines of power actions, which they carry out on the world's thread.
 *   GET  /bmc                    → {"<node id>": "on" | "off", ...} (every BMC that answers)
 *   GET  /bmc/<node id>          → {"power": "on" | "off"}
 *   POST /bmc/<node id>/power    {"action": "on" | "off" | "cycle"} → {"power": ...}
 * A dead BMC never answers (its requests hang until the caller gives up).
 */
import type {Worker} from 'node:worker_threads';
import {startWorker} from '@layercake/sdk/embed';
import type {BmcThreadData, FromBmcThread, PowerAction} from './bmc-thread.js';

export type {PowerAction};

export interface SimulatedBmc {
  /** Carries out a power action the BMC has taken (the BMC has answered already). */
  act(action: PowerAction): Promise<void>;
  /** A dead BMC never answers. */
  readonly dead: boolean;
  /** How long the BMC takes to answer, in ms. */
  readonly delayMs: number;
}

export class BmcService {
  private worker?: Worker;

  constructor(private readonly machines: ReadonlyMap<string, SimulatedBmc>) {}

  /** Starts the service; resolves with its URL. Every machine starts powered off. */
  async listen(host = '127.0.0.1', port = 0): Promise<string> {
    const data: BmcThreadData = {host, port, bmcs: [...this.machines].map(([id, m]) => ({id, dead: m.dead, delayMs: m.delayMs}))};
    const worker = startWorker(new URL('./bmc-thread.js', import.meta.url), {workerData: data});
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: FromBmcThread) => {
        if (m.type === 'act') void this.machines.get(m.id)?.act(m.action);
        else if (m.type === 'ready') resolve(m.url);
        else reject(new Error(`simulated BMC service: ${m.message}`));
      });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
