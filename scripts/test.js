#!/usr/bin/env node
// Runs every uvu suite (test/**/*.test.ts and plugins/*/test/**/*.test.ts), each in its own process so
// that suites which start daemons, servers or namespaces cannot disturb each other.
// Usage: node scripts/test.js [substring ...]   (only files whose path contains one of the substrings)
import {spawn} from 'node:child_process';
import {readdirSync, statSync} from 'node:fs';
import {join, relative} from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const perFileLimitMs = Number(process.env.LC_TEST_FILE_TIMEOUT_MS ?? 600_000);

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (name.endsWith('.test.ts')) yield path;
  }
}

const roots = [join(root, 'test'), ...readdirSync(join(root, 'plugins')).map((p) => join(root, 'plugins', p, 'test'))];
const files = roots.flatMap((dir) => { try { return [...walk(dir)]; } catch { return []; } })
  .map((f) => relative(root, f)).sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

function run(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, FORCE_COLOR: '0'}});
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n(test file exceeded ${perFileLimitMs / 1000} s, killed)\n`; child.kill('SIGKILL'); }, perFileLimitMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const count = (label) => [...out.matchAll(new RegExp(`${label}:\\s+(\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
      const total = count('Total'), passed = count('Passed'), skipped = count('Skipped');
      let failed = total - passed - skipped;
      if (code !== 0 && failed === 0) failed = 1; // crashed, or failed outside a test
      resolve({file, code, out, passed, failed, skipped, seconds: (Date.now() - started) / 1000});
    });
  });
}

let passed = 0, failed = 0, skipped = 0;
for (const file of files) {
  const r = await run(file);
  passed += r.passed; failed += r.failed; skipped += r.skipped;
  const mark = r.failed ? 'FAIL' : 'ok  ';
  console.log(`${mark} ${file}  (${r.passed} passed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.failed ? `, ${r.failed} failed` : ''}, ${r.seconds.toFixed(1)} s)`);
  if (r.failed || process.env.LC_TEST_VERBOSE) console.log(r.out.replace(/^/gm, '    '));
  for (const m of r.out.matchAll(/^SKIP: .*$/gm)) console.log(`    ${m[0]}`);
}
console.log(`\n${files.length} test files`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || files.length === 0 ? 1 : 0);
