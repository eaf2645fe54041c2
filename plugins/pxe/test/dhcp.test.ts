// The pxe module and its DHCP server on loopback, driven through fakeContext() (a ModuleContext double)
// and a DHCP client that speaks as a relay agent (giaddr set), as the simulated cluster will.
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {intToIp} from '../src/net.js';
import {runPxe} from '../src/module.js';
import type {PxeServers} from '../src/servers.js';
import {fakeContext, testNode, until, type FakeContext} from './support/context.js';
import {MessageType, messageType, Opt, RelayClient, request} from './support/dhcp-client.js';

const N1 = {id: 'aaaaaaaa-0000-4000-8000-000000000011', nodename: 'n11', mac: 'aa:bb:cc:00:00:11', ip: '10.9.0.11', prefix: 16,
  gateway: '10.9.0.254', dns: ['10.9.0.53', '10.9.0.54'], domain: 'cluster.test'};
const N2 = {id: 'aaaaaaaa-0000-4000-8000-000000000012', nodename: 'n12', mac: 'aa:bb:cc:00:00:12', ip: '10.9.0.12'};
const NWAIT = {'/extensions/pxe/state': ['NONE', 'WAIT'] as [string, string]};
const NINIT = {'/extensions/pxe/state': ['WAIT', 'INIT'] as [string, string], '/runState': ['UNKNOWN', 'INIT'] as [string, string]};

let ctx: FakeContext;
let servers: PxeServers;
let client: RelayClient;

const ip = (b?: Buffer): string | undefined => (b ? [...b].join('.') : undefined);
const ips = (b?: Buffer): string[] => (b ? Array.from({length: b.length / 4}, (_, i) => intToIp(b.readUInt32BE(4 * i))) : []);

test.before(async () => {
  ctx = fakeContext({serverIp: '127.0.0.1', dhcp: {port: 0, leaseTime: 7200}, tftp: {port: 0}, http: {port: 0}});
  ctx.addNode(testNode(N1));
  ctx.addNode(testNode(N2));
  servers = await runPxe(ctx);
  client = await RelayClient.open({address: '127.0.0.1', port: servers.dhcp!.address.port});
});

test.after(async () => {
  client?.close();
  ctx?.abort();
  await servers?.close();
  ctx?.cleanup();
});

test('before NONEtoWAIT the server is silent, even to a known MAC', async () => {
  const r = await client.exchange(request({type: MessageType.DISCOVER, mac: N1.mac}), 300);
  assert.is(r, undefined);
  assert.is(servers.dhcp!.stats.offers, 0);
});

test('NONEtoWAIT registers the node and discovers WAIT', async () => {
  await ctx.mutate(N1.id, 'NONEtoWAIT', NWAIT);
  assert.is(ctx.dsc(N1.id, 'pxe.state'), 'WAIT');
  assert.ok(servers.registry.byMac(N1.mac));
  await ctx.mutate(N1.id, 'WAITtoINIT', NINIT);
  assert.is(ctx.dsc(N1.id, 'pxe.state'), 'WAIT', 'WAITtoINIT waits for the DHCP ACK');
});

