import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {sortParentFirst} from '../../src/api/order.js';
import type {Node, NodeView} from '../../src/api/types.js';
import {colorEnabled, setColor, state, visibleLength} from '../../src/cli/color.js';
import {formatChanges, nodeStatus, nodeTable} from '../../src/cli/output.js';
import {renderTable} from '../../src/cli/table.js';
import {emptyNode, CORE_ENUMS} from '../../src/model/node.js';

// eslint-disable-next-line no-control-regex -- stripping colour codes from the output under test
const ANSI = /\u001b\[[0-9;]*m/g;
const enums = {...CORE_ENUMS, '/extensions/pxe/state': ['NONE', 'WAIT', 'INIT', 'COMP']};
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
function view(n: number, name: string, parent: number | undefined, cfg: Partial<Node> = {}, dsc: Partial<Node> = {}): NodeView {
  const base = {...emptyNode(id(n)), nodename: name, parentId: parent === undefined ? '' : id(parent)};
  return {cfg: {...base, ...cfg}, dsc: {...base, ...dsc}};
}

test('NO_COLOR and FORCE_COLOR decide colour; a TTY turns it on otherwise', () => {
  assert.is(colorEnabled({isTTY: true}, {}), true);
  assert.is(colorEnabled({isTTY: false}, {}), false);
  assert.is(colorEnabled({isTTY: true}, {NO_COLOR: '1'}), false);
  assert.is(colorEnabled({isTTY: false}, {FORCE_COLOR: '1'}), true);
  assert.is(colorEnabled({isTTY: true}, {FORCE_COLOR: '0'}), false);
});

test('states are coloured by meaning', () => {
  setColor(true);
  try {
    assert.is(state('POWER_ON'), '\u001b[32mPOWER_ON\u001b[39m');
    assert.is(state('SYNC'), '\u001b[32mSYNC\u001b[39m');
    assert.is(state('INIT'), '\u001b[33mINIT\u001b[39m');
    assert.is(state('PHYS_HANG'), '\u001b[31mPHYS_HANG\u001b[39m');
    assert.is(state('ERROR'), '\u001b[31mERROR\u001b[39m');
    assert.is(state('eth0'), 'eth0');
    assert.is(visibleLength(state('POWER_ON')), 8);
  } finally {
    setColor(false);
  }
});

test('tables pad by visible width', () => {
  setColor(true);
  try {
    const out = renderTable([{a: state('POWER_ON'), b: 'x'}, {a: 'n', b: 'y'}], [{header: 'A', get: (r) => r.a}, {header: 'B', get: (r) => r.b}]);
    const lines = out.split('\n').map((l) => l.replace(ANSI, ''));
    assert.equal(lines, ['A         B', 'POWER_ON  x', 'n         y']);
  } finally {
    setColor(false);
  }
});

test('nodes sort parent first, then by name in natural order', () => {
  const views = [view(5, 'n10', 1), view(4, 'n2', 1), view(1, 'head', undefined), view(3, 'sub', 1), view(6, 'm1', 3), view(7, 'other', 99)];
  assert.equal(sortParentFirst(views, (v) => v.cfg).map((v) => v.cfg.nodename), ['head', 'n2', 'n10', 'sub', 'm1', 'other']);
});

test('a node is converged when every non-zero enum it configures is discovered equal', () => {
  assert.is(nodeStatus(view(1, 'a', undefined, {physState: 'POWER_ON'}, {physState: 'POWER_ON'}), enums).status, 'converged');
  const v = view(1, 'a', undefined, {physState: 'POWER_ON', extensions: {pxe: {state: 'COMP'}}}, {physState: 'POWER_ON'});
  assert.equal(nodeStatus(v, enums), {status: 'converging', pending: ['/extensions/pxe/state']});
  assert.is(nodeStatus(view(1, 'a', undefined, {physState: 'POWER_ON'}, {physState: 'PHYS_HANG'}), enums).status, 'error');
  assert.is(nodeStatus(view(1, 'a', undefined, {}, {physState: 'POWER_ON'}), enums).status, 'converged', 'zero cfg means do not care');
});

test('the node table shows dsc→cfg while converging, and chosen columns', () => {
  const views = [view(1, 'head', undefined, {physState: 'POWER_ON'}, {physState: 'POWER_ON'}), view(2, 'n1', 1, {physState: 'POWER_ON'}, {physState: 'POWER_OFF'})];
  const out = nodeTable(views, {type: 'mixed', enums});
  assert.match(out, /NODE\s+ID\s+PARENT\s+physState\s+runState\s+STATUS/);
  assert.match(out, /n1\s+00000000\s+head\s+POWER_OFF→POWER_ON\s+UNKNOWN\s+converging/);
  const custom = nodeTable(views, {type: 'cfg', columns: ['nodename', 'pxe.state', 'physState'], enums});
  assert.match(custom, /NODE\s+pxe\.state\s+physState/);
  assert.match(custom, /head\s+-\s+POWER_ON/);
});

test('changes read as a diff', () => {
  const lines = formatChanges([
    {id: id(1), nodename: 'n1', url: '', value: {} as never},
    {id: id(2), nodename: 'n2', url: '/physState', previous: 'POWER_OFF', value: 'POWER_ON'},
    {id: id(3), nodename: 'n3', url: '', previous: {} as never},
  ]);
  assert.equal(lines, [`+ n1 created (${id(1)})`, '~ n2 physState: POWER_OFF → POWER_ON', '- n3 deleted']);
});

test.run();
