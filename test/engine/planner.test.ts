import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {Planner} from '../../src/engine/planner.js';
import {emptyNode, type Node} from '../../src/model/node.js';
import {powerBootModules, registryOf} from './harness.js';

const node = (physState: Node['physState'], runState: Node['runState'] = 'UNKNOWN'): Node => ({...emptyNode('n'), physState, runState});

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function planOf(planner: Planner, from: Node, to: Node): string[] | string {
  const p = planner.plan(planner.project(from), planner.project(to), planner.facts(to, from));
  return p.ok ? p.steps.map((m) => m.name) : p.reason;
}

test('power+boot: the graph has the 5 states and 8 edges of the original', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  const {states, edges} = planner.explore();
  assert.is(states.length, 5);
  assert.is(edges.length, 8);
  const label = (i: number) => planner.describe(states[i]);
  const edgeSet = edges.map((e) => `${label(e.from)} -${e.mutation.name}-> ${label(e.to)}`).sort();
  assert.equal(edgeSet, [
    '{physState=POWER_OFF} -pwrOn-> {physState=POWER_ON}',
    '{physState=POWER_ON, runState=INIT} -INITtoSYNC-> {physState=POWER_ON, runState=SYNC}',
    '{physState=POWER_ON, runState=INIT} -pwrOff-> {physState=POWER_OFF}',
    '{physState=POWER_ON, runState=SYNC} -pwrOff-> {physState=POWER_OFF}',
    '{physState=POWER_ON, runState=SYNC} -syncToUnknown-> {physState=POWER_ON}',
    '{physState=POWER_ON} -pwrOff-> {physState=POWER_OFF}',
    '{physState=POWER_ON} -pxeBoot-> {physState=POWER_ON, runState=INIT}',
    '{unknown} -pwrDisc-> {physState=POWER_OFF}',
  ]);
});

test('power+boot: plans of the acceptance cases', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  assert.equal(planOf(planner, node('POWER_OFF'), node('POWER_ON', 'SYNC')), ['pwrOn', 'pxeBoot', 'INITtoSYNC']);
  assert.equal(planOf(planner, node('POWER_ON', 'SYNC'), node('POWER_OFF')), ['pwrOff']);
  assert.equal(planOf(planner, node('POWER_ON', 'INIT'), node('POWER_ON', 'SYNC')), ['INITtoSYNC']);
  assert.equal(planOf(planner, node('POWER_ON', 'SYNC'), node('POWER_ON', 'SYNC')), []);
});

test('a node whose dsc is wholly unknown plans from the unknown state (original bug 11)', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  assert.equal(planOf(planner, node('PHYS_UNKNOWN'), node('POWER_ON', 'SYNC')), ['pwrDisc', 'pwrOn', 'pxeBoot', 'INITtoSYNC']);
});

test('the same graph and plans for every registration order (shuffled 100 times; original bug 4)', () => {
  const reference = new Planner(registryOf(powerBootModules()));
  const refGraph = JSON.stringify(reference.explore().edges.map((e) => [e.from, e.to, e.mutation.id]));
  const cases: [Node, Node][] = [[node('POWER_OFF'), node('POWER_ON', 'SYNC')], [node('POWER_ON', 'SYNC'), node('POWER_OFF')], [node('PHYS_UNKNOWN'), node('POWER_ON', 'INIT')]];
  const refPlans = cases.map(([a, b]) => planOf(reference, a, b));
  for (let seed = 1; seed <= 100; seed++) {
    const modules = shuffled(powerBootModules(), seed).map((m) => ({...m, mutations: shuffled(m.mutations!, seed * 7)}));
    const planner = new Planner(registryOf(modules));
    assert.is(JSON.stringify(planner.explore().edges.map((e) => [e.from, e.to, e.mutation.id])), refGraph, `graph differs for seed ${seed}`);
    assert.equal(cases.map(([a, b]) => planOf(planner, a, b)), refPlans, `plans differ for seed ${seed}`);
  }
});

test('knowability: runState is knowable only while power is on (original "deps")', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  const state = planner.project(node('POWER_OFF', 'SYNC'));
  const reset = planner.forget(state, {});
  assert.equal(reset.map((i) => planner.urls[i]), ['/runState']);
  assert.is(state[planner.urls.indexOf('/runState')], 'UNKNOWN');
  assert.equal(planner.forget(planner.project(node('POWER_ON', 'SYNC')), {}), []);
});

test('an inconsistent cfg is explained, not logged (original bug 12)', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  const reason = planOf(planner, node('POWER_ON', 'SYNC'), node('POWER_OFF', 'SYNC'));
  assert.type(reason, 'string');
  assert.match(reason as string, 'cfg is inconsistent: runState SYNC requires physState POWER_ON, but cfg has POWER_OFF');
});

test('an unreachable goal names the value no mutation sets', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  const reason = planOf(planner, node('POWER_ON'), node('POWER_ON', 'ERROR')) as string;
  assert.match(reason, 'no mutation sets runState to ERROR');
});

test('an unreachable goal names what blocks the mutation that would get there', () => {
  const registry = registryOf([{name: 'p', start() {}, mutations: [
    {name: 'on', mutates: {physState: ['POWER_OFF', 'POWER_ON']}, requires: {platform: 'ipmi'}},
  ]}]);
  const planner = new Planner(registry);
  const cfg = {...node('POWER_ON'), platform: 'redfish'};
  const p = planner.plan(planner.project(node('POWER_OFF')), planner.project(cfg), planner.facts(cfg, cfg));
  assert.not.ok(p.ok);
  assert.match((p as {reason: string}).reason, 'p/on requires platform ipmi (is redfish)');
});

test('plans are memoized by (start, goal, facts)', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  const a = planner.plan(planner.project(node('POWER_OFF')), planner.project(node('POWER_ON', 'SYNC')), {});
  const b = planner.plan(planner.project(node('POWER_OFF')), planner.project(node('POWER_ON', 'SYNC')), {});
  assert.ok(a === b);
});

test('unknowable cfg values are named, for power off to reset them', () => {
  const planner = new Planner(registryOf(powerBootModules()));
  assert.equal(planner.unknowable(planner.project(node('POWER_OFF', 'SYNC')), {}), ['/runState']);
});

test.run();
