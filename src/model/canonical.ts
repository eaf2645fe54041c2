/**
 * Canonical JSON: object keys sorted, so equal values give equal strings (for comparisons, cache keys
 * and digests). The one copy for the core and, through `@layercake/sdk`, the plugins.
 *
 * The `undefined` rule (JSON has no undefined, so it must be decided): undefined means absent.
 * An object member that is undefined is dropped (`{a: undefined}` is `{}`), an array element that is
 * undefined is `null` (as JSON.stringify writes it), and a value that is undefined as a whole is `null`
 * (so the store treats writing null where nothing was as no change).
 */
import {createHash} from 'node:crypto';
import {configure} from 'safe-stable-stringify';

// deterministic: keys sorted; a cycle is an error rather than a silent "[Circular]".
const stringify = configure({deterministic: true, circularValue: TypeError, bigint: false});

export function canonical(value: unknown): string {
  return stringify(value) ?? 'null';
}

/** A short, stable digest of a value (for "is this the same spec?" checks): 16 hex digits of SHA-256. */
export function canonicalDigest(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('hex').slice(0, 16);
}
