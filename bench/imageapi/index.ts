/**
 * bench/imageapi: how long a roll takes, against starting the same image by hand, in the same run.
 *
 *   roll   the cfg of the daemon's own node is changed (image A → B, B → A, ...) through the daemon's API;
 *          timed until the init of the NEW container has written its marker, and the marker says the new
 *          image's name, PID 1 and the init's tag (every start, bare ones included, is checked so). Everything is real: the
 *          daemon (store, engine, module host, API), the imageset module, the ImageAPI service over HTTP,
 *          losetup, squashfs, a tmpfs overlay, unshare + chroot. It includes stopping and deleting the
 *          old container (and detaching its image).
 *   bare   `unshare --mount --pid --fork chroot <root> <init>` of the same image, already mounted,
 *          timed until the same marker: the brief's baseline.
 *   init   a roll that changes only the init: the image's loop device and squashfs mount are shared by the
 *          old and the new container (only a new overlay is made).
 *   cold   the same bare start, but the first on a fresh mount of the image (mounted untimed): what the
 *          squashfs costs the first time its files are read and decompressed, as in any roll to another image.
 *   bare+  the same by a shell script that also does what the roll does to get there: losetup, mount
 *          the squashfs, a tmpfs, the overlay, then unshare + chroot (a human's fastest way to the same).
 *
 * The figure: median roll time, and roll / bare and roll / bare+ (targets: < 500 ms and <= 2x bare).
 * Usage: node --import tsx bench/imageapi/index.ts [--rounds N]   (as root; prints SKIP otherwise)
 */
import {spawn, execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {ApiClient} from '../../src/api/client/client.js';
import {parseDaemonConfig} from '../../src/daemon/config.js';
import {startDaemon} from '../../src/daemon/daemon.js';
import modulesHook from '../../plugins/imageapi/src/hooks/modules.js';
import {ImageApiService} from '../../plugins/imageapi/src/service/service.js';
import {startServer} from '../../plugins/imageapi/src/service/server.js';
import {INIT_MARKER, loopDevicesUnder, makeImage, mountsUnder, realPartsMissing} from '../../plugins/imageapi/test/support/rootfs.js';

const missing = realPartsMissing();
if (missing) {
  console.log(`SKIP: bench/imageapi needs the real parts: ${missing}`);
  process.exit(0);
}
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 15;

const sh = (script: string) => execFileSync('/bin/sh', ['-c', script], {encoding: 'utf8'}).trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];

/** Waits (polling every ms) until `check` holds; returns the time it first did. */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (check()) return performance.now();
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Whether the marker at `path` says what it must: `<image> 1 <host>[ <tag>]`, written by the init of the
 * right image as PID 1 of its namespace (a marker that exists but is not that one does not count).
 */
function markerSays(path: string, image: 'A' | 'B', tail = ''): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  const [name, pid, , tag = ''] = text.trim().split(' ');
  return name === image && pid === '1' && tag === tail;
}

/** The init of the roll rounds: INIT_MARKER's, plus a tag ($0) in the marker, so that a new command is seen to run. */
const taggedInit = (tag: string) => ['/bin/sh', '-c', 'echo "$(cat /etc/image-name) $$ $(hostname) $0" > /tmp/marker; exec sleep 1000000', tag];

const work = mkdtempSync('/tmp/lc-bench-imageapi-');
const images = {A: makeImage(work, 'A'), B: makeImage(work, 'B')};
const nameOf = (image: string): 'A' | 'B' => (image === images.A ? 'A' : 'B');
const service = await ImageApiService.open({stateDir: join(work, 'imageapi')});
const server = await startServer(service, {listen: '127.0.0.1:0'});
const config = parseDaemonConfig({stateDir: join(work, 'daemon'), listen: '127.0.0.1:0', api: {socket: 'none'}, logLevel: 'silent', modules: {imageset: {url: server.url}}});
const daemon = await startDaemon({config, modules: await modulesHook()});
const api = new ApiClient({url: `http://${daemon.listenAddress}`, token: daemon.token});
const self = daemon.selfId;

