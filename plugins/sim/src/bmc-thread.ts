/**
 * The simulated BMC service's thread (see bmc.ts): HTTP on node:http, power state per machine, power
 * actions told to the world's thread as they are taken.
 */
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {parentPort, workerData} from 'node:worker_threads';

/** What a BMC is asked to do with its machine's power. */
export type PowerAction = 'on' | 'off' | 'cycle';

export interface BmcThreadData {
  host: string;
  port: number;
  bmcs: {id: string; dead: boolean; delayMs: number}[];
}

export type FromBmcThread =
  | {type: 'ready'; url: string}
  | {type: 'act'; id: string; action: PowerAction}
  | {type: 'failed'; message: string};

const {host, port, bmcs: table} = workerData as BmcThreadData;
/** Every machine's BMC, powered off at the start. */
const bmcs = new Map(table.map((b) => [b.id, {...b, power: 'off' as 'on' | 'off'}]));
const post = (m: FromBmcThread) => parentPort!.postMessage(m);

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url === '/bmc' && req.method === 'GET') return reply(res, 200, Object.fromEntries([...bmcs.values()].filter((b) => !b.dead).map((b) => [b.id, b.power])));
  const m = /^\/bmc\/([0-9a-f-]{36})(\/power)?$/i.exec(req.url ?? '');
  const bmc = m && bmcs.get(m[1]!);
  if (!bmc) return reply(res, 404, {error: `no simulated BMC at ${req.url}`});
  if (bmc.dead) return; // never answer: the caller's timeout is what a dead BMC looks like
  if (bmc.delayMs) await new Promise((r) => setTimeout(r, bmc.delayMs));
  if (req.method === 'GET' && !m[2]) return reply(res, 200, {power: bmc.power});
  if (req.method === 'POST' && m[2]) {
    const action = ((await readJson(req)) as {action?: string} | undefined)?.action;
    if (action !== 'on' && action !== 'off' && action !== 'cycle') return reply(res, 400, {error: 'action must be on, off or cycle'});
    bmc.power = action === 'off' ? 'off' : 'on';
    post({type: 'act', id: bmc.id, action});
    return reply(res, 200, {power: bmc.power});
  }
  reply(res, 405, {error: `${req.method} not allowed on ${req.url}`});
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

const server = createServer((req, res) => void handle(req, res));
server.once('error', (e) => post({type: 'failed', message: e.message}));
// A deep accept queue: a burst of power requests waits instead of being dropped.
server.listen({host, port, backlog: 4096}, () => {
  const a = server.address() as AddressInfo;
  post({type: 'ready', url: `http://${a.address}:${a.port}`});
});
