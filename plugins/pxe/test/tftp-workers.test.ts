// The TFTP server's transfer workers: files bigger than one data chunk (from memory and streamed from
// disk), windows across chunk boundaries with loss, a file that ends on a chunk boundary, transfers
// spread over the worker threads, and a stop with transfers running. Loopback; the node is 127.0.0.31.
import {createHash, randomBytes} from 'node:crypto';
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {bootNodeOf} from '../src/bootnode.js';
import {FileError} from '../src/files.js';
import {BufferSource, FileCache} from '../src/source.js';
import {TftpServer, type TransferEvent} from '../src/tftp/server.js';
import {testNode, until} from './support/context.js';
import {tftpGet} from './support/tftp-client.js';

const NODE = bootNodeOf(testNode({id: 'bbbbbbbb-0000-4000-8000-000000000031', nodename: 'n31', mac: 'aa:bb:cc:00:00:31', ip: '127.0.0.31'}));
const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'lc-tftp-workers-'));
const files: Record<string, Buffer> = {
  'mem.bin': randomBytes(2 * MiB + 777), // three chunks
  'edge.bin': randomBytes(2 * MiB), // at 512-byte blocks the chunks are 1 MiB: the last (empty) block starts a chunk
  'disk.bin': randomBytes(3 * MiB + 5), // streamed: bigger than a quarter of the cache below
};
for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
const cache = new FileCache(4 * MiB);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const quiet = {debug() {}, info() {}, warn() {}, error() {}};
const events: TransferEvent[] = [];

const server = new TftpServer({
  port: 0, bindAddress: '127.0.0.1', retransmitMs: 40, retries: 5, maxBlksize: 65464, maxWindowsize: 64, workers: 2,
  log: quiet as never,
  lookup: (ip) => (ip === NODE.ipv4.ip ? NODE : undefined),
  open: async (_node, name) => {
    if (name === 'disk.bin') {
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

test.before(async () => { await server.start(); });
test.after(async () => {
  await server.close();
  rmSync(dir, {recursive: true, force: true});
});

test('a file of several chunks, lockstep at 512-byte blocks', async () => {
  const r = await get('mem.bin');
  assert.ok(r.ok, r.error);
  assert.is(r.sha256, sha(files['mem.bin']!));
});

test('a file that ends exactly on a chunk boundary ends with an empty block', async () => {
  const r = await get('edge.bin');
  assert.ok(r.ok, r.error);
  assert.is(r.bytes, 2 * MiB);
  assert.is(r.sha256, sha(files['edge.bin']!));
});

test('windows across chunk boundaries, with lost ACKs there', async () => {
  // blksize 1468: a chunk is 715 blocks, so blocks 715/716 straddle the boundary; the file has 1430 blocks
  // (the last ACK is not dropped: this client stops at the last block, so nothing would answer a resend).
  const r = await get('mem.bin', {blksize: 1468, windowsize: 16, dropAckAt: [712, 716, 1424]});
  assert.ok(r.ok, r.error);
  assert.is(r.sha256, sha(files['mem.bin']!));
  const big = await get('mem.bin', {blksize: 65464, windowsize: 64});
  assert.ok(big.ok, big.error);
  assert.is(big.sha256, sha(files['mem.bin']!));
});

test('a file streamed from disk in chunks (not cached)', async () => {
  const r = await get('disk.bin', {blksize: 1468, windowsize: 4, tsize: true});
  assert.ok(r.ok, r.error);
  assert.is(r.oack?.get('tsize'), String(files['disk.bin']!.length));
  assert.is(r.sha256, sha(files['disk.bin']!));
});

test('concurrent transfers are spread over the worker threads', async () => {
  const all = await Promise.all(Array.from({length: 6}, (_, i) => get(i % 2 ? 'disk.bin' : 'mem.bin', {blksize: 1468, windowsize: i % 3 ? 8 : 1})));
  for (const [i, r] of all.entries()) {
    assert.ok(r.ok, r.error);
    assert.is(r.sha256, sha(files[i % 2 ? 'disk.bin' : 'mem.bin']!));
  }
  assert.is(server.threads, 2);
  await until(() => server.transfers === 0, 'every transfer to end');
  assert.ok(events.every((e) => e.ok && e.node?.id === NODE.id), JSON.stringify(events.filter((e) => !e.ok)));
});

test('stopping the server ends running transfers', async () => {
  const before = events.length;
  const clients = Array.from({length: 3}, () => get('mem.bin', {deadline: 3000}));
  await until(() => server.transfers === 3, 'three transfers to run');
  await server.close();
  assert.is(server.transfers, 0);
  assert.is(server.threads, 0);
  const stopped = events.slice(before);
  assert.is(stopped.length, 3);
  for (const e of stopped) assert.is(e.error, 'server stopped');
  for (const r of await Promise.all(clients)) assert.not.ok(r.ok);
});

test.run();
