/**
 * The `ipmi` module: the power mutations for nodes with platform "ipmi" (the original's four power
 * mutations, DESIGN §5 and layercake-and-imageapi.md §5/§7.3), plus periodic power polling.
 *
 * Forced power-off: ONtoOFF excludes runState SYNC and busy BUSY, so the engine never powers off a
 * running or busy node. ONtoOFFforced is the same edge without those excludes, but it requires the
 * node's cfg `ipmi.force` to be true; the planner picks ONtoOFF whenever both apply (ties break by
 * name). A module-wide "force" is not offered: the mutation declarations are fixed before the
 * config is read, and a flag the planner cannot see would make its plans lie.
 */
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {defineModule, formatDuration, type ModuleContext, type MutationRequest, type MutationSpec} from '@layercake/sdk';
import {BmcClient} from './bmc/client.js';
import {ipmiConfigSchema, type IpmiConfig} from './config.js';
import {parseIpmiNode, resolveTarget} from './credentials.js';
import {bmcLabel, IpmiError} from './errors.js';
import {ipmiExtension} from './extension.js';
import type {BmcTarget, PowerState} from './drivers/driver.js';
import type {DriverName} from './extension.js';
import {Poller} from './poller.js';

export const PLATFORM = 'ipmi';
const failTo = {url: '/physState', value: 'PHYS_HANG'};
const requires = {'/platform': PLATFORM};
const edge = (from: string, to: string) => ({'/physState': [from, to] as [string, string]});

/** The original's timeouts (10 s, HANGtoOFF 20 s); operators change them with `modules.ipmi.mutations.<name>.timeout`. */
export const MUTATIONS: MutationSpec[] = [
  {name: 'UKtoOFF', description: 'Ask the BMC for the power state (discovers POWER_ON if the machine is on)',
    mutates: edge('PHYS_UNKNOWN', 'POWER_OFF'), requires, context: 'CHILD', timeout: '10s', failTo},
  {name: 'OFFtoON', description: 'Power on (after setting the boot device, if ipmi.bootdev says so)',
    mutates: edge('POWER_OFF', 'POWER_ON'), requires, context: 'CHILD', timeout: '10s', failTo},
  {name: 'ONtoOFF', description: 'Hard power off, unless the node is SYNC or BUSY',
    mutates: edge('POWER_ON', 'POWER_OFF'), requires, excludes: {'/runState': 'SYNC', '/busy': 'BUSY'},
    context: 'CHILD', timeout: '10s', failTo},
  {name: 'ONtoOFFforced', description: 'Hard power off even when SYNC or BUSY (needs cfg ipmi.force true)',
    mutates: edge('POWER_ON', 'POWER_OFF'), requires: {...requires, '/extensions/ipmi/force': true},
    context: 'CHILD', timeout: '10s', failTo},
  {name: 'HANGtoOFF', description: 'Hard power off a node that failed to boot or whose BMC failed',
    mutates: edge('PHYS_HANG', 'POWER_OFF'), requires, context: 'CHILD', timeout: '20s', failTo},
];

export const ipmiModule = defineModule({
  name: 'ipmi',
  description: 'Power control of nodes with platform "ipmi" through their BMCs (IPMI v2.0 / RMCP+)',
  extensions: [ipmiExtension],
  config: ipmiConfigSchema,
  mutations: MUTATIONS,
  start: (ctx) => {
    startIpmi(ctx);
  },
});

export function clientFromConfig(config: IpmiConfig): BmcClient {
  return new BmcClient({
    driver: config.driver, concurrency: config.concurrency, attemptTimeout: config.attemptTimeout,
    retries: config.retries, sessionIdle: config.sessionIdle, breaker: config.breaker, ipmitool: config.ipmitool,
  });
}

