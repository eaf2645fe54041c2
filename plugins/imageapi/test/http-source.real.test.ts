/**
 * The node's ImageAPI (the REAL Linux parts, root) attaching `http` images served by the REAL pxe HTTP
 * server on loopback: fetched into RAM, checked, attached read-only, run. The failure modes (checksum
 * mismatch, 404, server unreachable, too big for the free RAM) are 500 errors with the reason, and leave
 * no file, loop device or mount behind.
 */
import {createHash} from 'node:crypto';
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs';
import {createServer} from 'node:net';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {HttpBootServer} from '../../pxe/src/http/server.js';
import {ImageApiError} from '../src/client.js';
import {LinuxPlatform} from '../src/service/linux.js';
import {INIT_MARKER, loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from './support/rootfs.js';
import {startService, type ServiceHandle} from './support/harness.js';
import {waitFor} from './support/wait.js';

const missing = realPartsMissing();
if (missing) {
  console.log(`SKIP: http image source tests: ${missing}`);
  test.skip('http image source (real parts)', () => undefined);
  test.run();
} else {
  const work = mkdtempSync('/tmp/lc-imageapi-http-');
  const catalogue = join(work, 'catalogue');
  mkdirSync(catalogue);
  const image = makeImage(work, 'H');
  const sha256 = createHash('sha256').update(readFileSync(image)).digest('hex');
  const size = statSync(image).size;
  copyFileSync(image, join(catalogue, `${sha256}.squashfs`));
  // A file served under a checksum it does not have (what a corrupted catalogue would serve).
  const wrong = 'f'.repeat(64);
  copyFileSync(image, join(catalogue, `${wrong}.squashfs`));

  const log = {debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined} as never;
  const pxe = new HttpBootServer({
    port: 0, bindAddress: '127.0.0.1', log, cache: {open: async () => undefined} as never,
    lookup: () => undefined, resolve: async () => { throw new Error('no boot files here'); },
    images: {dir: catalogue, allowed: (ip) => ip === '127.0.0.1'},
  });
  let server = '';
  let svc: ServiceHandle | undefined;
  let free = Number.MAX_SAFE_INTEGER;
  let n = 0;

  const source = (over: Partial<{url: string; sha256: string; size: number}> = {}) => ({
    kind: 'overlay' as const,
    overlay: {lower: [{kind: 'attach' as const, attach: {fs_type: 'squashfs', attach: {kind: 'http' as const, http: {url: `${server}/images/${sha256}.squashfs`, sha256, size, ...over}}}}]},
  });
  const fetched = () => {
    try {
      return readdirSync(join(work, `state${n}`, 'run', 'images'));
    } catch {
      return [];
    }
  };
  const leftovers = () => [...loopDevicesUnder(work), ...mountsUnder(join(work, `state${n}`, 'mounts') + '/'), ...fetched()];

  async function refused(over: Parameters<typeof source>[0], reason: RegExp): Promise<void> {
    try {
      await svc!.client.createContainer({name: 'bad', command: INIT_MARKER, state: 'running', mount: source(over)});
    } catch (error) {
      assert.instance(error, ImageApiError);
      assert.is((error as ImageApiError).status, 500, (error as Error).message);
      assert.match((error as Error).message, reason);
      assert.equal(leftovers(), [], 'no file, loop device or mount left');
      assert.equal(await svc!.client.listContainers(), [], 'no container');
      return;
    }
    assert.unreachable('the attach should have been refused');
  }

  test.before(async () => {
    await pxe.start();
    server = `http://127.0.0.1:${pxe.address.port}`;
  });

  test.before.each(async () => {
    free = Number.MAX_SAFE_INTEGER;
    svc = await startService({stateDir: join(work, `state${++n}`), adoptPollMs: 20, platform: new LinuxPlatform({memAvailable: () => free})});
  });

  test.after.each(async () => {
    await svc?.close(true);
    svc = undefined;
    assert.equal([...loopDevicesUnder(work), ...mountsUnder(work)], [], 'nothing left attached or mounted (the RAM tmpfs included) after the service closed');
  });

  test.after(async () => {
    await pxe.close();
    rmSync(work, {recursive: true, force: true});
  });

  test('an http image from the pxe server runs: fetched into RAM, attached read-only, shared by checksum', async () => {
    const {client} = svc!;
    const {container} = await client.createContainer({name: 'h1', command: INIT_MARKER, state: 'running', mount: source()});
    assert.is(container.state, 'running');
    const marker = await waitFor('the marker', () => {
      try { return readFileSync(join(container.mount.mountpoint, 'tmp/marker'), 'utf8').trim(); } catch { return undefined; }
    });
    assert.is(marker, 'H 1 h1');
    const attach = (container.mount.overlay!.lower as {attach: {attach: {device_file: string; kind: string}}}[])[0]!.attach.attach;
    assert.is(attach.kind, 'http');
    const device = attach.device_file.replace('/dev/', '');
    assert.is(readFileSync(`/sys/block/${device}/ro`, 'utf8').trim(), '1', 'the loop device is read-only');
    const backing = readFileSync(`/sys/block/${device}/loop/backing_file`, 'utf8').trim();
    assert.is(backing, join(work, `state${n}`, 'run', 'images', `${sha256}.squashfs`));
    assert.match(readFileSync('/proc/mounts', 'utf8'), new RegExp(`${join(work, `state${n}`, 'run', 'images')} tmpfs`), 'the copy is in a tmpfs (RAM)');
    // A second container of the same image (another URL, same checksum) shares the copy and the loop device.
    const second = await client.createContainer({name: 'h2', command: INIT_MARKER, state: 'running', mount: source({url: `http://localhost:${pxe.address.port}/images/${sha256}.squashfs`})});
    const attach2 = (second.container.mount.overlay!.lower as {attach: {attach: {device_file: string}}}[])[0]!.attach.attach;
    assert.is(attach2.device_file, attach.device_file);
    assert.equal(fetched(), [`${sha256}.squashfs`]);
    await client.deleteContainer({name: 'h1', force: true});
    await client.deleteContainer({name: 'h2', force: true});
    assert.equal(leftovers(), [], 'the last user frees the copy, the loop device and the mounts');
  });

  test('a checksum mismatch is refused before any loop device exists', async () => {
    await refused({url: `${server}/images/${wrong}.squashfs`, sha256: wrong}, /checksum mismatch .*its sha256 is [0-9a-f]{64}, the cfg expects f{64}/);
  });

  test('a size that does not match the served file is refused', async () => {
    await refused({size: size + 4096}, /size mismatch/);
  });

  test('an image the server does not have: the 404 is the reason', async () => {
    await refused({url: `${server}/images/${'0'.repeat(64)}.squashfs`, sha256: '0'.repeat(64)}, /answered 404/);
  });

  test('an unreachable server: the connection error is the reason', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => { const {port} = s.address() as {port: number}; s.close(() => resolve(port)); });
    });
    await refused({url: `http://127.0.0.1:${closed}/images/${sha256}.squashfs`}, /cannot fetch .*ECONNREFUSED/);
  });

  test('an image larger than the node\'s free RAM is not fetched', async () => {
    free = size - 1;
    await refused({}, /more than the node's free RAM \(MemAvailable/);
  });

  test.run();
}
