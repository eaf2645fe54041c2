// TFTP and HTTP boot servers on loopback: options, windows, block-number rollover, retransmission,
// per-node templates, refusals, and HTTP range requests. Nodes use 127.0.0.x addresses so the source
// address of the test clients identifies them.
import {createHash, randomBytes} from 'node:crypto';
import dgram from 'node:dgram';
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {runPxe} from '../src/module.js';
import type {PxeServers} from '../src/servers.js';
import {encodeRequest, Op} from '../src/tftp/packet.js';
import {fakeContext, testNode, until, type FakeContext} from './support/context.js';
import {tftpGet} from './support/tftp-client.js';

const N = {id: 'bbbbbbbb-0000-4000-8000-000000000021', nodename: 'n21', mac: 'aa:bb:cc:00:00:21', ip: '127.0.0.21', platform: 'sim'};
const NWAIT = {'/extensions/pxe/state': ['NONE', 'WAIT'] as [string, string]};

let ctx: FakeContext;
let servers: PxeServers;
let tftpPort = 0;
let httpPort = 0;
const big = randomBytes(700_000 + 123);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test.before(async () => {
  ctx = fakeContext({serverIp: '127.0.0.1', dhcp: {enabled: false}, tftp: {port: 0, retransmitMs: 40, retries: 5}, http: {port: 0}});
  const root = join(ctx.stateDir, 'pxe', 'tftp');
  mkdirSync(join(root, 'amd64', 'sim'), {recursive: true});
  writeFileSync(join(root, 'amd64', 'sim', 'big.bin'), big);
  writeFileSync(join(root, 'exact.bin'), Buffer.alloc(1024, 7)); // a multiple of 512: ends with an empty block
  writeFileSync(join(root, 'amd64', 'sim', 'boot.ipxe.tpl'), '#!ipxe\nkernel vmlinuz layercake.id={{.ID}} layercake.parent={{.ParentIP}} ip={{.IP}}::{{.ParentIP}}:{{.Netmask}}:{{.Nodename}}:{{.Iface}}:off\nboot\n');
  writeFileSync(join(root, 'amd64', 'sim', 'broken.tpl'), 'x {{.Typo}}\n');
  ctx.addNode(testNode(N));
  servers = await runPxe(ctx);
  tftpPort = servers.tftp!.address.port;
  httpPort = servers.http!.address.port;
  await ctx.mutate(N.id, 'NONEtoWAIT', NWAIT);
});

test.after(async () => {
  ctx?.abort();
  await servers?.close();
  ctx?.cleanup();
});

const get = (file: string, o: Partial<Parameters<typeof tftpGet>[0]> = {}) =>
  tftpGet({host: '127.0.0.1', port: tftpPort, file, bind: N.ip, deadline: 20_000, ...o});

test('TFTP: plain RFC 1350 transfer (512-byte lockstep)', async () => {
  const r = await get('big.bin');
  assert.ok(r.ok, r.error);
  assert.is(r.bytes, big.length);
  assert.is(r.sha256, sha(big));
  assert.is(r.oack, undefined);
});

test('TFTP: blksize, tsize, timeout and windowsize are negotiated', async () => {
  const r = await get('big.bin', {blksize: 1468, tsize: true, timeout: 2, windowsize: 8});
  assert.ok(r.ok, r.error);
  assert.is(r.sha256, sha(big));
  assert.is(r.oack?.get('blksize'), '1468');
  assert.is(r.oack?.get('tsize'), String(big.length));
  assert.is(r.oack?.get('timeout'), '2');
  assert.is(r.oack?.get('windowsize'), '8');
});

test('TFTP: a file that is a multiple of the block size ends with an empty block', async () => {
  const r = await get('exact.bin', {keep: true});
  assert.ok(r.ok, r.error);
  assert.is(r.bytes, 1024);
});

test('TFTP: block numbers roll over past 65535', async () => {
  const r = await get('big.bin', {blksize: 8, windowsize: 32}); // 87,516 blocks
  assert.ok(r.ok, r.error);
  assert.is(r.sha256, sha(big));
});

