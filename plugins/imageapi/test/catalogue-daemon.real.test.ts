/**
 * Images from the parent's catalogue, end to end, with the real parts (root): `image build` into the
 * catalogue, the REAL daemon running the pxe module (its HTTP server serves the catalogue on loopback)
 * and the imageset module for its own node against the REAL ImageAPI service; `image roll --image
 * base=demo:v1` resolves the reference into an http source, the node fetches, checks and runs it; a roll
 * to v2; a corrupt image ends FATAL with the checksum mismatch in `node why` and nothing half-mounted;
 * an unknown reference and `image rm` of an image in use are refused with nothing changed.
 */
import {execFile} from 'node:child_process';
import {existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync, mkdirSync, chmodSync} from 'node:fs';
import {createServer} from 'node:net';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../../src/api/client/client.js';
import {parseDaemonConfig} from '../../../src/daemon/config.js';
import {startDaemon, type Daemon} from '../../../src/daemon/daemon.js';
import pxeModules from '../../pxe/src/hooks/modules.js';
import modulesHook from '../src/hooks/modules.js';
import type {Image} from '../src/module/extension.js';
import {buildRootfs, loopDevicesUnder, mountsUnder, realPartsMissing} from './support/rootfs.js';
import {startService, type ServiceHandle} from './support/harness.js';
import {waitFor} from './support/wait.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const missing = realPartsMissing() || (existsSync(join(ROOT, 'plugins/imageapi/dist/commands/image/build.js')) ? '' : 'the CLI is not built (npm run build)');

interface Run {code: number; json: any; stdout: string; stderr: string}

let work = '';
let cat = '';
let svc: ServiceHandle;
let daemon: Daemon;
let api: ApiClient;
let self = '';
let server = '';

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args, '--json'], {cwd: work, env: {...process.env, LAYERCAKE_TOKEN: daemon?.token ?? '', NO_COLOR: '1'}, timeout: 120_000}, (error, stdout, stderr) => {
      let json: any;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, json, stdout, stderr});
    });
  });
}

const url = () => `http://${daemon.listenAddress}`;
const roll = (ref: string, ...more: string[]) => cli(['image', 'roll', self, '--image', `base=${ref}`, '--catalogue', cat, '--image-server', server, '--url', url(), ...more]);
const cfgImage = async () => ((await api.getNodeIn(self, 'cfg')).extensions.imageset as {images: Record<string, Image>} | undefined)?.images.base;
const dscImage = async () => ((await api.getNodeIn(self, 'dsc')).extensions.imageset as {images: Record<string, Image>} | undefined)?.images.base;
const marker = async (): Promise<string | undefined> => {
  const [c] = await svc.client.listContainers({name: 'base', state: 'running'});
  try {
    return c && readFileSync(join(c.mount.mountpoint, 'marker'), 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** A busybox image whose /sbin/init writes the image's name (from /etc/layercake-image) to /marker (not /tmp: a systemd init gets a tmpfs there) and sleeps. */
async function buildDemo(version: string): Promise<{sha256: string; size: number}> {
  const dir = join(work, `demo-${version}`);
  buildRootfs(dir, `demo-${version}`);
  mkdirSync(join(dir, 'sbin'));
  writeFileSync(join(dir, 'sbin/init'), '#!/bin/sh\necho "$(cat /etc/layercake-image) $$" > /marker\nexec sleep 1000000\n');
  chmodSync(join(dir, 'sbin/init'), 0o755);
  const r = await cli(['image', 'build', dir, '--name', `demo:${version}`, '--no-modules', '--catalogue', cat]);
  assert.is(r.code, 0, r.stderr);
  return r.json;
}

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const {port} = s.address() as {port: number}; s.close(() => resolve(port)); });
});

