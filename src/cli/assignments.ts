/**
 * `URL=value` and `URL:=json` assignments on the command line (`node set`, `node create`). Apart from
 * ./input.ts so that these commands do not load the YAML parser.
 */
import type {JsonValue} from '../api/types.js';
import {CliError} from './errors.js';

/**
 * Parse `URL=value` (the value is a string) and `URL:=json` (the value is JSON: numbers, booleans,
 * objects, lists, or null to remove the value).
 */
export function parseAssignments(items: readonly string[]): Record<string, JsonValue> {
  const set: Record<string, JsonValue> = {};
  for (const item of items) {
    const m = /^([^=:]+?)(:?=)(.*)$/s.exec(item);
    if (!m) throw new CliError(`'${item}' is not an assignment`, {code: 'LC_ERR_ASSIGNMENT', exit: 2, hint: 'write URL=value (a string) or URL:=json, e.g. physState=POWER_ON or ipv4.prefix:=24'});
    const [, url, op, raw] = m;
    if (op === '=') set[url.trim()] = raw;
    else {
      try {
        set[url.trim()] = JSON.parse(raw) as JsonValue;
      } catch {
        // The value is not shown: it may be a secret (ipmi.password:=...).
        throw new CliError(`${url.trim()}: the value after := is not JSON`, {code: 'LC_ERR_ASSIGNMENT', exit: 2, hint: 'quote strings ("x"), or use = for a plain string'});
      }
    }
  }
  return set;
}

/** Whether a positional argument is an assignment (as opposed to a hostlist). */
export const isAssignment = (arg: string): boolean => /^[^=\s[\],]+:?=/.test(arg);
