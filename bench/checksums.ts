/**
 * What a benchmark run lost to the store's checksums, measured in the same run: the CRC-32 of every record
 * the store wrote (the JSON of each journal line, exactly what format 2 checksums), timed again over the
 * journal the run left (best of 5). docs/store.md, "Format 2".
 */
import {readFileSync} from 'node:fs';
import {crc32} from 'node:zlib';

export function checksumCost(journal: string): {bytes: number; ms: number} {
  const data = readFileSync(journal);
  const lines: Buffer[] = [];
  for (let at = 0, end; (end = data.indexOf(10, at)) >= 0; at = end + 1) lines.push(data.subarray(at + 9, end));
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    for (const line of lines) crc32(line);
    best = Math.min(best, performance.now() - t0);
  }
  return {bytes: data.length, ms: best};
}
