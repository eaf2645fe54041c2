/** Canonical JSON (model/canonical.ts), the one copy: sorted keys, and the `undefined` rule. */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {canonical, canonicalDigest} from '../../src/model/canonical.js';
import {sameValue} from '../../src/model/url.js';

test('keys are sorted at every depth, so equal values give equal strings', () => {
  assert.is(canonical({b: 1, a: [2, {d: 1, c: 2}]}), '{"a":[2,{"c":2,"d":1}],"b":1}');
  assert.is(canonical({x: 1, y: {q: 'a"b', p: null}}), canonical({y: {p: null, q: 'a"b'}, x: 1}));
});

test('undefined means absent: dropped from objects, null in arrays and as a whole value', () => {
  assert.is(canonical({a: undefined, b: 1}), '{"b":1}');
  assert.is(canonical({a: undefined, b: 1}), canonical({b: 1}));
  assert.is(canonical([1, undefined]), '[1,null]');
  assert.is(canonical(undefined), 'null');
  // so the store records no change when null is written where nothing was
  assert.ok(sameValue(undefined, null));
});

test('the digest is 16 hex digits and ignores key order', () => {
  assert.match(canonicalDigest({a: 1}), /^[0-9a-f]{16}$/);
  assert.is(canonicalDigest({a: 1, b: [1, 2]}), canonicalDigest({b: [1, 2], a: 1}));
  assert.is.not(canonicalDigest({a: 1}), canonicalDigest({a: 2}));
});

test('a cycle is an error, not a silent placeholder', () => {
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  assert.throws(() => canonical(loop), /circular/i);
});

test.run();
