/**
 * Benchmark clients, run inside the client namespace. One JSON argument:
 *   {mode: 'dora', count, concurrency, server, port}          DHCP DORA for nodes 1..count, as a relay agent
 *   {mode: 'storm', count, concurrency, server, port, tftpPort, file, blksize, windowsize, expectBytes, expectSha256}
 *                                                             DORA, then a TFTP download, per node
 * Prints one JSON line with the result.
 */
import dgram from 'node:dgram';
import {decode, encode, MessageType, messageType, Opt, type DhcpMessage} from '../../plugins/pxe/src/dhcp/packet.js';
import {request} from '../../plugins/pxe/test/support/dhcp-client.js';
import {tftpGet} from '../../plugins/pxe/test/support/tftp-client.js';
import {benchNodes, CLIENT_IP} from './nodes.js';

interface Arg {
  mode: 'dora' | 'storm'; count: number; concurrency: number; server: string; port: number;
  tftpPort?: number; file?: string; blksize?: number; windowsize?: number; expectBytes?: number; expectSha256?: string;
}
const arg = JSON.parse(process.argv[2]!) as Arg;
const nodes = benchNodes(arg.count);

// A relay agent's socket: giaddr = CLIENT_IP, port 67 (where dnsmasq sends relayed replies).
const sock = dgram.createSocket({type: 'udp4', reuseAddr: true});
sock.setMaxListeners(0);
await new Promise<void>((r) => sock.bind(67, CLIENT_IP, () => r()));
try { sock.setRecvBufferSize(4 * 1024 * 1024); } catch { /* the default */ }
const waiters = new Map<number, (m: DhcpMessage) => void>();
sock.on('message', (b) => {
  let m: DhcpMessage;
  try { m = decode(b); } catch { return; }
  const w = waiters.get(m.xid);
  if (w) { waiters.delete(m.xid); w(m); }
});
let retries = 0;
let xidSeq = Math.floor(Math.random() * 1e9);

// Retransmission as PXE firmware does it (PXE 2.1 spec: 4 DISCOVERs, timeouts of 4, 8, 16 and 32 s).
const TIMEOUTS = [4000, 8000, 16000, 32000];

async function exchange(m: DhcpMessage, want: MessageType): Promise<DhcpMessage | undefined> {
  for (let attempt = 0; attempt < TIMEOUTS.length; attempt++) {
    if (attempt) retries++;
    const r = await new Promise<DhcpMessage | undefined>((resolve) => {
      const t = setTimeout(() => { waiters.delete(m.xid); resolve(undefined); }, TIMEOUTS[attempt]);
      waiters.set(m.xid, (x) => { clearTimeout(t); resolve(x); });
      sock.send(encode(m), arg.port, arg.server);
    });
    if (r && messageType(r) === want) return r;
    if (r) return undefined;
  }
  return undefined;
}

async function dora(i: number): Promise<boolean> {
  const n = nodes[i]!;
  const xid = (xidSeq++) >>> 0;
  const base = {mac: n.mac, xid, giaddr: CLIENT_IP, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClass: 'iPXE'};
  const offer = await exchange(request({...base, type: MessageType.DISCOVER}), MessageType.OFFER);
  if (!offer || offer.yiaddr !== n.ip) return false;
  const sid = offer.options.get(Opt.SERVER_ID)!;
  const ack = await exchange(request({...base, type: MessageType.REQUEST, requestedIp: offer.yiaddr, serverId: [...sid].join('.')}), MessageType.ACK);
  return ack?.yiaddr === n.ip;
}

async function pool(count: number, concurrency: number, job: (i: number) => Promise<boolean>): Promise<number> {
  let next = 0, failed = 0;
  await Promise.all(Array.from({length: Math.min(concurrency, count)}, async () => {
    while (next < count) {
      const i = next++;
      if (!(await job(i))) failed++;
    }
  }));
  return failed;
}

const started = performance.now();
let failed = 0;
let bytes = 0;
const errors: string[] = [];
if (arg.mode === 'dora') {
  failed = await pool(arg.count, arg.concurrency, dora);
} else {
  failed = await pool(arg.count, arg.concurrency, async (i) => {
    if (!(await dora(i))) { errors.push(`${nodes[i]!.nodename}: DHCP`); return false; }
    const r = await tftpGet({host: arg.server, port: arg.tftpPort!, file: arg.file!, bind: nodes[i]!.ip,
      blksize: arg.blksize, windowsize: arg.windowsize, timeout: 1, deadline: 600_000});
    bytes += r.bytes;
    // A boot counts only when the file arrived whole and unaltered: its size and its SHA-256.
    const wrong = !r.ok ? r.error : arg.expectBytes !== undefined && r.bytes !== arg.expectBytes ? `${r.bytes} bytes`
      : arg.expectSha256 !== undefined && r.sha256 !== arg.expectSha256 ? `SHA-256 ${r.sha256.slice(0, 12)}… differs` : undefined;
    if (wrong) { errors.push(`${nodes[i]!.nodename}: TFTP ${wrong}`); return false; }
    return true;
  });
}
const ms = performance.now() - started;
sock.close();
process.stdout.write(`${JSON.stringify({count: arg.count, failed, retries, ms, bytes, errors: errors.slice(0, 10)})}\n`);
