/** Helpers uvu/assert lacks. */
import * as assert from 'uvu/assert';

/** Awaits a promise that must reject; checks the error's message (RegExp) or the error (predicate). Returns the error. */
export async function rejects(promise: Promise<unknown>, expected?: RegExp | ((e: any) => boolean), label = 'promise'): Promise<any> {
  try {
    await promise;
  } catch (error) {
    if (expected instanceof RegExp) assert.match((error as Error)?.message ?? String(error), expected);
    else if (expected) assert.ok(expected(error), `${label} rejected with an unexpected error: ${(error as Error)?.message}`);
    return error;
  }
  assert.unreachable(`${label} should have rejected`);
}
