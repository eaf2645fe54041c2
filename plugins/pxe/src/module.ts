/**
 * The `pxe` engine module: network boot into Layer0 (the original's modules/pxe, with its flaws fixed).
 *
 *   NONEtoWAIT  pxe.state NONE→WAIT                       requires POWER_ON; registers the node with the
 *                                                         servers and discovers WAIT at once.
 *   WAITtoINIT  pxe.state WAIT→INIT, runState UNKNOWN→INIT requires POWER_ON; completed by the DHCP ACK.
 *
 * Both fail to physState PHYS_HANG (the power module then cycles the node). An interrupt unregisters the
 * node; so does the reset of its pxe.state (power went off) and its reaching SYNC (Layer0 is up).
 */
import {promises as fs, mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {defineModule, type LcEvent, type ModuleContext, type Node} from '@layercake/sdk';
import {bootNodeOf, type BootNode} from './bootnode.js';
import {pxeConfigSchema, type PxeConfig} from './config.js';
import {pxeExtension, type Lease} from './extension.js';
import {PxeServers} from './servers.js';

export const PXE_STATE = '/extensions/pxe/state';
export const PXE_LEASE = '/extensions/pxe/lease';
const HANG = {url: 'physState', value: 'PHYS_HANG'};
const POWER_ON = {physState: 'POWER_ON'};

/** The file `layercake pxe leases --state-dir` reads: the last exchange per MAC. */
export function leasesFile(stateDir: string): string {
  return join(stateDir, 'pxe', 'leases.json');
}

export type LeaseRecord = Lease & {node: string; nodeId: string};

export async function readLeases(stateDir: string): Promise<LeaseRecord[]> {
  try {
    return JSON.parse(await fs.readFile(leasesFile(stateDir), 'utf8')) as LeaseRecord[];
  } catch {
    return [];
  }
}

function ownIp(ctx: ModuleContext<PxeConfig>): string | undefined {
  const self = ctx.nodes.get(ctx.selfId)?.cfg.extensions.ipv4 as {ip?: unknown} | undefined;
  return typeof self?.ip === 'string' ? self.ip : undefined;
}

/** Runs the module against a context; returns the servers (tests inspect them). */
export async function runPxe(ctx: ModuleContext<PxeConfig>): Promise<PxeServers> {
  const log = ctx.log;
  let persistTimer: NodeJS.Timeout | undefined;
  let saving = Promise.resolve(); // one save at a time: a slow save must not race the next over the .tmp file
  const persist = (): void => {
    if (persistTimer) return;
    persistTimer = setTimeout(() => {
      persistTimer = undefined;
      const file = leasesFile(ctx.stateDir);
      const tmp = `${file}.tmp`;
      saving = saving.then(() => fs.writeFile(tmp, JSON.stringify([...servers.leases.values()], null, 1)).then(() => fs.rename(tmp, file)))
        .catch((e: Error) => log.warn({err: e.message}, 'cannot save leases'));
    }, 500);
  };
  const servers = new PxeServers({
    config: ctx.config,
    stateDir: ctx.stateDir,
    log,
    fallbackServerIp: ownIp(ctx),
    isNode: (ip) => ctx.nodes.list().some((v) => (v.cfg.extensions.ipv4 as {ip?: unknown} | undefined)?.ip === ip),
    onLease: (node, lease) => {
      log.info({node: node.nodename, mac: lease.mac, ip: lease.ip, event: lease.event, bootfile: lease.bootfile, client: lease.client}, `DHCP ${lease.event}`);
      try { ctx.discover(node.id, PXE_LEASE, lease); } catch (e) { log.debug({err: (e as Error).message}, 'lease not recorded in the node'); }
      persist();
    },
    onBooted: (node) => {
      // Idempotent: iPXE and the firmware each ACK; the engine ignores a value it already has.
      ctx.discover(node.id, PXE_STATE, 'INIT');
      ctx.discover(node.id, '/runState', 'INIT');
    },
  });
  mkdirSync(join(ctx.stateDir, 'pxe'), {recursive: true});
  for (const l of await readLeases(ctx.stateDir)) servers.leases.set(l.mac, l);
  await servers.start();

  const register = (cfg: Node): BootNode => {
    const node = bootNodeOf(cfg);
    const clash = servers.registry.byMac(node.ipv4.mac) ?? servers.registry.byIp(node.ipv4.ip);
    if (clash && clash.id !== node.id) {
      throw new Error(`node ${node.nodename || node.id}: ${clash.ipv4.mac === node.ipv4.mac ? `MAC ${node.ipv4.mac}` : `IP ${node.ipv4.ip}`} is also used by booting node ${clash.nodename || clash.id}`);
    }
    servers.registry.register(node);
    return node;
  };

  // After a module restart, answer the nodes that were mid-boot.
  for (const view of ctx.nodes.list()) {
    const st = (view.dsc.extensions.pxe as {state?: string} | undefined)?.state;
    if (view.cfg.parentId === ctx.selfId && (st === 'WAIT' || st === 'INIT') && view.dsc.runState !== 'SYNC') {
      try { register(view.cfg); } catch (e) { log.warn({node: view.cfg.nodename, err: (e as Error).message}, 'not re-registered'); }
    }
  }

  ctx.onMutate((req) => {
    if (req.module !== 'pxe') return;
    const who = req.cfg.nodename || req.nodeId;
    switch (req.mutation) {
      case 'NONEtoWAIT': {
        const node = register(req.cfg);
        log.info({node: who, mac: node.ipv4.mac, ip: node.ipv4.ip, method: node.pxe.method}, 'registered for network boot');
        ctx.discover(req.nodeId, PXE_STATE, 'WAIT');
        return;
      }
      case 'WAITtoINIT':
        // The DHCP ACK completes it. Registering again is idempotent and covers a restart in between.
        if (!servers.registry.get(req.nodeId)) register(req.cfg);
        log.debug({node: who}, 'waiting for the node\'s DHCP request');
        return;
      default:
        throw new Error(`pxe: unknown mutation ${req.mutation}`);
    }
  });

  ctx.onInterrupt((req, reason) => {
    if (servers.registry.unregister(req.nodeId)) log.info({node: req.cfg.nodename || req.nodeId, reason}, 'boot interrupted; node unregistered');
  });

  const unsubscribe = ctx.subscribe({types: ['STATE_CHANGE'], urls: [PXE_STATE, '/runState', '/extensions/**', '/nodename', '/arch', '/platform']}, (e: LcEvent) => {
    if (e.type !== 'STATE_CHANGE' || !servers.registry.get(e.nodeId)) return;
    if (e.op === 'DELETE' && e.url === '') { servers.registry.unregister(e.nodeId); return; }
    if (e.view === 'dsc') {
      if ((e.url === PXE_STATE && e.value === 'NONE') || (e.url === '/runState' && e.value === 'SYNC')) {
        servers.registry.unregister(e.nodeId);
        log.debug({node: e.nodeId, url: e.url, value: e.value}, 'unregistered from network boot');
      }
      return;
    }
    // cfg changed while booting: refresh the servers' view (the original kept a stale snapshot).
    const view = ctx.nodes.get(e.nodeId);
    if (!view) return;
    try { register(view.cfg); } catch (err) {
      servers.registry.unregister(e.nodeId);
      log.error({node: view.cfg.nodename, err: (err as Error).message}, 'node can no longer be network-booted');
    }
  });

  ctx.signal.addEventListener('abort', () => {
    unsubscribe();
    clearTimeout(persistTimer);
    void servers.close();
  }, {once: true});
  return servers;
}

export const pxeModule = defineModule({
  name: 'pxe',
  description: 'Network boot into Layer0: DHCP (or proxyDHCP), TFTP and HTTP with per-node templates',
  extensions: [pxeExtension],
  config: pxeConfigSchema,
  mutations: [
    {
      name: 'NONEtoWAIT',
      description: 'register the node\'s MAC and IP with the DHCP, TFTP and HTTP servers',
      mutates: {'pxe.state': ['NONE', 'WAIT']},
      requires: POWER_ON,
      context: 'CHILD',
      timeout: '10s',
      failTo: HANG,
    },
    {
      name: 'WAITtoINIT',
      description: 'wait for the node\'s DHCP request; the ACK means it is booting Layer0',
      mutates: {'pxe.state': ['WAIT', 'INIT'], runState: ['UNKNOWN', 'INIT']},
      requires: POWER_ON,
      context: 'CHILD',
      timeout: '90s',
      failTo: HANG,
    },
  ],
  discoverables: [PXE_LEASE],
  async start(ctx) {
    await runPxe(ctx);
  },
});