test('DORA: the configured address and every option; the ACK discovers INIT', async () => {
  const {offer, ack} = await client.dora({mac: N1.mac, vendorClass: 'PXEClient:Arch:00000:UNDI:002001'});
  assert.ok(offer && ack, 'offer and ack');
  assert.is(messageType(offer!), MessageType.OFFER);
  assert.is(messageType(ack!), MessageType.ACK);
  for (const m of [offer!, ack!]) {
    assert.is(m.yiaddr, N1.ip);
    assert.is(m.siaddr, '127.0.0.1', 'next-server');
    assert.is(m.giaddr, '127.0.0.1', 'relayed reply keeps giaddr');
    assert.is(m.file, 'undionly.kpxe');
    assert.is(ip(m.options.get(Opt.SUBNET_MASK)), '255.255.0.0');
    assert.is(ip(m.options.get(Opt.ROUTER)), '10.9.0.254');
    assert.equal(ips(m.options.get(Opt.DNS)), ['10.9.0.53', '10.9.0.54']);
    assert.is(m.options.get(Opt.HOSTNAME)?.toString(), 'n11');
    assert.is(m.options.get(Opt.DOMAIN)?.toString(), 'cluster.test');
    assert.is(m.options.get(Opt.LEASE_TIME)?.readUInt32BE(0), 7200);
    assert.is(ip(m.options.get(Opt.SERVER_ID)), '127.0.0.1');
    assert.is(m.options.get(Opt.TFTP_SERVER)?.toString(), '127.0.0.1');
    assert.is(m.options.get(Opt.BOOTFILE)?.toString(), 'undionly.kpxe');
    assert.is(m.options.get(Opt.VENDOR_CLASS)?.toString(), 'PXEClient');
  }
  await until(() => ctx.dsc(N1.id, 'pxe.state') === 'INIT', 'pxe.state INIT');
  assert.is(ctx.dsc(N1.id, 'runState'), 'INIT');
  const lease = ctx.dsc(N1.id, 'pxe.lease') as {event: string; ip: string; relay: string};
  assert.is(lease.event, 'ACK');
  assert.is(lease.ip, N1.ip);
  assert.is(lease.relay, '127.0.0.1');
});

test('an iPXE client is chained to its HTTP script; UEFI gets the UEFI binary', async () => {
  const {ack} = await client.dora({mac: N1.mac, userClass: 'iPXE', vendorClass: 'PXEClient:Arch:00000'});
  assert.is(ack?.file, `http://127.0.0.1:${servers.http!.address.port}/boot.ipxe`);
  assert.not.ok(ack?.options.has(Opt.TFTP_SERVER), 'no TFTP server name for an http URL');
  const uefi = await client.dora({mac: N1.mac, arch: 7, vendorClass: 'PXEClient:Arch:00007'});
  assert.is(uefi.ack?.file, 'ipxe.efi');
});

test('an unknown MAC gets no answer, whatever it sends', async () => {
  const unknown = 'de:ad:be:ef:00:01';
  for (const type of [MessageType.DISCOVER, MessageType.REQUEST, MessageType.INFORM]) {
    const r = await client.exchange(request({type, mac: unknown, requestedIp: '10.9.0.99', ciaddr: type === MessageType.INFORM ? '10.9.0.99' : undefined}), 200);
    assert.is(r, undefined, MessageType[type]);
  }
  assert.ok(servers.dhcp!.stats.unknown >= 3);
});

test('a REQUEST for another address is NAKed; one for another server is ignored', async () => {
  const nak = await client.exchange(request({type: MessageType.REQUEST, mac: N1.mac, requestedIp: '10.9.0.200', serverId: '127.0.0.1'}));
  assert.is(messageType(nak!), MessageType.NAK);
  assert.is(nak!.yiaddr, '0.0.0.0');
  assert.ok(nak!.flags & 0x8000, 'relayed NAK asks the relay to broadcast');
  const other = await client.exchange(request({type: MessageType.REQUEST, mac: N1.mac, requestedIp: N1.ip, serverId: '10.9.9.9'}), 200);
  assert.is(other, undefined);
});

test('INIT-REBOOT and RENEWING requests are answered (the original ignored them)', async () => {
  const reboot = await client.exchange(request({type: MessageType.REQUEST, mac: N1.mac, requestedIp: N1.ip}));
  assert.is(messageType(reboot!), MessageType.ACK);
  const renew = await client.exchange(request({type: MessageType.REQUEST, mac: N1.mac, ciaddr: N1.ip}));
  assert.is(messageType(renew!), MessageType.ACK);
  assert.is(renew!.yiaddr, N1.ip);
});

