/** Durations in config and flags: a number of milliseconds, or text such as `500ms`, `10s`, `2m`, `1m30s`. */
const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000};

export function parseDuration(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new Error(`invalid duration ${value}`);
  }
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`invalid duration "${value}" (expected e.g. 500ms, 10s, 2m)`);
  return parts.reduce((ms, [, n, unit]) => ms + Number(n) * UNITS[unit], 0);
}
