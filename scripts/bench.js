#!/usr/bin/env node
// Runs the benchmarks in bench/<name>/index.ts one after another (or only those named): each prints its
// figure as a ratio against a baseline measured in the same run.  Usage: npm run bench [-- engine pxe ...]
// [--option value ...]: the arguments that name no bench are passed to each bench run (bench/boot: --part layer1).
import {spawnSync} from 'node:child_process';
import {readdirSync} from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const all = readdirSync(`${root}bench`);
const wanted = process.argv.slice(2).filter((a) => all.includes(a));
const passed = process.argv.slice(2).filter((a) => !all.includes(a));
const benches = all.filter((b) => wanted.length === 0 || wanted.includes(b)).sort();
let failed = 0;
for (const bench of benches) {
  console.log(`\n== bench/${bench}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${bench}/index.ts`, ...passed], {cwd: root, stdio: 'inherit'});
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
