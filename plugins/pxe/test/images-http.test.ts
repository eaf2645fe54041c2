/**
 * The pxe HTTP server serving the Layer1 image catalogue (<stateDir>/images/<sha256>.squashfs) to the
 * parent's nodes, booting or not: HEAD, GET, single ranges, ETag = sha256 and If-Range; strangers and
 * bad paths are refused.
 */
import {createHash, randomBytes} from 'node:crypto';
import {mkdirSync, writeFileSync} from 'node:fs';
import {request} from 'node:http';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {runPxe} from '../src/module.js';
import type {PxeServers} from '../src/servers.js';
import {fakeContext, testNode, type FakeContext} from './support/context.js';

// A node that finished booting long ago (SYNC, pxe NONE): not registered with the boot servers.
const N = {id: 'bbbbbbbb-0000-4000-8000-000000000031', nodename: 'n31', mac: 'aa:bb:cc:00:00:31', ip: '127.0.0.31', pxe: {state: 'NONE'}};
const image = randomBytes(300_000 + 7);
const sha = createHash('sha256').update(image).digest('hex');
const path = `/images/${sha}.squashfs`;

let ctx: FakeContext;
let servers: PxeServers;
let port = 0;

test.before(async () => {
  ctx = fakeContext({serverIp: '127.0.0.1', dhcp: {enabled: false}, tftp: {enabled: false}, http: {port: 0}});
  mkdirSync(join(ctx.stateDir, 'images'));
  writeFileSync(join(ctx.stateDir, 'images', `${sha}.squashfs`), image);
  ctx.addNode(testNode(N));
  servers = await runPxe(ctx);
  port = servers.http!.address.port;
});

test.after(async () => {
  ctx?.abort();
  await servers?.close();
  ctx?.cleanup();
});

function http(p: string, opts: {method?: string; headers?: Record<string, string>; from?: string} = {}) {
  return new Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}>((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, path: p, method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.from ?? N.ip}, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts)}));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HEAD: size, ETag = sha256, ranges accepted, no body', async () => {
  const r = await http(path, {method: 'HEAD'});
  assert.is(r.status, 200);
  assert.is(r.headers['content-length'], String(image.length));
  assert.is(r.headers.etag, `"${sha}"`);
  assert.is(r.headers['accept-ranges'], 'bytes');
  assert.is(r.body.length, 0);
});

test('GET: the whole image to a node that is not booting', async () => {
  const r = await http(path);
  assert.is(r.status, 200);
  assert.is(createHash('sha256').update(r.body).digest('hex'), sha);
});

test('ranged GET, and If-Range: the range only while the ETag matches', async () => {
  const a = await http(path, {headers: {range: 'bytes=1000-'}});
  assert.is(a.status, 206);
  assert.is(a.headers['content-range'], `bytes 1000-${image.length - 1}/${image.length}`);
  assert.ok(a.body.equals(image.subarray(1000)));
  const b = await http(path, {headers: {range: 'bytes=1000-', 'if-range': `"${sha}"`}});
  assert.is(b.status, 206);
  const c = await http(path, {headers: {range: 'bytes=1000-', 'if-range': '"something-else"'}});
  assert.is(c.status, 200, 'another ETag: the whole file');
  assert.is(c.body.length, image.length);
  assert.is((await http(path, {headers: {range: `bytes=${image.length}-`}})).status, 416);
});

test('refused: strangers (403), unknown checksums and other paths under /images (404)', async () => {
  assert.is((await http(path, {from: '127.0.0.99'})).status, 403);
  assert.match((await http(`/images/${'0'.repeat(64)}.squashfs`)).body.toString(), /no image with sha256 0{64}/);
  assert.is((await http('/images/../../etc/passwd')).status, 404);
  assert.is((await http('/images/catalogue.json')).status, 404);
  assert.is((await http(path, {method: 'PUT'})).status, 405);
});

test.run();