/** The marker path of the running container of web1 (undefined until it runs). */
function runningMarker(): string | undefined {
  const [c] = service.listContainers({name: 'web1', state: 'running'});
  return c && join(c.mount.mountpoint, 'tmp/marker');
}

/** Attaches `image` and mounts it as <dir>/r (squashfs under a tmpfs overlay), as a roll does; returns the loop device. */
function mountImage(dir: string, image: string): string {
  const loop = sh(`losetup -f --show -r ${image}`);
  sh(`cd ${dir} && mkdir l u r && mount -t squashfs -o ro ${loop} l && mount -t tmpfs t u && mkdir u/u u/w && mount -t overlay o -o lowerdir=l,upperdir=u/u,workdir=u/w r`);
  return loop;
}

/** Times `unshare --mount --pid --fork chroot <dir>/r <init>` until the init has written its marker. */
async function timedStart(dir: string, image: 'A' | 'B'): Promise<number> {
  const marker = join(dir, 'r/tmp/marker');
  if (existsSync(marker)) unlinkSync(marker);
  const t0 = performance.now();
  const child = spawn('unshare', ['--mount', '--pid', '--fork', 'chroot', join(dir, 'r'), ...INIT_MARKER], {detached: true, stdio: 'ignore'});
  const t1 = await until(() => markerSays(marker, image));
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return t1 - t0;
}

// ---- bare: the image mounted once by hand, then unshare + chroot per round ----
const bareDir = join(work, 'bare');
mkdirSync(bareDir);
const bareLoop = mountImage(bareDir, images.A);
const bareStart = () => timedStart(bareDir, 'A');

// ---- bare, cold: the same start, first on a fresh mount of the image (nothing of it decompressed yet) ----
const coldDir = join(work, 'cold');
mkdirSync(coldDir);

async function bareColdStart(image: string): Promise<number> {
  const loop = mountImage(coldDir, image);
  try {
    return await timedStart(coldDir, nameOf(image));
  } finally {
    sh(`cd ${coldDir} && umount r && umount u && umount l && losetup -d ${loop} && rm -rf r u l`);
  }
}

// ---- bare+: losetup, mounts and unshare + chroot by a shell script ----
const plusDir = join(work, 'plus');
mkdirSync(plusDir);
writeFileSync(join(work, 'plus.sh'), [
  'set -e', `cd ${plusDir}`, 'L=$(losetup -f --show -r "$1"); shift', 'echo $L > loopdev', 'mkdir -p l u r',
  'mount -t squashfs -o ro $L l', 'mount -t tmpfs t u', 'mkdir u/u u/w', 'mount -t overlay o -o lowerdir=l,upperdir=u/u,workdir=u/w r',
  'exec unshare --mount --pid --fork chroot r "$@"',
].join('\n'));

async function barePlusStart(image: string): Promise<number> {
  const marker = join(plusDir, 'r/tmp/marker');
  const t0 = performance.now();
  const child = spawn('/bin/sh', [join(work, 'plus.sh'), image, ...INIT_MARKER], {detached: true, stdio: 'ignore'});
  const t1 = await until(() => markerSays(marker, nameOf(image)));
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
  sh(`cd ${plusDir} && umount r && umount u && umount l && losetup -d $(cat loopdev) && rm -rf r u l loopdev`);
  return t1 - t0;
}

