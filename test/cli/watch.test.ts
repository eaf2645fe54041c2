/**
 * `watch` off a terminal (one line per event), on a stand-in client: the nodes are read before the event
 * stream opens, so an event that arrives at once is already named (a race the CLI lost under load: the
 * first lines showed the node's id).
 */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import type {ApiClient} from '../../src/api/client/client.js';
import type {LcEvent, NodeView} from '../../src/api/types.js';
import {watch} from '../../src/cli/watch.js';

const ID = '3f2a9c1e-0000-4000-8000-000000000003';
const change: LcEvent = {type: 'STATE_CHANGE', seq: 1, time: Date.now(), nodeId: ID, view: 'cfg', op: 'UPDATE', url: '/arch', previous: 'amd64', value: 'arm64'};

/** A client whose stream opens and delivers one event the moment watch subscribes. */
const client = {
  url: 'http://stand-in',
  health: async () => ({}),
  listNodes: async () => [{cfg: {id: ID, nodename: 'n03'}, dsc: {id: ID}}] as unknown as NodeView[],
  events: (_filter: unknown, handlers: {onOpen?: (hello: unknown) => void; onEvent: (e: LcEvent) => void}) => {
    handlers.onOpen?.({kind: 'hello'});
    handlers.onEvent(change);
    return {opened: Promise.resolve(), close: () => {}, setFilter: () => {}};
  },
} as unknown as ApiClient;

test('an event that arrives as the stream opens is shown with the node\'s name', async () => {
  const lines: string[] = [];
  const write = (text: string) => {
    lines.push(text);
    // The event is out: stop as Ctrl-C would, once watch listens for it (after this turn of the loop).
    if (text.includes('arch')) setImmediate(() => process.emit('SIGINT'));
  };
  const result = await watch(client, {} as never, {type: 'mixed', mode: 'lines', write});
  assert.is(result.events, 1);
  const shown = lines.find((l) => l.includes('arch')) ?? '';
  assert.match(shown, /\bn03 cfg arch: amd64 → arm64/, shown);
  assert.not.match(shown, /3f2a9c1e/);
});

test.run();
