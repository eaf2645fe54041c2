/**
 * Resolution and validation around catalogue images, without tools: the http source in the imageset
 * extension, NAME=IMAGE:VERSION in `image roll`, the catalogue's lookups and atomic writes, and where the
 * nodes fetch from (the pxe server's address from the shared config).
 */
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {Catalogue, parseRef, type CatalogueEntry} from '../src/catalogue/catalogue.js';
import {catalogueDir, httpSource, imageServer} from '../src/catalogue/config.js';
import {parseImageAssignment} from '../src/cli.js';
import {imageSource} from '../src/module/extension.js';
import {containerRequest, specOf} from '../src/module/spec.js';

const sha = 'a'.repeat(64);
const work = mkdtempSync(join(tmpdir(), 'lc-catalogue-'));
const entry = (name: string, version: string, sha256 = sha): CatalogueEntry => ({name, version, sha256, size: 4096, built: '2026-01-01T00:00:00.000Z', source: 'directory /x', kernel: ''});

test.after(() => rmSync(work, {recursive: true, force: true}));

test('an http source needs url, sha256 and size; each is checked', () => {
  const ok = imageSource.safeParse({kind: 'http', url: 'http://10.0.0.1:8069/images/x.squashfs', sha256: sha, size: 4096, ref: 'demo:v1'});
  assert.ok(ok.success);
  const missing = imageSource.safeParse({kind: 'http'});
  assert.not.ok(missing.success);
  const paths = missing.error!.issues.map((i) => i.path.join('.')).sort();
  assert.equal(paths, ['sha256', 'size', 'url']);
  for (const [field, value] of [['url', 'ftp://x/y'], ['sha256', 'ABC'], ['size', 0], ['size', 1.5], ['ref', 'demo']] as const) {
    const r = imageSource.safeParse({kind: 'http', url: 'http://h/i', sha256: sha, size: 1, [field]: value});
    assert.not.ok(r.success, `${field}=${value}`);
    assert.is(r.error!.issues[0]!.path[0], field);
  }
});

test('an http source becomes an http attachment under a read-only squashfs mount', () => {
  const spec = specOf({source: {kind: 'http', url: 'http://h/i', sha256: sha, size: 10} as never, container: {command: '/sbin/init'} as never});
  const request = containerRequest('base', spec) as {mount: {overlay: {lower: {attach: {fs_type: string; mount_options: string[]; attach: unknown}}[]}}};
  const lower = request.mount.overlay.lower[0]!.attach;
  assert.equal(lower.attach, {kind: 'http', http: {url: 'http://h/i', sha256: sha, size: 10}});
  assert.is(lower.fs_type, 'squashfs');
  assert.equal(lower.mount_options, ['ro']);
});

test('image roll: NAME=IMAGE:VERSION is a catalogue reference; paths and JSON are as before', () => {
  assert.equal(parseImageAssignment('base=demo:v2'), {name: 'base', patch: {}, ref: 'demo:v2'});
  assert.equal(parseImageAssignment('base=/images/a.sqfs'), {name: 'base', patch: {source: {path: '/images/a.sqfs'}}});
  assert.throws(() => parseImageAssignment('base=demo'), /neither an absolute path, a catalogue NAME:VERSION nor a JSON object/);
  assert.throws(() => parseImageAssignment('base=demo:v2:x'), /neither/);
});

test('references: NAME:VERSION only', () => {
  assert.equal(parseRef('demo:v1'), {name: 'demo', version: 'v1'});
  for (const bad of ['demo', ':v1', 'demo:', 'de mo:v1', 'demo:v1:x']) assert.throws(() => parseRef(bad), /is not an image reference: expected NAME:VERSION/);
});

test('the catalogue: add, lookup, refusal of an unknown or existing reference, remove; files written atomically', async () => {
  const dir = join(work, 'cat');
  const c = new Catalogue(dir);
  assert.equal(c.entries(), []);
  assert.throws(() => c.require('demo:v1'), (e: Error & {code?: string}) => e.code === 'LC_ERR_IMAGE_NOT_IN_CATALOGUE' && /it is empty/.test(e.message));
  const file = c.scratch('test');
  writeFileSync(file, 'x');
  await c.add(entry('demo', 'v1'), file, false);
  assert.is(c.require('demo:v1').sha256, sha);
  const again = c.scratch('test');
  writeFileSync(again, 'x');
  try {
    await c.add(entry('demo', 'v1'), again, false);
    assert.unreachable();
  } catch (error) {
    assert.is((error as {code?: string}).code, 'LC_ERR_IMAGE_EXISTS');
  }
  assert.throws(() => c.require('demo:v2'), /demo:v2 is not in the image catalogue .* \(it has demo:v1\)/);
  rmSync(again);
  await c.remove('demo:v1');
  assert.equal(c.entries(), []);
  assert.equal(readdirSync(dir).sort(), ['catalogue.json'], 'the image file went with its last entry; no temporary file left');
});

test('where nodes fetch from: flag, environment, pxe serverIp, pxe interface; else a clear error', () => {
  delete process.env.LAYERCAKE_IMAGE_SERVER;
  assert.is(imageServer({}, 'http://10.0.0.1:9000/'), 'http://10.0.0.1:9000');
  assert.is(imageServer({modules: {pxe: {serverIp: '10.1.0.254', http: {port: 8070}}}}), 'http://10.1.0.254:8070');
  assert.is(imageServer({modules: {pxe: {serverIp: '10.1.0.254'}}}), 'http://10.1.0.254:8069');
  assert.is(imageServer({modules: {pxe: {interface: 'lo'}}}), 'http://127.0.0.1:8069');
  assert.throws(() => imageServer({}), (e: Error & {code?: string}) => e.code === 'LC_ERR_IMAGE_SERVER');
  assert.equal(httpSource(entry('demo', 'v1'), 'http://10.1.0.254:8069'), {kind: 'http', url: `http://10.1.0.254:8069/images/${sha}.squashfs`, sha256: sha, size: 4096, ref: 'demo:v1', fsType: 'squashfs'});
  delete process.env.LAYERCAKE_IMAGES;
  assert.is(catalogueDir({stateDir: '/var/lib/layercake'}), '/var/lib/layercake/images');
  assert.is(catalogueDir({stateDir: '/s', modules: {pxe: {http: {imagesDir: '/srv/images'}}}}), '/srv/images');
});

test.run();