test('TFTP: lost ACKs are recovered by retransmission (lockstep and windowed)', async () => {
  const r1 = await get('big.bin', {blksize: 1024, dropAckAt: [3, 100, 101, 400]});
  assert.ok(r1.ok, r1.error);
  assert.is(r1.sha256, sha(big));
  const r2 = await get('big.bin', {blksize: 1024, windowsize: 16, dropAckAt: [16, 48, 600]});
  assert.ok(r2.ok, r2.error);
  assert.is(r2.sha256, sha(big));
  await until(() => servers.tftp!.transfers === 0, 'every transfer to end');
});

test('TFTP: per-node template rendering', async () => {
  const r = await get('boot.ipxe', {keep: true});
  assert.ok(r.ok, r.error);
  assert.is(r.data!.toString(), `#!ipxe\nkernel vmlinuz layercake.id=${N.id} layercake.parent=127.0.0.1 ip=127.0.0.21::127.0.0.1:255.255.255.0:n21:eth0:off\nboot\n`);
  const bad = await get('broken');
  assert.not.ok(bad.ok);
  assert.match(bad.error!, /unknown variable .Typo/);
});

test('TFTP: traversal, absolute paths, missing files, uploads and strangers are refused', async () => {
  for (const f of ['../../../../etc/passwd', '/etc/passwd', 'amd64/../../x']) {
    const r = await get(f);
    assert.not.ok(r.ok, f);
    assert.match(r.error!, /^error 2:/, f);
  }
  assert.match((await get('nothing-here')).error!, /^error 1:/);
  assert.match((await get('big.bin', {bind: '127.0.0.99'})).error!, /^error 2: not a booting node/);
  const sock = dgram.createSocket('udp4');
  const reply = await new Promise<Buffer>((resolve) => {
    sock.on('message', (m) => resolve(m));
    sock.bind(0, N.ip, () => sock.send(encodeRequest({op: Op.WRQ, filename: 'x', mode: 'octet', options: new Map()}), tftpPort, '127.0.0.1'));
  });
  sock.close();
  assert.is(reply.readUInt16BE(0), Op.ERROR);
  assert.is(reply.readUInt16BE(2), 2);
});

test('TFTP: 20 concurrent transfers', async () => {
  const all = await Promise.all(Array.from({length: 20}, (_, i) => get('big.bin', {blksize: 1468, windowsize: i % 2 ? 4 : 1})));
  for (const r of all) { assert.ok(r.ok, r.error); assert.is(r.sha256, sha(big)); }
});

async function http(path: string, headers: Record<string, string> = {}, localAddress = N.ip) {
  const {request} = await import('node:http');
  return new Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}>((resolve, reject) => {
    const req = request({host: '127.0.0.1', port: httpPort, path, headers, localAddress}, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts)}));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTP: per-node iPXE script and whole files', async () => {
  const s = await http('/boot.ipxe');
  assert.is(s.status, 200);
  assert.match(s.body.toString(), `layercake.id=${N.id} layercake.parent=127.0.0.1`);
  const f = await http('/big.bin');
  assert.is(f.status, 200);
  assert.is(f.headers['accept-ranges'], 'bytes');
  assert.is(sha(f.body), sha(big));
});

test('HTTP: range requests', async () => {
  const a = await http('/big.bin', {range: 'bytes=100-199'});
  assert.is(a.status, 206);
  assert.is(a.headers['content-range'], `bytes 100-199/${big.length}`);
  assert.ok(a.body.equals(big.subarray(100, 200)));
  const b = await http('/big.bin', {range: 'bytes=700000-'});
  assert.ok(b.body.equals(big.subarray(700000)));
  const c = await http('/big.bin', {range: 'bytes=-10'});
  assert.ok(c.body.equals(big.subarray(big.length - 10)));
  const d = await http('/big.bin', {range: `bytes=${big.length}-`});
  assert.is(d.status, 416);
});

test('HTTP: strangers, traversal and missing files are refused', async () => {
  assert.is((await http('/boot.ipxe', {}, '127.0.0.99')).status, 403);
  assert.is((await http('/amd64/..%2f..%2f..%2fetc/passwd')).status, 403);
  assert.is((await http('/%2e%2e/%2e%2e/etc/passwd')).status, 404, 'URL normalisation keeps it inside the root');
  assert.is((await http('/missing')).status, 404);
  assert.is((await http('/broken')).status, 500);
});

test.run();
