/** Durations in config files (./duration.ts has the parsing): apart so that parsing a flag does not load zod. */
import {z} from 'zod';
import {parseDuration} from './duration.js';

/** A zod schema for config files: a duration in (or nothing: the fallback), milliseconds out. */
export function durationSchema(fallback: number | string) {
  return z.union([z.number(), z.string()]).default(fallback).transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch (error) {
      ctx.addIssue({code: 'custom', message: (error as Error).message});
      return z.NEVER;
    }
  });
}
