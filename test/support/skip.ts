/**
 * A suite that may not be able to run here (a missing tool, not root) without indenting all of it under an
 * if/else: `const test = runnableOr(uvuTest, why)` is uvu's `test` when `why` is empty; otherwise it prints
 * `SKIP: <why>` and stands in for it, registering every test as skipped and running no hook, so that
 * scripts/test.js counts each of them as skipped (never as passed). The suite keeps its top-level code free
 * of what cannot run (`missing ? '' : makeImage(...)`).
 */
import type {Callback, Test} from 'uvu';

export function runnableOr(test: Test, why: string | undefined): Test {
  if (!why) return test;
  console.log(`SKIP: ${why}`);
  const noHook = Object.assign(() => undefined, {each: () => undefined});
  const skip = (name?: string, fn?: Callback) => test.skip(name, fn);
  return Object.assign(skip, {only: skip, skip, before: noHook, after: noHook, run: () => test.run()});
}
