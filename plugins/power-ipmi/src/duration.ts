/**
 * Durations in the module config: a number of milliseconds, or a string such as '500ms', '10s',
 * '2m', '1h' (the same form the sdk's MutationSpec.timeout takes).
 */
import {z} from '@layercake/sdk';

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000};

export function parseDuration(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}: expected a non-negative number of milliseconds`);
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) throw new Error(`invalid duration "${value}": expected e.g. 500ms, 10s, 2m`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']);
}

/** A zod schema accepting a duration and producing milliseconds. */
export const duration = (): z.ZodType<number, number | string> =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch (error) {
      ctx.addIssue({code: 'custom', message: (error as Error).message});
      return z.NEVER;
    }
  });

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
