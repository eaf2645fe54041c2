/**
 * Simulated BMCs: one small HTTP service answers for every simulated machine, the way a Redfish
 * aggregator would. A dead BMC never answers (its requests hang until the caller gives up).
 *   GET  /bmc                    → {"<node id>": "on" | "off", ...} (every BMC that answers)
 *   GET  /bmc/<node id>          → {"power": "on" | "off"}
 *   POST /bmc/<node id>/power    {"action": "on" | "off" | "cycle"} → {"power": ...}
 */
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';

export interface SimulatedBmc {
  power(): 'on' | 'off';
  /** Performs a power action; resolves once the machine has been told. */
  act(action: 'on' | 'off' | 'cycle'): Promise<void>;
  /** A dead BMC never answers. */
  readonly dead: boolean;
  /** How long the BMC takes to answer, in ms. */
  readonly delayMs: number;
}

export class BmcServer {
  private server?: Server;
  private readonly hung = new Set<ServerResponse>();

  constructor(private readonly machines: ReadonlyMap<string, SimulatedBmc>) {}

  async listen(host = '127.0.0.1', port = 0): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, resolve);
    });
    const a = this.server.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/bmc' && req.method === 'GET') return reply(res, 200, this.powers());
    const m = /^\/bmc\/([0-9a-f-]{36})(\/power)?$/i.exec(req.url ?? '');
    const bmc = m && this.machines.get(m[1]);
    if (!bmc) return reply(res, 404, {error: `no simulated BMC at ${req.url}`});
    if (bmc.dead) { // never answer: the caller's timeout is what a dead BMC looks like
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    if (bmc.delayMs) await new Promise((r) => setTimeout(r, bmc.delayMs));
    if (req.method === 'GET' && !m[2]) return reply(res, 200, {power: bmc.power()});
    if (req.method === 'POST' && m[2]) {
      const body = await readJson(req);
      const action = (body as {action?: string})?.action;
      if (action !== 'on' && action !== 'off' && action !== 'cycle') return reply(res, 400, {error: 'action must be on, off or cycle'});
      await bmc.act(action);
      return reply(res, 200, {power: bmc.power()});
    }
    reply(res, 405, {error: `${req.method} not allowed on ${req.url}`});
  }

  private powers(): Record<string, 'on' | 'off'> {
    const out: Record<string, 'on' | 'off'> = {};
    for (const [id, bmc] of this.machines) if (!bmc.dead) out[id] = bmc.power();
    return out;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {'content-type': 'application/json'}).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += chunk;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
