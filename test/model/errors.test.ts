/**
 * The error catalogue is the one place codes are defined: docs/errors.md is generated from it, and every
 * LC_ERR code the sources (core and plugins) and docs name is in it. The API's answers use the same codes.
 */
import {readdirSync, readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ERRORS, ValidationError} from '../../src/model/errors.js';
// @ts-expect-error: a plain JavaScript script, no types
import {renderErrorsDoc} from '../../scripts/errors-doc.js';

const ROOT = new URL('../..', import.meta.url).pathname;

function* files(dir: string, ext: RegExp): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path, ext);
    else if (ext.test(name)) yield path;
  }
}

const sources = [join(ROOT, 'src'), ...readdirSync(join(ROOT, 'plugins')).map((p) => join(ROOT, 'plugins', p, 'src'))]
  .flatMap((dir) => [...files(dir, /\.ts$/)]);

test('docs/errors.md is generated from the catalogue (run: npm run build && node scripts/errors-doc.js)', () => {
  assert.is(readFileSync(join(ROOT, 'docs/errors.md'), 'utf8'), renderErrorsDoc(ERRORS));
});

test('every code is LC_ERR_<AREA>_<WHAT>, with a meaning, a next step and an exit code', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^LC_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/, code);
    assert.ok(spec.meaning.length > 10 && spec.next.length > 5, code);
    assert.ok([1, 2, 130].includes(spec.exit), code);
  }
});

test('the codes the other areas rely on are reserved with their statuses', () => {
  const want: Record<string, number | undefined> = {
    LC_ERR_STORE_FULL: 507, LC_ERR_STORE_DAMAGED: undefined, LC_ERR_API_TOO_LARGE: 413, LC_ERR_API_TOO_DEEP: 400,
    LC_ERR_API_MEDIA_TYPE: 415, LC_ERR_API_FOREIGN_ORIGIN: 403, LC_ERR_API_UNAUTHORIZED: 401,
  };
  for (const [code, status] of Object.entries(want)) {
    assert.ok(code in ERRORS, `${code} reserved`);
    assert.is((ERRORS as Record<string, {status?: number}>)[code].status, status, code);
  }
});

test('every LC_ERR code named in the sources, tests and docs is in the catalogue', () => {
  const texts = [...sources, ...files(join(ROOT, 'test'), /\.ts$/), ...files(join(ROOT, 'docs'), /\.md$/)];
  const unknown = new Set<string>();
  for (const file of texts) {
    for (const m of readFileSync(file, 'utf8').matchAll(/LC_ERR_[A-Z0-9_]*[A-Z0-9]/g)) {
      if (m[0] === 'LC_ERR_LISTEN') continue; // `LC_ERR_LISTEN_${errno}`, typed against the catalogue
      if (!(m[0] in ERRORS)) unknown.add(`${m[0]} (${file.slice(ROOT.length)})`);
    }
  }
  assert.equal([...unknown], []);
});

test('no error code outside the catalogue form: the API speaks LC_ERR too', () => {
  const strays: string[] = [];
  for (const file of sources) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bcode: '([A-Z][A-Z_]+)'/g)) {  // (system errnos such as ENOENT are not ours)
      if (!m[1].startsWith('LC_ERR_') && !/^E[A-Z]+$/.test(m[1])) strays.push(`${m[1]} (${file.slice(ROOT.length)})`);
    }
  }
  assert.equal(strays, []);
});

test('a LayercakeError takes its HTTP status from the catalogue', () => {
  const e = new ValidationError('node n01: /physState: bad');
  assert.is(e.code, 'LC_ERR_INPUT_INVALID');
  assert.is(e.status, 400);
});

test.run();
