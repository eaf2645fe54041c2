// Server mode (we assign addresses) with the PXE boot-server port: a client that saw "PXEClient" in our
// offer (iPXE does) sends a boot-server REQUEST to port 4011 before booting and waits for the answer
// from that port; unanswered, iPXE retries for about ten seconds before it boots (seen on qemu VMs).
import dgram from 'node:dgram';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {decode, encode} from '../src/dhcp/packet.js';
import {runPxe} from '../src/module.js';
import type {PxeServers} from '../src/servers.js';
import {fakeContext, testNode, type FakeContext} from './support/context.js';
import {MessageType, messageType, Opt, request} from './support/dhcp-client.js';

const N = {id: 'cccccccc-0000-4000-8000-000000000041', nodename: 'n41', mac: 'aa:bb:cc:00:00:41', ip: '127.0.0.141'};
let ctx: FakeContext;
let servers: PxeServers;

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.before(async () => {
  ctx = fakeContext({serverIp: '127.0.0.1', dhcp: {port: 0, proxyPort: await freeUdpPort()}, tftp: {port: 0}, http: {port: 0}});
  ctx.addNode(testNode(N));
  servers = await runPxe(ctx);
  await ctx.mutate(N.id, 'NONEtoWAIT', {'/extensions/pxe/state': ['NONE', 'WAIT']});
});

test.after(async () => {
  ctx?.abort();
  await servers?.close();
  ctx?.cleanup();
});

test('an iPXE boot-server REQUEST on port 4011 is answered from that port with the boot information', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, N.ip, () => r()));
  const m = request({type: MessageType.REQUEST, mac: N.mac, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', ciaddr: N.ip, giaddr: '0.0.0.0', userClass: 'iPXE'});
  let reply: Buffer;
  let from = 0;
  try {
    reply = await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer from the boot-server port')), 2000);
      sock.on('message', (b, rinfo) => { clearTimeout(t); from = rinfo.port; resolve(b); });
      sock.send(encode(m), servers.dhcp!.proxyAddress!.port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
  const r = decode(reply);
  assert.is(messageType(r), MessageType.ACK);
  assert.is(from, servers.dhcp!.proxyAddress!.port);
  assert.is(r.options.get(Opt.VENDOR_CLASS)?.toString(), 'PXEClient');
  assert.is(r.yiaddr, '0.0.0.0', 'a boot-server answer assigns no address');
  assert.match(r.file, /boot\.ipxe$/);
});

test.run();