// ---- the roll ----
let tag = 'start';
async function roll(image: string, newTag?: string): Promise<{marker: number; active: number}> {
  const command = newTag === undefined ? undefined : taggedInit(newTag);
  tag = newTag ?? tag;
  const before = service.listContainers({name: 'web1'})[0]?.id;
  const t0 = performance.now();
  const marks: string[] = [];
  const off = process.env.LC_BENCH_TRACE ? daemon.store.events.subscribe({nodes: [self]}, (e) => marks.push(`${(performance.now() - t0).toFixed(1)} ${e.type} ${'kind' in e ? e.kind + ' ' + e.mutation : ''} ${'url' in e ? e.url : ''} ${'value' in e && typeof e.value === 'string' ? e.value : ''}`)) : () => undefined;
  await api.setValues({nodes: [self], set: command ? {'/extensions/imageset/images/web1/container/command': command} : {'/extensions/imageset/images/web1/source/path': image}});
  marks.push(`${(performance.now() - t0).toFixed(1)} setValues returned`);
  const t1 = await until(() => {
    const [c] = service.listContainers({name: 'web1', state: 'running'});
    return !!c && c.id !== before && markerSays(join(c.mount.mountpoint, 'tmp/marker'), nameOf(image), tag);
  });
  const t2 = await until(() => {
    const set = daemon.store.get(self)!.dsc.extensions.imageset as {state?: string; images?: Record<string, {source: {path: string}; state: string}>} | undefined;
    return set?.state === 'ACTIVE' && set.images?.web1?.source.path === image && set.images.web1.state === 'ACTIVE' && (!command || service.listContainers({name: 'web1'})[0]?.id !== before);
  });
  off();
  if (process.env.LC_BENCH_TRACE) console.log(marks.join('\n') + `\n${(t1 - t0).toFixed(1)} marker\n`);
  return {marker: t1 - t0, active: t2 - t0};
}

try {
  await api.updateNode(self, {extensions: {imageset: {images: {web1: {source: {kind: 'file', path: images.A}, container: {command: taggedInit(tag)}}}}}});
  await api.setValues({nodes: [self], set: {'imageset.state': 'ACTIVE'}});
  await until(() => !!runningMarker() && markerSays(runningMarker()!, 'A', tag), 30_000);

  const rolls: number[] = [];
  const actives: number[] = [];
  const bares: number[] = [];
  const pluses: number[] = [];
  const colds: number[] = [];
  const sameImage: number[] = [];
  await bareStart(); // warm-up of each path
  await barePlusStart(images.B);
  await roll(images.B);
  for (let i = 0; i < ROUNDS; i++) {
    const image = i % 2 === 0 ? images.A : images.B;
    bares.push(await bareStart());
    pluses.push(await barePlusStart(image));
    colds.push(await bareColdStart(image));
    const r = await roll(image);
    rolls.push(r.marker);
    actives.push(r.active);
    sameImage.push((await roll(image, `round${i}`)).marker);
  }
  const roll50 = median(rolls);
  const bare50 = median(bares);
  const plus50 = median(pluses);
  const f = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`bench/imageapi: ${ROUNDS} rounds, real daemon + imageset module + ImageAPI service over HTTP, busybox squashfs on loop + tmpfs overlay`);
  console.log(`  roll (cfg change → new init wrote its marker)   median ${f(roll50)}  p90 ${f(p90(rolls))}`);
  console.log(`  roll (cfg change → dsc imageset ACTIVE)          median ${f(median(actives))}  p90 ${f(p90(actives))}`);
  console.log(`  roll of the init only (same image, shared mount) median ${f(median(sameImage))}  p90 ${f(p90(sameImage))}`);
  console.log(`  bare unshare --mount --pid --fork chroot         median ${f(bare50)}  p90 ${f(p90(bares))}`);
  console.log(`  bare, first start on a fresh mount of the image  median ${f(median(colds))}  p90 ${f(p90(colds))}`);
  console.log(`  bare+ losetup, 3 mounts, unshare, chroot         median ${f(plus50)}  p90 ${f(p90(pluses))}`);
  console.log(`  ratio roll / bare:  ${(roll50 / bare50).toFixed(2)}x   (target <= 2x; roll target < 500 ms: ${roll50 < 500 ? 'met' : 'NOT met'})`);
  console.log(`  ratio roll / bare on a fresh mount: ${(roll50 / median(colds)).toFixed(2)}x   (a roll to another image starts on a fresh mount)`);
  console.log(`  ratio roll / bare+: ${(roll50 / plus50).toFixed(2)}x`);
  console.log(`  ratio init-only roll / bare: ${(median(sameImage) / bare50).toFixed(2)}x`);
} finally {
  await daemon.stop();
  await server.close();
  await service.close({purge: true});
  sh(`cd ${bareDir} && umount r; umount u; umount l; losetup -d ${bareLoop}; true`);
  const left = [...loopDevicesUnder(work), ...mountsUnder(work)];
  if (left.length) console.log(`  LEFT BEHIND: ${left.join(', ')}`);
  rmSync(work, {recursive: true, force: true});
}