if (missing) {
  console.log(`SKIP: catalogue images through the daemon: ${missing}`);
  test.skip('catalogue images through the daemon (real parts)', () => undefined);
} else {
  test.before(async () => {
    work = mkdtempSync('/tmp/lc-catalogue-daemon-');
    cat = join(work, 'catalogue');
    const port = await freePort();
    server = `http://127.0.0.1:${port}`;
    svc = await startService({stateDir: join(work, 'imageapi'), adoptPollMs: 20, systemdStopTimeoutMs: 500});
    const config = parseDaemonConfig({
      stateDir: join(work, 'daemon'), listen: '127.0.0.1:0', api: {socket: 'none'}, logLevel: 'silent', retry: {max: 5, base: '50ms', max_backoff: '200ms'},
      modules: {
        imageset: {url: svc.server.url, pollInterval: '100ms', backoff: '50ms', maxRetries: 1},
        pxe: {serverIp: '127.0.0.1', dhcp: {enabled: false}, tftp: {enabled: false}, http: {port, imagesDir: cat}},
      },
    });
    daemon = await startDaemon({config, modules: [...await modulesHook(), ...await pxeModules()]});
    api = new ApiClient({url: url(), token: daemon.token});
    self = daemon.selfId;
    // The daemon's own node is the node here: its address is what the pxe server lets fetch images.
    await api.apply([{id: self, extensions: {ipv4: {iface: 'lo', mac: '02:00:00:00:00:01', ip: '127.0.0.1', prefix: 8}}}]);
  });

  test.after(async () => {
    await daemon?.stop();
    await svc?.close(true);
    assert.equal([...loopDevicesUnder(work), ...mountsUnder(work)], [], 'nothing left mounted or attached');
    rmSync(work, {recursive: true, force: true});
  });

  test('image roll --image base=demo:v1: resolved in the catalogue, fetched over HTTP from the pxe server, running', async () => {
    const v1 = await buildDemo('v1');
    const r = await roll('demo:v1', '--wait', '--timeout', '60s');
    assert.is(r.code, 0, r.stderr + r.stdout);
    const source = (await cfgImage())!.source;
    assert.equal({...source}, {kind: 'http', url: `${server}/images/${v1.sha256}.squashfs`, sha256: v1.sha256, size: v1.size, ref: 'demo:v1', fsType: 'squashfs', options: []});
    assert.is(await waitFor('demo:v1 running', marker), 'demo:v1 1');
    const list = await cli(['image', 'status', self, '--url', url()]);
    assert.is(list.json.images[0].source, `http demo:v1 (${v1.sha256.slice(0, 12)})`);
  });

  test('refused with nothing changed: a reference not in the catalogue; image rm of an image a node names', async () => {
    const before = await cfgImage();
    const unknown = await roll('demo:v9');
    assert.is(unknown.code, 2);
    assert.is(unknown.json.error.code, 'LC_ERR_IMAGE_NOT_IN_CATALOGUE');
    assert.match(unknown.json.error.message, /demo:v9 is not in the image catalogue .*\(it has demo:v1\)/);
    assert.equal(await cfgImage(), before);
    const rm = await cli(['image', 'rm', 'demo:v1', '--yes', '--catalogue', cat, '--url', url()]);
    assert.is(rm.code, 1);
    assert.is(rm.json.error.code, 'LC_ERR_IMAGE_IN_USE');
    assert.match(rm.json.error.message, /demo:v1 is named in the cfg of 1 node\(s\)/);
    assert.ok(existsSync(join(cat, `${before!.source.sha256}.squashfs`)));
  });

  test('a roll to v2 replaces the container; v1\'s copy and loop device go', async () => {
    const v1sha = (await cfgImage())!.source.sha256!;
    await buildDemo('v2');
    const r = await roll('demo:v2', '--wait', '--timeout', '60s');
    assert.is(r.code, 0, r.stderr + r.stdout);
    assert.is(await waitFor('demo:v2 running', async () => ((await marker())?.startsWith('demo:v2') ? marker() : undefined)), 'demo:v2 1');
    // v1's objects are released right after the replace answered: its RAM copy and loop device go.
    await waitFor('v1\'s RAM copy freed', () => !existsSync(join(work, 'imageapi/run/images', `${v1sha}.squashfs`)));
    await waitFor('one loop device: v2\'s', () => loopDevicesUnder(join(work, 'imageapi')).length === 1);
  });

  test('a corrupt image: FATAL with the checksum mismatch in node why, v2 never stopped half-way, nothing of v3 attached', async () => {
    const v3 = await buildDemo('v3');
    const fd = openSync(join(cat, `${v3.sha256}.squashfs`), 'r+'); // the catalogue's file damaged after the build
    writeSync(fd, Buffer.from('corrupt!'), 0, 8, 1024);
    closeSync(fd);
    const r = await roll('demo:v3');
    assert.is(r.code, 0, r.stderr);
    await waitFor('FATAL', async () => (await dscImage())?.state === 'FATAL' || undefined, 30_000);
    const img = (await dscImage())!;
    assert.match(img.lastError, new RegExp(`checksum mismatch for ${server}/images/${v3.sha256}\\.squashfs: its sha256 is [0-9a-f]{64}, the cfg expects ${v3.sha256}`));
    const why = await cli(['node', 'why', self, '--url', url()]);
    assert.match(JSON.stringify(why.json), /checksum mismatch/);
    assert.not.ok(existsSync(join(work, 'imageapi/run/images', `${v3.sha256}.squashfs`)), 'no copy of v3');
    assert.not.ok(existsSync(join(work, 'imageapi/run/images', `${v3.sha256}.squashfs.part`)));
    // The roll back to v2 (the operator's next step) runs again.
    const back = await roll('demo:v2', '--wait', '--timeout', '60s');
    assert.is(back.code, 0, back.stderr + back.stdout);
    assert.is(await waitFor('demo:v2 running', marker), 'demo:v2 1');
  });
}

test.run();
