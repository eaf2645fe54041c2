import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {LcEvent} from '../../src/model/events.js';
import {LayercakeError} from '../../src/model/errors.js';
import {NODE, harness, isMutate, powerBootModules, settle} from './harness.js';

const onSync = {id: NODE, nodename: 'n01', physState: 'POWER_ON', runState: 'SYNC'};

test('runtime flow: thaw → MUTATE, timeout → failTo → retry, discoveries advance, crash → one pwrOn', async () => {
  const h = harness(powerBootModules(80), {frozen: true});
  try {
    h.store.create([onSync]);
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'power');
    await settle();
    assert.equal(h.mutates(), [], 'a frozen engine fires nothing');
    assert.is(h.store.get(NODE)!.dsc.physState, 'POWER_OFF', 'a frozen engine still records state');
    h.engine.thaw();
    const first = await h.waitFor(isMutate('power/pwrOn'), 1000, 'pwrOn');
    // Nothing answers: the step times out, failTo POWER_OFF is discovered, and pwrOn is tried again.
    const interrupt = await h.waitFor((e) => e.type === 'MUTATION' && e.kind === 'INTERRUPT', 1000, 'INTERRUPT');
    assert.match((interrupt as {reason: string}).reason, 'timed out after 80ms');
    assert.is(h.interrupts.length, 1);
    await h.waitFor(isMutate('power/pwrOn', first.seq), 1000, 'second pwrOn');
    h.store.discover(NODE, 'physState', 'POWER_ON', 'power');
    await h.waitFor(isMutate('boot/pxeBoot'), 1000, 'pxeBoot');
    h.store.discover(NODE, 'runState', 'INIT', 'boot');
    await h.waitFor(isMutate('sync/INITtoSYNC'), 1000, 'INITtoSYNC');
    h.store.discover(NODE, 'runState', 'SYNC', 'sync');
    await h.waitFor((e) => e.type === 'MUTATION' && e.kind === 'COMPLETE' && e.mutation === 'INITtoSYNC', 1000, 'COMPLETE');
    await settle();
    assert.ok(h.engine.why(NODE).converged);
    // A crash: power goes off behind our back. RunState becomes UNKNOWN (an event) and one pwrOn follows.
    const mark = h.events.length;
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'power');
    await h.waitFor(isMutate('power/pwrOn', h.events[mark - 1].seq), 1000, 'pwrOn after crash');
    await new Promise((r) => setTimeout(r, 30)); // a second pwrOn, if any, would be emitted at once
    const after = h.events.slice(mark);
    assert.ok(after.some((e) => e.type === 'STATE_CHANGE' && e.view === 'dsc' && e.url === '/runState' && e.value === 'UNKNOWN'), 'runState reset is an event');
    assert.is(after.filter(isMutate('power/pwrOn')).length, 1, 'exactly one pwrOn');
  } finally {
    h.close();
  }
});

test('a cfg that can never converge is refused at write time, naming why; nothing is stored', async () => {
  const h = harness(powerBootModules());
  try {
    const error = (() => {
      try {
        h.store.create([{...onSync, physState: 'POWER_OFF'}]);
      } catch (e) {
        return e as LayercakeError;
      }
      return undefined;
    })();
    assert.instance(error, LayercakeError);
    assert.is(error!.code, 'LC_ERR_CFG_UNREACHABLE');
    assert.is(error!.status, 409);
    assert.match(error!.message, 'node n01: this cfg can never converge: runState SYNC requires physState POWER_ON, but cfg has POWER_OFF');
    assert.is(h.store.byName('n01'), undefined, 'nothing was stored');
    h.store.create([onSync]);
    assert.throws(() => h.store.update(h.store.byName('n01')!.cfg.id, {physState: 'POWER_OFF'}), (e: LayercakeError) => e.code === 'LC_ERR_CFG_UNREACHABLE');
    assert.is(h.store.byName('n01')!.cfg.physState, 'POWER_ON', 'unchanged');
  } finally {
    h.close();
  }
});

test('a multi-URL mutation keeps its timeout until every URL arrives (original bug 8)', async () => {
  const h = harness([{name: 'boot', start() {}, mutations: [
    {name: 'disc', mutates: {physState: ['PHYS_UNKNOWN', 'POWER_ON']}},
    {name: 'both', mutates: {physState: ['POWER_ON', 'POWER_OFF'], runState: ['UNKNOWN', 'INIT']}, timeout: 100, failTo: {url: 'physState', value: 'PHYS_HANG'}},
  ]}]);
  try {
    h.store.create([{id: NODE, physState: 'POWER_OFF', runState: 'INIT'}]);
    h.store.discover(NODE, 'physState', 'POWER_ON', 'boot');
    await h.waitFor(isMutate('boot/both'));
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'boot'); // half of it
    const e = await h.waitFor((x) => x.type === 'MUTATION' && x.kind === 'INTERRUPT', 1000, 'timeout of the half-done step');
    assert.match((e as {reason: string}).reason, 'timed out');
  } finally {
    h.close();
  }
});

