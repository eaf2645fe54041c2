// proxyDHCP mode: another DHCP server owns the addresses; we add boot information for PXE clients only.
import dgram from 'node:dgram';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {decode, encode} from '../src/dhcp/packet.js';
import {runPxe} from '../src/module.js';
import type {PxeServers} from '../src/servers.js';
import {fakeContext, testNode, until, type FakeContext} from './support/context.js';
import {MessageType, messageType, Opt, RelayClient, request} from './support/dhcp-client.js';

const N = {id: 'cccccccc-0000-4000-8000-000000000031', nodename: 'n31', mac: 'aa:bb:cc:00:00:31', ip: '127.0.0.31'};
let ctx: FakeContext;
let servers: PxeServers;
let client: RelayClient;

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.before(async () => {
  ctx = fakeContext({mode: 'proxy', serverIp: '127.0.0.1', dhcp: {port: 0, proxyPort: await freeUdpPort()}, tftp: {port: 0}, http: {port: 0}});
  ctx.addNode(testNode(N));
  servers = await runPxe(ctx);
  client = await RelayClient.open({address: '127.0.0.1', port: servers.dhcp!.address.port});
  await ctx.mutate(N.id, 'NONEtoWAIT', {'/extensions/pxe/state': ['NONE', 'WAIT']});
});

test.after(async () => {
  client?.close();
  ctx?.abort();
  await servers?.close();
  ctx?.cleanup();
});

test('a PXE client gets a proxy offer: no address, boot information, PXE vendor options', async () => {
  const r = await client.exchange(request({type: MessageType.DISCOVER, mac: N.mac, vendorClass: 'PXEClient:Arch:00000:UNDI:002001'}));
  assert.ok(r);
  assert.is(messageType(r!), MessageType.OFFER);
  assert.is(r!.yiaddr, '0.0.0.0');
  assert.is(r!.siaddr, '127.0.0.1');
  assert.is(r!.file, 'undionly.kpxe');
  assert.is(r!.options.get(Opt.VENDOR_CLASS)?.toString(), 'PXEClient');
  assert.is(r!.options.get(Opt.VENDOR_SPECIFIC)?.toString('hex'), '060108ff');
  for (const o of [Opt.LEASE_TIME, Opt.SUBNET_MASK, Opt.ROUTER]) assert.not.ok(r!.options.has(o), `no option ${o} in proxy mode`);
});

test('non-PXE DHCP traffic, even from a known MAC, is left to the other server', async () => {
  assert.is(await client.exchange(request({type: MessageType.DISCOVER, mac: N.mac}), 200), undefined);
});

test('the node\'s REQUEST to the other server completes the boot and teaches us its address', async () => {
  client.send(request({type: MessageType.REQUEST, mac: N.mac, vendorClass: 'PXEClient', requestedIp: '127.0.0.131', serverId: '127.0.0.254'}));
  await until(() => ctx.dsc(N.id, 'pxe.state') === 'INIT', 'pxe.state INIT');
  assert.is(ctx.dsc(N.id, 'runState'), 'INIT');
  assert.is(servers.registry.byIp('127.0.0.131')?.id, N.id, 'TFTP/HTTP will serve the address the other server gave');
});

test('a boot-server REQUEST on the proxy port is answered directly', async () => {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.131', () => r()));
  const m = request({type: MessageType.REQUEST, mac: N.mac, vendorClass: 'PXEClient:Arch:00007', arch: 7, ciaddr: '127.0.0.131', giaddr: '0.0.0.0'});
  let reply: Buffer;
  let from = 0;
  try {
    reply = await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer on the proxy port')), 2000);
      sock.on('message', (b, rinfo) => { clearTimeout(t); from = rinfo.port; resolve(b); });
      sock.send(encode(m), servers.dhcp!.proxyAddress!.port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
  const r = decode(reply);
  assert.is(messageType(r), MessageType.ACK);
  assert.is(r.file, 'ipxe.efi');
  assert.is(from, servers.dhcp!.proxyAddress!.port, 'the answer comes from the boot-server port (PXE clients drop it otherwise)');
});

test.run();
