/**
 * fetchImage (the http attachment's download) against a node:http server on loopback that cuts the
 * connection mid-body: resumed with a ranged GET and If-Range, or started over when the server ignores
 * the range; checksum and size checked; nothing left on failure.
 */
import {createHash, randomBytes} from 'node:crypto';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import http from 'node:http';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {fetchImage, memAvailable} from '../src/service/fetch.js';

const data = randomBytes(3 * 1024 * 1024 + 17);
const sha256 = createHash('sha256').update(data).digest('hex');
const work = mkdtempSync('/tmp/lc-fetch-');
let n = 0;

interface Seen {
  range?: string;
  ifRange?: string;
}

/** A server of `data` whose first `cuts` responses stop after half the body (closing, or with `stall` keeping the connection); `ranges: false` ignores Range. */
async function serve(opts: {cuts: number; ranges: boolean; stall?: boolean}): Promise<{url: string; seen: Seen[]; close(): Promise<void>}> {
  const seen: Seen[] = [];
  let cuts = opts.cuts;
  const server = http.createServer((req, res) => {
    seen.push({range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined});
    const m = opts.ranges ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
    const start = m ? Number(m[1]) : 0;
    const body = data.subarray(start);
    res.writeHead(m ? 206 : 200, {'content-length': body.length, etag: '"v1"', ...(m ? {'content-range': `bytes ${start}-${data.length - 1}/${data.length}`} : {})});
    if (cuts-- > 0) {
      res.write(body.subarray(0, body.length >> 1), () => { if (!opts.stall) res.socket?.destroy(); });
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const {port} = server.address() as {port: number};
  return {url: `http://127.0.0.1:${port}/img`, seen, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); })};
}

const dest = () => join(work, `img${++n}.squashfs`);

test.after(() => rmSync(work, {recursive: true, force: true}));

test('a cut connection is resumed from where it stopped, with If-Range on the ETag', async () => {
  const s = await serve({cuts: 2, ranges: true});
  const file = dest();
  await fetchImage({url: s.url, sha256, size: data.length}, file);
  await s.close();
  assert.ok(readFileSync(file).equals(data));
  assert.is(s.seen.length, 3);
  assert.is(s.seen[0]!.range, undefined);
  assert.match(s.seen[1]!.range ?? '', /^bytes=[1-9]\d*-$/, 'the second request asks for the rest');
  assert.is(s.seen[1]!.ifRange, '"v1"');
  assert.ok(Number(/\d+/.exec(s.seen[2]!.range!)![0]) > Number(/\d+/.exec(s.seen[1]!.range!)![0]), 'each resume starts further on');
});

test('a server that ignores the range: the transfer starts over and is still right', async () => {
  const s = await serve({cuts: 1, ranges: false});
  const file = dest();
  await fetchImage({url: s.url, sha256, size: data.length}, file);
  await s.close();
  assert.ok(readFileSync(file).equals(data));
  assert.is(s.seen.length, 2);
});

test('cut more often than the resumes allow: an error with the count, and no file left', async () => {
  const s = await serve({cuts: 10, ranges: true});
  const file = dest();
  try {
    await fetchImage({url: s.url, sha256, size: data.length}, file, {resumes: 2});
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /cannot fetch .* after \d+ of \d+ bytes/);
  }
  await s.close();
  assert.equal(readdirSync(work).filter((f) => f.startsWith(file.split('/').at(-1)!)), [], 'neither the file nor its .part');
});

test('a server that stops sending but keeps the connection is cut after the stall time, and resumed', async () => {
  const s = await serve({cuts: 1, ranges: true, stall: true});
  const file = dest();
  await fetchImage({url: s.url, sha256, size: data.length}, file, {stallMs: 200});
  await s.close();
  assert.ok(readFileSync(file).equals(data));
  assert.is(s.seen.length, 2);
  const again = await serve({cuts: 1, ranges: true, stall: true});
  try {
    await fetchImage({url: again.url, sha256, size: data.length}, dest(), {stallMs: 200, resumes: 0});
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /cannot fetch .*: nothing received for 200 ms after \d+ of \d+ bytes/);
  }
  await again.close();
});

test('a checksum mismatch removes what was fetched', async () => {
  const s = await serve({cuts: 0, ranges: true});
  const file = dest();
  try {
    await fetchImage({url: s.url, sha256: '0'.repeat(64), size: data.length}, file);
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, new RegExp(`checksum mismatch .*its sha256 is ${sha256}`));
  }
  await s.close();
  assert.not.ok(existsSync(file) || existsSync(`${file}.part`));
});

test('too big for the free RAM: refused before any request', async () => {
  const s = await serve({cuts: 0, ranges: true});
  try {
    await fetchImage({url: s.url, sha256, size: data.length}, dest(), {memAvailable: () => data.length - 1});
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /3\.0 MiB, more than the node's free RAM \(MemAvailable 3\.0 MiB\): not fetched/);
  }
  await s.close();
  assert.is(s.seen.length, 0);
});

test('MemAvailable is read from /proc/meminfo', () => {
  assert.ok(memAvailable() > 0);
});

test.run();