test('a failing handler fails the step with its reason, then retries are bounded and the node is held', async () => {
  const h = harness(powerBootModules(), {handler: () => { throw new Error('BMC 10.0.0.9 rejected the credentials'); }, retry: {max: 2, baseMs: 5, maxMs: 10}, frozen: true});
  try {
    h.store.create([{id: NODE, physState: 'POWER_ON'}]);
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'power');
    h.engine.thaw();
    await h.waitFor((e) => e.type === 'LOG' && e.level === 'error', 2000, 'held');
    const why = h.engine.why(NODE);
    assert.ok(why.held, 'held');
    assert.match(why.held!.reason, 'gave up after 3 failures');
    assert.match(why.lastFailure!.reason, 'rejected the credentials');
    const count = h.mutates().length;
    await new Promise((r) => setTimeout(r, 50));
    assert.is(h.mutates().length, count, 'no more attempts while held');
    h.engine.retryNode(NODE);
    await h.waitFor(isMutate('power/pwrOn', h.events.at(-1)!.seq), 1000, 'retry after release');
  } finally {
    h.close();
  }
});

test('admission control: at most N mutations of a module at once, the rest wait for a slot', async () => {
  const pending: (() => void)[] = [];
  const h = harness(powerBootModules(), {maxConcurrent: {power: 2}, handler: (r) => { pending.push(() => h.store.discover(r.nodeId, 'physState', 'POWER_OFF', 'power')); }});
  try {
    const ids = [3, 4, 5, 6, 7].map((i) => `00000000-0000-4000-8000-00000000000${i}`);
    h.store.create(ids.map((id) => ({id, physState: 'POWER_OFF'})));
    await settle();
    assert.is(h.mutates().length, 2);
    assert.equal(h.engine.status().queued, {power: 3});
    assert.is(h.events.filter((e: LcEvent) => e.type === 'MUTATION' && e.kind === 'WAIT').length, 3);
    while (pending.length) { pending.shift()!(); await settle(); }
    assert.is(h.mutates().length, 5);
    assert.equal(h.engine.status().converged, 5);
  } finally {
    h.close();
  }
});

test('service auto-start: a mutation waits until its module runs', async () => {
  let running = false;
  const h = harness(powerBootModules(), {moduleRunning: () => running});
  try {
    h.store.create([{id: NODE, physState: 'POWER_OFF'}]);
    await h.waitFor((e) => e.type === 'MUTATION' && e.kind === 'WAIT');
    assert.equal(h.mutates(), []);
    assert.match(h.engine.why(NODE).summary, 'waiting for module power to run');
    running = true;
    h.engine.moduleStateChanged('power');
    await h.waitFor(isMutate('power/pwrDisc'));
  } finally {
    h.close();
  }
});

test('freeze lets go of steps and thaw re-plans every node with no orphan timer', async () => {
  const h = harness(powerBootModules(40));
  try {
    h.store.create([{id: NODE, physState: 'POWER_OFF'}]);
    await h.waitFor(isMutate('power/pwrDisc'));
    h.engine.freeze();
    await new Promise((r) => setTimeout(r, 80)); // past the timeout: an orphan timer would interrupt
    assert.is(h.interrupts.length, 0);
    const mark = h.events.at(-1)!.seq;
    h.engine.thaw();
    await h.waitFor(isMutate('power/pwrDisc', mark));
  } finally {
    h.close();
  }
});

test('deleting a node with an active step drops it and interrupts the module (original bug 2)', async () => {
  const h = harness(powerBootModules());
  try {
    h.store.create([{id: NODE, physState: 'POWER_OFF'}]);
    await h.waitFor(isMutate('power/pwrDisc'));
    h.store.delete([NODE]);
    h.store.delete([]);
    await settle();
    assert.is(h.interrupts.length, 1);
    assert.throws(() => h.engine.why(NODE), /no node/);
  } finally {
    h.close();
  }
});

test('every changed value is an event, IPs and MACs included (original bug 5)', () => {
  const h = harness(powerBootModules());
  try {
    h.store.create([{id: NODE, extensions: {ipv4: {ip: '10.0.0.1', mac: '52:54:00:00:00:01'}}}]);
    h.store.setCfg(NODE, 'ipv4.ip', '10.0.0.2');
    h.store.setCfg(NODE, '/extensions/ipv4/mac', '52:54:00:00:00:02');
    const urls = h.events.filter((e) => e.type === 'STATE_CHANGE' && e.op === 'UPDATE').map((e) => (e as {url: string}).url);
    assert.equal(urls, ['/extensions/ipv4/ip', '/extensions/ipv4/mac']);
  } finally {
    h.close();
  }
});

test('writing a whole extension at once plans the node (the event is above the URL the planner reads)', async () => {
  const {z} = await import('zod');
  const h = harness([...powerBootModules(), {name: 'img', start() {}, extensions: [{name: 'img', schema: z.object({state: z.enum(['UNKNOWN', 'UP']).default('UNKNOWN')})}],
    mutations: [{name: 'up', mutates: {'img.state': ['UNKNOWN', 'UP']}, requires: {physState: 'POWER_ON'}}]}]);
  try {
    h.store.create([{id: NODE}]);
    h.store.discover(NODE, 'physState', 'POWER_ON', 'power');
    await settle();
    assert.equal(h.mutates(), []);
    h.store.update(NODE, {extensions: {img: {state: 'UP'}}});
    await h.waitFor(isMutate('img/up'), 1000, 'img/up after the extension was written whole');
  } finally {
    h.close();
  }
});

test.run();
