#!/usr/bin/env node
// Runs the benchmarks in bench/<name>/index.ts one after another (or only those named): each prints its
// figure as a ratio against a baseline measured in the same run.  Usage: npm run bench [-- engine pxe ...]
import {spawnSync} from 'node:child_process';
import {readdirSync} from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const benches = readdirSync(`${root}bench`).filter((b) => wanted.length === 0 || wanted.includes(b)).sort();
let failed = 0;
for (const bench of benches) {
  console.log(`\n== bench/${bench}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${bench}/index.ts`], {cwd: root, stdio: 'inherit'});
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
