// The native TFTP sender (native/tftp_sender.c) behind the server: files from memory and read from a
// file descriptor, windows with lost ACKs, concurrent transfers (a thread each), a client that goes
// silent (retransmissions with backoff, then an error), a client's error, a file that shrinks during
// its transfer, and a stop with transfers running. Loopback; the node is 127.0.0.31.
import dgram from 'node:dgram';
import {createHash, randomBytes} from 'node:crypto';
import {mkdtempSync, rmSync, statSync, truncateSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {bootNodeOf} from '../src/bootnode.js';
import {FileError} from '../src/files.js';
import {BufferSource, FileCache} from '../src/source.js';
import {encodeRequest, Op} from '../src/tftp/packet.js';
import {TftpServer, type TransferEvent} from '../src/tftp/server.js';
import {testNode, until} from './support/context.js';
import {tftpGet} from './support/tftp-client.js';

const NODE = bootNodeOf(testNode({id: 'bbbbbbbb-0000-4000-8000-000000000031', nodename: 'n31', mac: 'aa:bb:cc:00:00:31', ip: '127.0.0.31'}));
const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'lc-tftp-sender-'));
const files: Record<string, Buffer> = {
  'mem.bin': randomBytes(2 * MiB + 777),
  'disk.bin': randomBytes(3 * MiB + 5), // read from its file: bigger than a quarter of the cache below
  'shrinks.bin': randomBytes(3 * MiB),
};
for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
const cache = new FileCache(4 * MiB);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const quiet = {debug() {}, info() {}, warn() {}, error() {}};
const events: TransferEvent[] = [];

const server = new TftpServer({
  port: 0, bindAddress: '127.0.0.1', retransmitMs: 40, retries: 5, maxBlksize: 65464, maxWindowsize: 64, busyPollUs: 50,
  log: quiet as never,
  lookup: (ip) => (ip === NODE.ipv4.ip ? NODE : undefined),
  open: async (_node, name) => {
    if (name === 'disk.bin' || name === 'shrinks.bin') {
      const path = join(dir, name);
      const st = statSync(path);
      return cache.open({kind: 'static', path, size: st.size, mtimeMs: st.mtimeMs});
    }
    const data = files[name];
    if (!data) throw new FileError('ENOENT', `no such file: ${name}`);
    return new BufferSource(data);
  },
  onTransfer: (e) => events.push(e),
});

const get = (file: string, o: Partial<Parameters<typeof tftpGet>[0]> = {}) =>
  tftpGet({host: '127.0.0.1', port: server.address.port, file, bind: NODE.ipv4.ip, deadline: 30_000, ...o});

/**
 * A client that asks for `file` and then answers only as `answer` says, until the server has reported the
 * transfer's end (its event: after it nothing more is sent) and `ended` holds for the packets got.
 */
async function rawClient(file: string, answer: (pkt: Buffer, reply: (b: Buffer) => void) => void, ended = (_got: Buffer[]) => true): Promise<Buffer[]> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, NODE.ipv4.ip, r));
  const got: Buffer[] = [];
  const before = events.length;
  sock.on('message', (m, rinfo) => {
    got.push(m);
    answer(m, (b) => sock.send(b, rinfo.port, rinfo.address));
  });
  sock.send(encodeRequest({op: Op.RRQ, filename: file, mode: 'octet', options: new Map()}), server.address.port, '127.0.0.1');
  await until(() => events.length > before && ended(got), 'the transfer to end', 20_000);
  sock.close();
  return got;
}
const endsWithError = (got: Buffer[]) => got.at(-1)?.readUInt16BE(0) === Op.ERROR;

test.before(async () => { await server.start(); });
test.after(async () => {
  await server.close();
  rmSync(dir, {recursive: true, force: true});
});

test('a file from memory, lockstep at 512-byte blocks', async () => {
  const r = await get('mem.bin');
  assert.ok(r.ok, r.error);
  assert.is(r.sha256, sha(files['mem.bin']!));
});

test('a file read from its descriptor (not cached), with tsize', async () => {
  const r = await get('disk.bin', {blksize: 1468, windowsize: 4, tsize: true});
  assert.ok(r.ok, r.error);
  assert.is(r.oack?.get('tsize'), String(files['disk.bin']!.length));
  assert.is(r.sha256, sha(files['disk.bin']!));
});