test('INFORM gets options without a lease; DECLINE and RELEASE are recorded', async () => {
  const inf = await client.exchange(request({type: MessageType.INFORM, mac: N1.mac, ciaddr: N1.ip}));
  assert.is(messageType(inf!), MessageType.ACK);
  assert.is(inf!.yiaddr, '0.0.0.0');
  assert.not.ok(inf!.options.has(Opt.LEASE_TIME));
  assert.is(ip(inf!.options.get(Opt.SUBNET_MASK)), '255.255.0.0');
  client.send(request({type: MessageType.DECLINE, mac: N1.mac, requestedIp: N1.ip, serverId: '127.0.0.1'}));
  await until(() => (ctx.dsc(N1.id, 'pxe.lease') as {event: string}).event === 'DECLINE', 'DECLINE recorded');
  assert.ok(ctx.logs.some((l) => l.level === 'error' && /declined 10\.9\.0\.11/.test(l.msg)));
  client.send(request({type: MessageType.RELEASE, mac: N1.mac, ciaddr: N1.ip, serverId: '127.0.0.1'}));
  await until(() => (ctx.dsc(N1.id, 'pxe.lease') as {event: string}).event === 'RELEASE', 'RELEASE recorded');
});

test('relay agent information (option 82) is echoed', async () => {
  const agent = Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x30]);
  const r = await client.exchange(request({type: MessageType.DISCOVER, mac: N1.mac, extra: [[82, agent]]}));
  assert.is(r?.options.get(82)?.toString('hex'), agent.toString('hex'));
});

test('cfg changes while booting are seen at once (no stale snapshot)', async () => {
  ctx.setCfg(N1.id, '/extensions/ipv4/gateway', '10.9.0.1');
  const r = await client.exchange(request({type: MessageType.DISCOVER, mac: N1.mac}));
  assert.is(ip(r!.options.get(Opt.ROUTER)), '10.9.0.1');
});

test('an interrupt unregisters the node; so does the reset of pxe.state', async () => {
  ctx.interrupt(N1.id, 'WAITtoINIT', 'timeout after 90s');
  assert.is(servers.registry.byMac(N1.mac), undefined);
  assert.is(await client.exchange(request({type: MessageType.DISCOVER, mac: N1.mac}), 200), undefined);
  await ctx.mutate(N2.id, 'NONEtoWAIT', NWAIT);
  assert.ok(servers.registry.byMac(N2.mac));
  ctx.discover(N2.id, '/extensions/pxe/state', 'NONE'); // what the engine does when power goes off
  assert.is(servers.registry.byMac(N2.mac), undefined);
});

test('NONEtoWAIT fails with a clear reason for a node without usable addresses, or a clashing MAC', async () => {
  const bad = testNode({id: 'aaaaaaaa-0000-4000-8000-000000000013', nodename: 'n13', mac: 'aa:bb:cc:00:00:13', ip: '10.9.0.13'});
  delete bad.extensions.ipv4;
  ctx.addNode(bad);
  try { await ctx.mutate(bad.id, 'NONEtoWAIT', NWAIT); assert.unreachable(); } catch (e) {
    assert.match((e as Error).message, /n13 has no ipv4 extension/);
  }
  await ctx.mutate(N2.id, 'NONEtoWAIT', NWAIT);
  const twin = testNode({id: 'aaaaaaaa-0000-4000-8000-000000000014', nodename: 'n14', mac: N2.mac, ip: '10.9.0.14'});
  ctx.addNode(twin);
  try { await ctx.mutate(twin.id, 'NONEtoWAIT', NWAIT); assert.unreachable(); } catch (e) {
    assert.match((e as Error).message, /MAC aa:bb:cc:00:00:12 is also used by booting node n12/);
  }
});

test('reaching SYNC unregisters the node', async () => {
  assert.ok(servers.registry.get(N2.id));
  ctx.discover(N2.id, '/runState', 'SYNC');
  assert.is(servers.registry.get(N2.id), undefined);
});

test('leases are saved for `layercake pxe leases`', async () => {
  const {readLeases} = await import('../src/module.js');
  const list = await until(async () => { const l = await readLeases(ctx.stateDir); return l.length ? l : undefined; }, 'leases file');
  assert.ok(list.some((l) => l.node === 'n11' && l.mac === N1.mac));
});

test.run();
