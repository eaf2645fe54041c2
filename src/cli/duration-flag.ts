/** The oclif flag type for durations: `--timeout 90s` arrives as milliseconds (see model/duration.ts). */
import {Flags, type Interfaces} from '@oclif/core';
import {parseDuration} from '../model/duration.js';
import {CliError} from './errors.js';

interface DurationFlagOptions {
  summary: string;
  description?: string;
  /** A duration text such as '10m' (shown as is in --help). */
  default?: string;
}

/**
 * `durationFlag({summary, default: '10m'})`: the value is a number of milliseconds. A bad value is a
 * usage error (LC_ERR_USAGE, exit 2), which oclif prefixes with "Parsing --timeout".
 */
export function durationFlag(options: DurationFlagOptions & {default: string}): Interfaces.OptionFlag<number>;
export function durationFlag(options: DurationFlagOptions): Interfaces.OptionFlag<number | undefined>;
export function durationFlag({default: fallback, ...options}: DurationFlagOptions): Interfaces.OptionFlag<number | undefined> {
  const base = {helpValue: '<duration>', parse: async (input: string) => usage(() => parseDuration(input)), ...options};
  return fallback === undefined ? Flags.custom<number>(base)() : Flags.custom<number>({...base, multiple: false, default: parseDuration(fallback), defaultHelp: async () => fallback})();
}

function usage<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new CliError((error as Error).message, {code: 'LC_ERR_USAGE', exit: 2, hint: 'give a duration such as 500ms, 90s, 10m or 1m30s'});
  }
}
