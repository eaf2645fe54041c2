/**
 * Durations, the one copy for the core, the config files, the flags and the plugins (through
 * `@layercake/sdk`): a number of milliseconds, or text such as `500ms`, `10s`, `2m`, `1h`, `1m30s`,
 * `1.5s`, `10 s` or `250` (a bare number is milliseconds). The arithmetic is parse-duration's; the
 * shape is checked here first, because parse-duration skips what it does not understand ("10s!" is
 * 10 s to it) and we want a typo to be an error. The zod schema for config files is ./duration-schema.ts
 * (the client commands parse durations without loading zod).
 */
import parse from 'parse-duration';

/** Numbers, each with an optional unit word, nothing else (units are checked one by one below). */
const SHAPE = /^\s*(?:\d+(?:\.\d+)?\s*[a-zµ]*\s*)+$/i;
const TERM = /(\d+(?:\.\d+)?)\s*([a-zµ]*)/gi;
const EXPECTED = 'expected a duration such as 500ms, 10s, 2m or 1m30s (a bare number is milliseconds)';

/** Milliseconds (whole) from a number of milliseconds or a duration text; `where` names the setting in the error. */
export function parseDuration(value: number | string, where?: string): number {
  const fail = (): never => {
    const shown = typeof value === 'string' ? `"${value}"` : String(value);
    throw new Error(`${where ? `${where}: ` : ''}invalid duration ${shown}: ${EXPECTED}`);
  };
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : fail();
  if (typeof value !== 'string' || !SHAPE.test(value)) return fail();
  for (const [, , unit] of value.matchAll(TERM)) if (unit && parse(`1${unit}`) === null) fail();
  const ms = parse(value);
  return ms === null || !Number.isFinite(ms) ? fail() : Math.round(ms);
}

/** Short human text: `80ms`, `1.5s`, `2m`, `1m30s`, `2h5m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s';
}