/** Runs the module until ctx.signal aborts. Returns its parts, for tests. */
export function startIpmi(ctx: ModuleContext<IpmiConfig>): {client: BmcClient; poller: Poller} {
  const config = ctx.config;
  const client = clientFromConfig(config);
  const baseDir = join(ctx.stateDir, 'ipmi');
  const warn = (message: string): void => ctx.log.warn(message);
  /** One operation at a time per node; a repeated request joins the one in flight. */
  const inflight = new Map<string, {mutation: string; done: Promise<void>}>();
  /** Bumped whenever a mutation starts or ends on a node, so that a poll answer older than it is dropped. */
  const generation = new Map<string, number>();
  const bump = (nodeId: string): void => { generation.set(nodeId, (generation.get(nodeId) ?? 0) + 1); };

  async function perform(req: MutationRequest): Promise<void> {
    const nodename = req.cfg.nodename || req.nodeId;
    // The engine aborts req.signal when the step times out, fails or is superseded.
    const signal = AbortSignal.any([req.signal, ctx.signal]);
    const ext = parseIpmiNode(nodename, req.cfg.extensions[PLATFORM]);
    const target = await resolveTarget(nodename, ext, {baseDir, warn});
    const call = {signal, driver: ext.driver};
    const ensure = async (want: PowerState): Promise<void> => {
      if ((await client.status(target, call)) === want) return;
      if (want === 'on' && ext.bootdev !== 'none') await client.bootdev(target, ext.bootdev, {efi: ext.efiBoot}, call);
      await client.power(target, want, call);
      await settle(target, want, call);
    };
    switch (req.mutation) {
      case 'UKtoOFF': {
        const state = await client.status(target, call);
        ctx.discover(req.nodeId, '/physState', state === 'on' ? 'POWER_ON' : 'POWER_OFF');
        return;
      }
      case 'OFFtoON':
        await ensure('on');
        ctx.discover(req.nodeId, '/physState', 'POWER_ON');
        return;
      case 'ONtoOFF':
      case 'ONtoOFFforced':
      case 'HANGtoOFF':
        await ensure('off');
        ctx.discover(req.nodeId, '/physState', 'POWER_OFF');
        return;
      default:
        throw new Error(`ipmi has no mutation ${req.mutation}`);
    }
  }

  /** Reads the power state until it shows `want`; a BMC that accepted the command but never gets there is an error. */
  async function settle(target: BmcTarget, want: PowerState, call: {signal: AbortSignal; driver?: DriverName}): Promise<void> {
    const give = AbortSignal.timeout(config.settleTimeout);
    const signal = AbortSignal.any([call.signal, give]);
    try {
      while ((await client.status(target, {...call, signal})) !== want) await sleep(config.verifyInterval, undefined, {signal});
    } catch (error) {
      if (give.aborted && !call.signal.aborted) {
        const bmc = bmcLabel(target.host, target.port);
        throw new IpmiError('command', bmc, `BMC ${bmc} accepted power ${want} but the chassis did not report power ${want} within ${formatDuration(config.settleTimeout)}`);
      }
      throw error;
    }
  }

  ctx.onMutate((req) => {
    const current = inflight.get(req.nodeId);
    if (current && current.mutation === req.mutation) return current.done;
    const before = current?.done.catch(() => undefined) ?? Promise.resolve();
    const done = before.then(async () => {
      bump(req.nodeId);
      try {
        await perform(req);
      } finally {
        bump(req.nodeId);
      }
    });
    const entry = {mutation: req.mutation, done};
    inflight.set(req.nodeId, entry);
    const cleanup = (): void => { if (inflight.get(req.nodeId) === entry) inflight.delete(req.nodeId); };
    done.then(cleanup, cleanup);
    return done;
  });

  ctx.onInterrupt((req, reason) => {
    ctx.log.debug({node: req.nodeId, mutation: req.mutation}, `interrupted: ${reason}`);
  });

  // New BMC settings deserve a fresh start: forget the failures recorded under the old ones.
  const unsubscribe = ctx.subscribe({types: ['STATE_CHANGE'], urls: ['/extensions/ipmi', '/extensions/ipmi/**']}, (event) => {
    if (event.type !== 'STATE_CHANGE' || event.view !== 'cfg') return;
    const view = ctx.nodes.get(event.nodeId);
    const raw = view?.cfg.extensions[PLATFORM] as {host?: unknown; port?: unknown} | undefined;
    if (typeof raw?.host === 'string') client.resetBreaker(raw.host, typeof raw.port === 'number' ? raw.port : 623);
  });

  const poller = new Poller({
    ctx, client, baseDir, interval: config.pollInterval,
    busy: (nodeId) => inflight.has(nodeId),
    generation: (nodeId) => generation.get(nodeId) ?? 0,
  });
  poller.start();

  ctx.signal.addEventListener('abort', () => {
    unsubscribe();
    poller.stop();
    void client.close();
  }, {once: true});
  return {client, poller};
}