test('windows with lost ACKs, from memory and from a descriptor', async () => {
  // (the last ACK is not dropped: this client stops at the last block, so nothing would answer a resend)
  for (const file of ['mem.bin', 'disk.bin']) {
    const r = await get(file, {blksize: 1468, windowsize: 16, dropAckAt: [712, 716, 1424]});
    assert.ok(r.ok, r.error);
    assert.is(r.sha256, sha(files[file]!));
  }
  await until(() => events.filter((e) => e.windowsize === 16).length === 2, 'both transfer events');
  const retransmitted = events.filter((e) => e.windowsize === 16).map((e) => e.retransmits);
  assert.ok(retransmitted.length === 2 && retransmitted.every((n) => n >= 1), `retransmissions per transfer: ${retransmitted}`);
  const big = await get('mem.bin', {blksize: 65464, windowsize: 64});
  assert.ok(big.ok, big.error);
  assert.is(big.sha256, sha(files['mem.bin']!));
});

test('concurrent transfers run side by side', async () => {
  const all = Promise.all(Array.from({length: 6}, (_, i) => get(i % 2 ? 'disk.bin' : 'mem.bin', {blksize: 512, windowsize: i % 3 ? 8 : 1})));
  await until(() => server.transfers === 6, 'six transfers at once');
  for (const [i, r] of (await all).entries()) {
    assert.ok(r.ok, r.error);
    assert.is(r.sha256, sha(files[i % 2 ? 'disk.bin' : 'mem.bin']!));
  }
  await until(() => server.transfers === 0, 'every transfer to end');
  assert.ok(events.every((e) => e.ok && e.node?.id === NODE.id), JSON.stringify(events.filter((e) => !e.ok)));
});

test('a client that goes silent: the block is resent with backoff, then the transfer ends with an error', async () => {
  const before = events.length;
  const t0 = Date.now();
  const got = await rawClient('mem.bin', () => {}, endsWithError);
  const data1 = got.filter((p) => p.readUInt16BE(0) === Op.DATA && p.readUInt16BE(2) === 1);
  assert.is(data1.length, 6, 'DATA 1 and five retransmissions');
  const last = got.at(-1)!;
  assert.is(last.readUInt16BE(0), Op.ERROR);
  assert.match(last.subarray(4).toString('latin1'), 'timed out');
  await until(() => events.length > before, 'the transfer event');
  const e = events.at(-1)!;
  assert.is(e.ok, false);
  assert.is(e.error, 'no acknowledgement after 5 retransmissions');
  assert.is(e.retransmits, 5);
  // 40 + 80 + 160 + 320 + 640 + 640 ms of waiting: the timeout doubles up to 16x
  assert.ok(Date.now() - t0 >= 1880, `ended after ${Date.now() - t0} ms`);
});

test("a client's error ends the transfer", async () => {
  const before = events.length;
  await rawClient('mem.bin', (pkt, reply) => {
    if (pkt.readUInt16BE(0) === Op.DATA) reply(Buffer.from([0, Op.ERROR, 0, 0, ...Buffer.from('disk full'), 0]));
  });
  await until(() => events.length > before, 'the transfer event');
  assert.is(events.at(-1)!.error, 'client error 0: disk full');
});

test('a file that shrinks during its transfer ends with a read error', async () => {
  const before = events.length;
  let acked = 0;
  const got = await rawClient('shrinks.bin', (pkt, reply) => {
    if (pkt.readUInt16BE(0) !== Op.DATA) return;
    const n = pkt.readUInt16BE(2);
    if (n === 10) truncateSync(join(dir, 'shrinks.bin'), 4096);
    reply(Buffer.from([0, Op.ACK, n >> 8, n & 0xff]));
    acked = n;
  }, endsWithError);
  assert.ok(acked >= 10);
  assert.is(got.at(-1)!.readUInt16BE(0), Op.ERROR);
  await until(() => events.length > before, 'the transfer event');
  assert.is(events.at(-1)!.error, 'read error: the file changed during the transfer');
});

test('stopping the server ends running transfers', async () => {
  const before = events.length;
  const clients = Array.from({length: 3}, () => get('mem.bin'));
  await until(() => server.transfers === 3, 'three transfers to run');
  await server.close();
  assert.is(server.transfers, 0);
  const stopped = events.slice(before);
  assert.is(stopped.length, 3);
  for (const e of stopped) assert.is(e.error, 'server stopped');
  // Each client is told (an ERROR), rather than left to wait out its deadline.
  for (const r of await Promise.all(clients)) assert.is(r.error, 'error 0: server stopped');
});

test.run();
