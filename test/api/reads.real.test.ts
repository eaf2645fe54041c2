/**
 * Reads cannot exhaust the daemon's memory (issue 14 point 4). Before: one node with a 10 MB field and
 * 1,000 concurrent GET /api/v1/nodes killed the daemon with a V8 heap overflow, because every request
 * serialized the whole store again (and kept its own copy until the client had read it). Now a node is
 * bounded (api.maxNodeBytes, api.maxFieldBytes) and the list is serialized once per store change, the same
 * bytes going to every reader. A real daemon process with a store of 300 nodes near the node limit (about
 * 18 MB of JSON), 1,000 sockets that ask for the list and never read the answer: the daemon answers them
 * all, keeps answering, and its peak RSS grows by far less than one copy per reader would need (18 GB).
 */
import {readFileSync} from 'node:fs';
import {connect, type Socket} from 'node:net';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../src/api/client/client.js';
import {type DaemonProcess, isolatedConfig, sandbox} from '../support/cli.js';

const box = sandbox('lc-reads-');
let daemon: DaemonProcess;
let api: ApiClient;
let token: string;
const READERS = 1000;
const NODES = 300;

test.after(async () => {
  await box.cleanup();
});

/** The daemon's resident set now and at its peak, MB. */
function rss(pid: number): {now: number; peak: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return {now: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024)};
}

test('a 10 MB field is refused (413), and so is a node over api.maxNodeBytes', async () => {
  await isolatedConfig(box);
  daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
  token = readFileSync(join(box.dir, 'state', 'token'), 'utf8').trim();
  api = new ApiClient({url: daemon.url, token});
  try {
    await api.createNodes([{nodename: 'huge', arch: 'x'.repeat(10 * 1024 * 1024)}]);
    assert.unreachable('a 10 MB field must be refused');
  } catch (error) {
    const e = error as {status?: number; code?: string; message: string};
    assert.is(e.status, 413, e.message);
    assert.is(e.code, 'LC_ERR_API_TOO_LARGE');
    assert.match(e.message, /over the limit of 16384 bytes \(api\.maxFieldBytes\)/);
  }
  assert.is((await api.listNodes()).length, 1, 'nothing created');
});

test(`${READERS} concurrent readers of a large store that never read: the daemon lives, memory stays bounded`, async () => {
  const big = (i: number) => ({
    nodename: `n${String(i).padStart(3, '0')}`, arch: 'a'.repeat(15_000), platform: 'p'.repeat(15_000),
    services: {s1: {state: 'RUN', error: 'e'.repeat(15_000)}, s2: {state: 'RUN', error: 'f'.repeat(14_000)}},
  });
  for (let i = 0; i < NODES; i += 50) await api.createNodes(Array.from({length: 50}, (_, k) => big(i + k)));
  const port = Number(daemon.listen.split(':').pop());
  const before = rss(daemon.proc.pid!);
  const sockets: Socket[] = [];
  const answered = (): Promise<void> => new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET /api/v1/nodes HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n\r\n`));
    sockets.push(s);
    s.once('data', (chunk) => {
      s.pause(); // read nothing more: the daemon must hold the rest of the answer
      if (/^HTTP\/1\.1 200/.test(String(chunk))) resolve();
      else reject(new Error(`answer: ${String(chunk).slice(0, 200)}`));
    });
    s.once('error', reject);
  });
  try {
    for (let i = 0; i < READERS; i += 100) await Promise.all(Array.from({length: 100}, answered));
    const under = rss(daemon.proc.pid!);
    console.log(`  store ${NODES} nodes; daemon RSS before ${before.now} MB, under ${READERS} stalled readers ${under.now} MB, peak ${under.peak} MB`);
    assert.is((await api.health()).ok, true, 'the daemon still answers');
    // One copy per reader would be ~18 GB; a shared copy plus socket buffers stays well under 1 GB.
    assert.ok(under.peak - before.now < 1024, `peak RSS grew by ${under.peak - before.now} MB`);
  } finally {
    for (const s of sockets) s.destroy();
  }
  assert.is(daemon.proc.exitCode, null, 'the daemon did not die');
  assert.is((await api.listNodes()).length, NODES + 1);
});

test.run();
