import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {compressHostlist, expandHostlist, expandHostlists, HostlistError} from '../../src/cli/hostlist.js';

const good: [string, string[]][] = [
  ['head', ['head']],
  ['n1', ['n1']],
  ['n[1-3]', ['n1', 'n2', 'n3']],
  ['n[01-03]', ['n01', 'n02', 'n03']],
  ['n[08-11]', ['n08', 'n09', 'n10', 'n11']],
  ['n[8-11]', ['n8', 'n9', 'n10', 'n11']],
  ['n[001-002]', ['n001', 'n002']],
  ['n[1,3,5-6]', ['n1', 'n3', 'n5', 'n6']],
  ['n[01-02],gpu[1-2]', ['n01', 'n02', 'gpu1', 'gpu2']],
  ['r[1-2]n[1-2]', ['r1n1', 'r1n2', 'r2n1', 'r2n2']],
  ['rack[1-2]-n[01-02].ib', ['rack1-n01.ib', 'rack1-n02.ib', 'rack2-n01.ib', 'rack2-n02.ib']],
  ['n[1-2],n2,n1', ['n1', 'n2']],
  [' n[1-2] ', ['n1', 'n2']],
  ['[1-2]', ['1', '2']],
  ['n[0-1]', ['n0', 'n1']],
  ['0bd3a1c4-7b1e-4a43-9a55-0d3ad8f1f001', ['0bd3a1c4-7b1e-4a43-9a55-0d3ad8f1f001']],
];

for (const [expr, want] of good) {
  test(`expands ${JSON.stringify(expr)}`, () => {
    assert.equal(expandHostlist(expr), want);
  });
}

const bad: [string, RegExp][] = [
  ['', /empty/],
  ['n[1-3', /'\[' without '\]'/],
  ['n1-3]', /'\]' without '\['/],
  ['n[[1-2]]', /nested/],
  ['n[3-1]', /backwards/],
  ['n[a-b]', /not a number/],
  ['n[]', /empty item/],
  ['n[1,,2]', /empty item/],
  ['n1,,n2', /empty name/],
  ['n[^1-2]', /not a number/],
  ['n 1', /white space/],
  ['n[1-1000000]', /more than/],
  ['a[1-1000]b[1-1000]', /more than/],
];

for (const [expr, message] of bad) {
  test(`rejects ${JSON.stringify(expr)} with a reason`, () => {
    try {
      expandHostlist(expr);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.instance(error, HostlistError);
      assert.match((error as Error).message, message);
      assert.match((error as Error).message, /^invalid hostlist/);
    }
  });
}

test('several expressions keep order and drop duplicates', () => {
  assert.equal(expandHostlists(['n[2-3]', 'n1', 'n2']), ['n2', 'n3', 'n1']);
});

const compress: [string[], string][] = [
  [['n01', 'n02', 'n03', 'n07'], 'n[01-03,07]'],
  [['n01', 'n09', 'n10', 'n11'], 'n[01,09-11]'],
  [['n1', 'n2', 'n3', 'n10'], 'n[1-3,10]'],
  [['head', 'n1', 'n2'], 'head,n[1-2]'],
  [['n3', 'n1', 'n2'], 'n[1-3]'],
  [['gpu1', 'n1', 'gpu2'], 'gpu[1-2],n1'],
  [['n5'], 'n5'],
  [[], ''],
];
for (const [names, want] of compress) {
  test(`compresses ${names.join(' ')} to ${want}`, () => {
    assert.is(compressHostlist(names), want);
    if (names.length) assert.equal(new Set(expandHostlist(want)), new Set(names));
  });
}

test('compress and expand round-trip on a mixed set', () => {
  const names = ['n001', 'n002', 'n010', 'n100', 'x9', 'x10', 'a', 'b07', 'b7'];
  assert.equal(new Set(expandHostlist(compressHostlist(names))), new Set(names));
});

test.run();
