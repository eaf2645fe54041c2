/**
 * What a handler may answer, and how the engine runs handlers: requeue ("not yet, ask again after T"),
 * TerminalError ("do not retry"), and no overlap on one node (a superseded handler is aborted, and the
 * node's next step is dispatched only once it has returned).
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {LcEvent, MutationEvent} from '../../src/model/events.js';
import {requeue, requeueAfter, TerminalError} from '../../src/model/handler-result.js';
import type {MutationRequest} from '../../src/model/contract.js';
import {NODE, harness, isMutate, powerBootModules, settle} from './harness.js';

const offline = {id: NODE, nodename: 'n01', physState: 'POWER_ON'};
const isKind = (kind: MutationEvent['kind'], after = 0) => (e: LcEvent) => e.type === 'MUTATION' && e.kind === kind && e.seq > after;
const reasonOf = (e: LcEvent) => (e as MutationEvent).reason ?? '';

test('requeueAfter: the step waits without failing (no failTo, no timeout), then the handler is asked again', async () => {
  let calls = 0;
  // pwrOn's timeout (30 ms) is shorter than the requeue (120 ms): a timeout running during the wait would fail it.
  const h = harness(powerBootModules(30), {
    handler: (r) => {
      if (r.mutation !== 'pwrOn') {
        h.store.discover(r.nodeId, 'physState', 'POWER_OFF', 'power');
        return;
      }
      if (++calls === 1) return requeueAfter('120ms', 'the BMC is still booting');
      h.store.discover(r.nodeId, 'physState', 'POWER_ON', 'power');
    },
  });
  try {
    h.store.create([offline]);
    const wait = await h.waitFor((e) => isKind('WAIT')(e) && /not yet/.test(reasonOf(e)), 2000, 'the requeue');
    assert.is(reasonOf(wait), 'not yet: the BMC is still booting; asking again in 120ms');
    const why = h.engine.why(NODE);
    assert.is(why.current?.status, 'requeued');
    assert.match(why.summary, /n01 is waiting: the BMC is still booting \(asking power\/pwrOn again in \d+ms\)/);
    assert.is(why.lastFailure, undefined, 'a requeue is no failure');
    const again = await h.waitFor(isMutate('power/pwrOn', wait.seq), 2000, 'pwrOn asked again');
    assert.is(reasonOf(again), 'asked again after 1 requeue(s)');
    await h.waitFor(isKind('COMPLETE', again.seq), 2000, 'pwrOn complete');
    assert.is(calls, 2);
    assert.equal(h.requests.filter((r) => r.mutation === 'pwrOn').map((r) => r.attempt), [1, 1], 'the same attempt, asked twice');
    assert.not.ok(h.events.some(isKind('INTERRUPT')), 'no timeout, no interrupt');
    assert.not.ok(h.events.some((e) => e.type === 'STATE_CHANGE' && e.view === 'dsc' && e.value === 'PHYS_HANG'), 'no failTo');
  } finally {
    h.close();
  }
});

test('requeue without a delay waits the engine\'s backoff, doubled for each requeue of the step', async () => {
  let calls = 0;
  const h = harness(powerBootModules(), {
    retry: {max: 5, baseMs: 10, maxMs: 1000},
    handler: (r) => {
      if (++calls <= 3) return requeue('the BMC does not answer yet');
      h.store.discover(r.nodeId, 'physState', 'POWER_OFF', 'power');
    },
  });
  try {
    h.store.create([{...offline, physState: 'POWER_OFF'}]);
    await h.waitFor(isKind('COMPLETE'), 2000, 'pwrDisc complete');
    const waits = h.events.filter(isKind('WAIT')).map(reasonOf);
    assert.equal(waits, ['10ms', '20ms', '40ms'].map((t) => `not yet: the BMC does not answer yet; asking again in ${t}`));
  } finally {
    h.close();
  }
});

test('TerminalError: failTo is discovered and the node is held at once, not retried, until its cfg changes', async () => {
  let terminal = true;
  const h = harness(powerBootModules(), {
    retry: {max: 5, baseMs: 5, maxMs: 10},
    handler: (r) => {
      if (terminal) throw new TerminalError('the BMC address 10.0.0.9 is not a BMC');
      h.store.discover(r.nodeId, 'physState', 'POWER_ON', 'power');
    },
  });
  try {
    h.store.create([offline]);
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'power');
    const interrupt = await h.waitFor(isKind('INTERRUPT'), 2000, 'the failure');
    assert.is(reasonOf(interrupt), 'the BMC address 10.0.0.9 is not a BMC');
    await settle();
    const why = h.engine.why(NODE);
    assert.ok(h.events.some((e) => e.type === 'DISCOVERY' && e.url === '/physState' && e.value === 'POWER_OFF' && e.seq > interrupt.seq), 'failTo discovered');
    assert.is(why.held?.reason, 'power/pwrOn failed for good (not retried): the BMC address 10.0.0.9 is not a BMC');
    assert.match(why.summary, 'n01 is held');
    assert.equal(h.mutates(), ['power/pwrOn'], 'one attempt only');
    // New intent releases it (any cfg value, not only the planned ones).
    terminal = false;
    h.store.setCfg(NODE, 'platform', 'ipmi');
    await h.waitFor(isMutate('power/pwrOn', interrupt.seq), 2000, 'tried again after the cfg change');
  } finally {
    h.close();
  }
});

test('an ordinary error is retried with the engine\'s backoff (for contrast with TerminalError)', async () => {
  const h = harness(powerBootModules(), {retry: {max: 5, baseMs: 5, maxMs: 10}, handler: () => { throw new Error('connection refused'); }});
  try {
    h.store.create([offline]);
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'power');
    const first = await h.waitFor(isMutate('power/pwrOn'), 2000);
    await h.waitFor(isMutate('power/pwrOn', first.seq), 2000, 'a retry');
    assert.is(h.engine.why(NODE).held, undefined);
  } finally {
    h.close();
  }
});

test('a superseded handler is aborted, and the node\'s next step is dispatched only after it has returned', async () => {
  const log: string[] = [];
  let releaseA!: () => void;
  const aReturns = new Promise<void>((r) => (releaseA = r));
  let aSignal: AbortSignal | undefined;
  const h = harness(powerBootModules(), {
    handler: async (r: MutationRequest) => {
      if (r.mutation === 'pwrOn') {
        aSignal = r.signal;
        await new Promise((resolve) => r.signal.addEventListener('abort', resolve, {once: true}));
        log.push('A aborted');
        await aReturns; // it takes its time to wind down
        log.push('A returned');
        return;
      }
      log.push(`B called (A aborted: ${aSignal?.aborted})`);
    },
  });
  try {
    h.store.create([offline]);
    h.store.discover(NODE, 'physState', 'POWER_OFF', 'power');
    await h.waitFor(isMutate('power/pwrOn'), 2000, 'A (pwrOn) fired');
    await settle();
    // Someone else finds the power state unknown: the plan now starts with pwrDisc, which supersedes pwrOn.
    h.store.discover(NODE, 'physState', 'PHYS_UNKNOWN', 'power');
    await h.waitFor(isMutate('power/pwrDisc'), 2000, 'B (pwrDisc) fired');
    await settle();
    assert.equal(log, ['A aborted'], 'B is not dispatched while A runs');
    assert.match(h.engine.why(NODE).summary, 'waiting for the previous handler, power/pwrOn, to return after its abort before power/pwrDisc');
    releaseA();
    await waitUntil(() => log.length === 3);
    assert.equal(log, ['A aborted', 'A returned', 'B called (A aborted: true)']);
  } finally {
    releaseA();
    h.close();
  }
});

test('a step that completes while its handler still runs: the next step waits for that handler too', async () => {
  const log: string[] = [];
  let release!: () => void;
  const slow = new Promise<void>((r) => (release = r));
  const h = harness(powerBootModules(), {
    handler: async (r) => {
      log.push(`${r.mutation} called`);
      if (r.mutation === 'pwrDisc') {
        h.store.discover(r.nodeId, 'physState', 'POWER_OFF', 'power'); // done, but it goes on tidying up
        await slow;
        log.push('pwrDisc returned');
      }
    },
  });
  try {
    h.store.create([offline]);
    await h.waitFor(isMutate('power/pwrOn'), 2000, 'pwrOn fired after pwrDisc completed');
    await settle();
    assert.equal(log, ['pwrDisc called']);
    release();
    await waitUntil(() => log.length === 3);
    assert.equal(log, ['pwrDisc called', 'pwrDisc returned', 'pwrOn called']);
  } finally {
    release();
    h.close();
  }
});

/** Waits, turn by turn of the event loop, until `check` holds (the handlers above settle in a few turns). */
async function waitUntil(check: () => boolean): Promise<void> {
  for (let turns = 0; !check(); turns++) {
    if (turns > 1000) throw new Error('the condition never held');
    await settle();
  }
}

test.run();
