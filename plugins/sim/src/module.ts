/**
 * The `sim` module: power mutations for nodes of platform `sim`, performed on the simulated BMCs over
 * HTTP, with the same shape as the IPMI plugin's (status probe, on, off, hang recovery).
 */
import {defineExtension, defineModule, z, type ModuleContext, type MutationRequest, type Node} from '@layercake/sdk';

export const simConfigSchema = z.object({
  /** The simulated BMC service (`layercake sim world` or the demo). */
  bmcUrl: z.string().url().default('http://127.0.0.1:3150'),
  /** How long one BMC request may take (ms). */
  requestTimeout: z.number().int().positive().default(3000),
  /** Status polling of every sim node, to notice power changes behind the engine's back (ms; 0 = off). */
  pollInterval: z.number().int().min(0).default(10_000),
});

export type SimConfig = z.infer<typeof simConfigSchema>;

/** Per node: which simulated BMC service answers for it (a world split over processes has several). */
export const simExtension = defineExtension({
  name: 'sim',
  description: 'Where the simulated node\'s BMC answers',
  schema: z.strictObject({bmcUrl: z.string().url().optional()}),
});

const bmcUrlOf = (config: SimConfig, node: Node | undefined) => (node?.extensions.sim as {bmcUrl?: string} | undefined)?.bmcUrl ?? config.bmcUrl;

const PLATFORM = {platform: 'sim'};
const HANG = {url: 'physState', value: 'PHYS_HANG'};

/** One request to a BMC service (GET: the power of one machine, or of all it answers for). */
async function call<T>(config: SimConfig, url: string, what: string, action?: 'on' | 'off', signal?: AbortSignal): Promise<T> {
  const timeout = AbortSignal.timeout(config.requestTimeout);
  let res: Response;
  try {
    res = await fetch(url, {
      method: action ? 'POST' : 'GET', headers: {'content-type': 'application/json'},
      body: action ? JSON.stringify({action}) : undefined, signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (error) {
    const e = error as Error;
    throw new Error(`${what} ${e.name === 'TimeoutError' ? `did not answer within ${config.requestTimeout} ms` : e.message}`);
  }
  const body = (await res.json()) as T & {error?: string};
  if (!res.ok) throw new Error(`${what}: ${body.error ?? res.statusText}`);
  return body;
}

async function bmc(config: SimConfig, node: Node, action?: 'on' | 'off', signal?: AbortSignal): Promise<'on' | 'off'> {
  const url = `${bmcUrlOf(config, node)}/bmc/${node.id}${action ? '/power' : ''}`;
  const {power} = await call<{power?: 'on' | 'off'}>(config, url, `simulated BMC of node ${node.id}`, action, signal);
  if (!power) throw new Error(`simulated BMC of node ${node.id}: no power state in its answer`);
  return power;
}

const physOf = (power: 'on' | 'off') => (power === 'on' ? 'POWER_ON' : 'POWER_OFF');

export const simModule = defineModule({
  name: 'sim',
  description: 'Power control of simulated machines (platform "sim")',
  config: simConfigSchema,
  maxConcurrent: 200,
  extensions: [simExtension],
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
      const power = await bmc(config, r.cfg, act[r.mutation], r.signal);
      ctx.discover(r.nodeId, 'physState', physOf(power));
    });
    if (config.pollInterval > 0) {
      const timer = setInterval(() => void poll(ctx), config.pollInterval);
      ctx.signal.addEventListener('abort', () => clearInterval(timer), {once: true});
    }
  },
});

/**
 * Notices power changes made behind the engine's back. One request per BMC service (it answers for all
 * its machines, as a Redfish aggregator does), so polling costs the same for 10 nodes or 10,000.
 * An unreachable BMC is not a state change: it is left out of the answer, and out of the update.
 */
async function poll(ctx: ModuleContext<SimConfig>): Promise<void> {
  const services = new Map<string, Node[]>();
  for (const v of ctx.nodes.list()) {
    if (v.cfg.platform !== 'sim' || v.cfg.parentId !== ctx.selfId || v.dsc.physState === 'PHYS_UNKNOWN') continue;
    const url = bmcUrlOf(ctx.config, v.cfg);
    const nodes = services.get(url) ?? [];
    if (!nodes.length) services.set(url, nodes);
    nodes.push(v.cfg);
  }
  await Promise.all([...services].map(async ([url, nodes]) => {
    let powers: Record<string, 'on' | 'off'>;
    try {
      powers = await call(ctx.config, `${url}/bmc`, `simulated BMC service ${url}`, undefined, ctx.signal);
    } catch {
      return; // unreachable: keep what we know; a mutation against it will fail with the reason
    }
    for (const node of nodes) {
      const power = powers[node.id];
      const now = ctx.nodes.get(node.id)?.dsc.physState;
      if (power && now !== undefined && physOf(power) !== now && now !== 'PHYS_HANG') ctx.discover(node.id, 'physState', physOf(power));
    }
  }));
}
