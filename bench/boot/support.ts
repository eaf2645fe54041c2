/** Small helpers shared by bench/boot's benchmarks. */

/** Milliseconds as seconds with one decimal, padded for columns ('-' when unknown). */
export const s = (ms: number | undefined) => (ms === undefined ? '   -  ' : (ms / 1000).toFixed(1).padStart(6));

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
