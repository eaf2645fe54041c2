import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {toDot} from '../../src/api/server/dot.js';

const graph = {
  nodes: [
    {id: 'physState=POWER_OFF', label: 'POWER_OFF', spec: {}},
    {id: 'physState=POWER_ON', label: 'POWER_ON', spec: {}},
    {id: 'physState=POWER_ON,runState=SYNC', label: 'POWER_ON SYNC', spec: {}},
  ],
  edges: [
    {id: 'p/on:a->b', from: 'physState=POWER_OFF', to: 'physState=POWER_ON', mutation: 'p/on'},
    {id: 'p/off:b->a', from: 'physState=POWER_ON', to: 'physState=POWER_OFF', mutation: 'p/off'},
    {id: 'b/boot:b->c', from: 'physState=POWER_ON', to: 'physState=POWER_ON,runState=SYNC', mutation: 'b/boot'},
  ],
};

test('DOT: states, edges labelled by mutation with their stable ids', () => {
  const dot = toDot(graph);
  assert.match(dot, /^digraph "layercake" \{\n {2}rankdir=LR;/);
  assert.match(dot, /"physState=POWER_OFF" \[label="POWER_OFF"\];/);
  assert.match(dot, /"physState=POWER_OFF" -> "physState=POWER_ON" \[label="p\/on", id="p\/on:a->b"\];/);
});

test('DOT: a node\'s plan is highlighted, the step in progress red, the rest green', () => {
  const dot = toDot(graph, {name: 'n01', plan: ['p/on', 'b/boot']});
  assert.match(dot, /^digraph "n01"/);
  assert.match(dot, /label="p\/on", id="p\/on:a->b", color="#e74c3c", penwidth=2\]/);
  assert.match(dot, /label="b\/boot", id="b\/boot:b->c", color="#2e7d32", penwidth=2\]/);
  assert.match(dot, /label="p\/off", id="p\/off:b->a"\];/, 'edges off the plan are plain');
  assert.match(dot, /"physState=POWER_ON,runState=SYNC" \[label="POWER_ON SYNC", style="rounded,filled"/);
});

test('DOT: quotes and backslashes in labels are escaped', () => {
  const dot = toDot({nodes: [{id: 'a"b', label: 'x\\y', spec: {}}], edges: []});
  assert.match(dot, /"a\\"b" \[label="x\\\\y"\];/);
});

test.run();
