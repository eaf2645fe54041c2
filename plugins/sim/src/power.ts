/**
 * The `sim` module: power mutations for nodes of platform `sim`, performed on the simulated BMCs over
 * HTTP, with the same shape as the IPMI plugin's (status probe, on, off, hang recovery).
 */
import {defineModule, z, type ModuleContext, type MutationRequest} from '@layercake/sdk';

export const simConfigSchema = z.object({
  /** The simulated BMC service (`layercake sim world` or the demo). */
  bmcUrl: z.string().url().default('http://127.0.0.1:3150'),
  /** How long one BMC request may take (ms). */
  requestTimeout: z.number().int().positive().default(3000),
  /** Status polling of every sim node, to notice power changes behind the engine's back (ms; 0 = off). */
  pollInterval: z.number().int().min(0).default(10_000),
  /** Mutation timeouts. */
  timeout: z.string().default('10s'),
});

export type SimConfig = z.infer<typeof simConfigSchema>;

const PLATFORM = {platform: 'sim'};
const HANG = {url: 'physState', value: 'PHYS_HANG'};

async function bmc(config: SimConfig, id: string, action?: 'on' | 'off', signal?: AbortSignal): Promise<'on' | 'off'> {
  const url = `${config.bmcUrl}/bmc/${id}${action ? '/power' : ''}`;
  const timeout = AbortSignal.timeout(config.requestTimeout);
  let res: Response;
  try {
    res = await fetch(url, {
      method: action ? 'POST' : 'GET', headers: {'content-type': 'application/json'},
      body: action ? JSON.stringify({action}) : undefined, signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (error) {
    const e = error as Error;
    const why = e.name === 'TimeoutError' ? `did not answer within ${config.requestTimeout} ms` : e.message;
    throw new Error(`simulated BMC of node ${id} ${why}`);
  }
  const body = (await res.json()) as {power?: 'on' | 'off'; error?: string};
  if (!res.ok || !body.power) throw new Error(`simulated BMC of node ${id}: ${body.error ?? res.statusText}`);
  return body.power;
}

const physOf = (power: 'on' | 'off') => (power === 'on' ? 'POWER_ON' : 'POWER_OFF');

export const simModule = defineModule({
  name: 'sim',
  description: 'Power control of simulated machines (platform "sim")',
  config: simConfigSchema,
  maxConcurrent: 200,
  mutations: [
    {name: 'UKtoOFF', description: 'Probe the power state', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_OFF']}, requires: PLATFORM, timeout: '10s', failTo: HANG},
    {name: 'OFFtoON', description: 'Power on', mutates: {physState: ['POWER_OFF', 'POWER_ON']}, requires: PLATFORM, timeout: '10s', failTo: HANG},
    {name: 'ONtoOFF', description: 'Power off', mutates: {physState: ['POWER_ON', 'POWER_OFF']}, requires: PLATFORM, excludes: {runState: 'SYNC', busy: 'BUSY'}, timeout: '10s', failTo: HANG},
    {name: 'HANGtoOFF', description: 'Recover a hung machine by powering it off', mutates: {physState: ['PHYS_HANG', 'POWER_OFF']}, requires: PLATFORM, timeout: '20s', failTo: HANG},
  ],
  discoverables: ['physState'],
  async start(ctx: ModuleContext<SimConfig>) {
    const {config} = ctx;
    const act: Record<string, 'on' | 'off' | undefined> = {UKtoOFF: undefined, OFFtoON: 'on', ONtoOFF: 'off', HANGtoOFF: 'off'};
    ctx.onMutate(async (r: MutationRequest) => {
      const power = await bmc(config, r.nodeId, act[r.mutation], r.signal);
      ctx.discover(r.nodeId, 'physState', physOf(power));
    });
    if (config.pollInterval > 0) {
      const timer = setInterval(() => void poll(ctx), config.pollInterval);
      ctx.signal.addEventListener('abort', () => clearInterval(timer), {once: true});
    }
  },
});

/** Notices power changes made behind the engine's back; an unreachable BMC is not a state change. */
async function poll(ctx: ModuleContext<SimConfig>): Promise<void> {
  const nodes = ctx.nodes.list().filter((v) => v.cfg.platform === 'sim' && v.cfg.parentId === ctx.selfId && v.dsc.physState !== 'PHYS_UNKNOWN');
  await Promise.all(nodes.map(async (v) => {
    try {
      const power = await bmc(ctx.config, v.cfg.id, undefined, ctx.signal);
      if (physOf(power) !== v.dsc.physState && ctx.nodes.get(v.cfg.id)?.dsc.physState !== 'PHYS_HANG') ctx.discover(v.cfg.id, 'physState', physOf(power));
    } catch {
      // unreachable: keep what we know; a mutation against it will fail with the reason
    }
  }));
}
