/**
 * The convergence tracker behind `--wait` (power, apply, image roll), on a stand-in client: a change that
 * arrives while the tracker is reading the nodes (on the stream's opening) must survive that read, which
 * may have been taken before it. It did not: `power cycle --wait` then waited for ever on a node whose
 * power-on it had been told of (operator-cli, "did not finish in 120 s", now and then).
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {ApiClient} from '../../src/api/client/client.js';
import type {LcEvent, NodeView} from '../../src/api/types.js';
import {ConvergenceTracker} from '../../src/cli/progress.js';
import type {Enumerables} from '../../src/cli/output.js';

const ID = '3f2a9c1e-0000-4000-8000-000000000004';
const view = (physState: string) => ({cfg: {id: ID, nodename: 'n04', physState: 'POWER_ON', runState: 'SYNC', extensions: {}}, dsc: {id: ID, physState, runState: 'UNKNOWN', extensions: {}}}) as unknown as NodeView;
const change = (seq: number, url: string, previous: string, value: string): LcEvent => ({type: 'STATE_CHANGE', seq, time: Date.now(), nodeId: ID, view: 'dsc', op: 'UPDATE', url, previous, value});
const poweredOn = change(7, '/physState', 'POWER_OFF', 'POWER_ON');
const synced = change(8, '/runState', 'UNKNOWN', 'SYNC');
const done = (v: NodeView) => v.dsc.physState === 'POWER_ON' && v.dsc.runState === 'SYNC';

/** A client whose read of the node is taken before the power-on, and answers after the stream delivered it. */
function racingClient(): {client: ApiClient; deliver: (e: LcEvent) => void} {
  let onEvent: (e: LcEvent) => void = () => {};
  const client = {
    events: (_filter: unknown, handlers: {onOpen?: (hello: unknown) => void; onEvent: (e: LcEvent) => void}) => {
      onEvent = handlers.onEvent;
      handlers.onOpen?.({kind: 'hello'});
      return {opened: Promise.resolve(), close: () => {}, setFilter: () => {}};
    },
    getNode: async () => {
      const snapshot = view('POWER_OFF'); // read before the node powered on ...
      onEvent(poweredOn); // ... whose change the stream delivers before the read's answer
      return snapshot;
    },
    why: async () => ({}),
  } as unknown as ApiClient;
  return {client, deliver: (e) => onEvent(e)};
}

test('a change that arrives while the nodes are being read is applied onto what the read returns', async () => {
  const {client, deliver} = racingClient();
  const tracker = new ConvergenceTracker(client, [view('POWER_OFF')], {} as Enumerables, done);
  await tracker.start();
  assert.is(tracker.entries()[0].settled, undefined, 'powered on, not yet SYNC');
  deliver(synced);
  const [node] = tracker.entries();
  assert.is(node.settled?.outcome, 'converged', `powered on (during the read), then SYNC: ${node.detail}`);
  tracker.stop();
});

test.run();
