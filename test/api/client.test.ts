import {createServer, type AddressInfo} from 'node:net';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ApiClient} from '../../src/api/client/client.js';
import {ApiError, DaemonUnreachableError} from '../../src/api/client/errors.js';
import {createApiServer} from '../../src/api/server/server.js';
import type {LcEvent} from '../../src/api/types.js';
import {testDaemon, until} from '../support/api-daemon.js';

const daemon = testDaemon();
const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const {port} = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});
let server: {address: string; close(): Promise<void>} | undefined;
test.after(async () => {
  await server?.close();
  daemon.close();
});

test('the typed client reads and writes through a listening API', async () => {
  server = await createApiServer(daemon);
  assert.match(server.address, /^127\.0\.0\.1:\d+$/);
  const client = new ApiClient({url: `http://${server.address}`, token: daemon.token});
  assert.is((await client.health()).ok, true);
  const created = await client.createNodes([{nodename: 'n01'}, {nodename: 'n02'}]);
  assert.is(created.length, 2);
  assert.equal((await client.listNodes()).map((v) => v.cfg.nodename), ['head', 'n01', 'n02']);
  assert.is((await client.getNodeIn('n01', 'cfg')).nodename, 'n01');
  const result = await client.setValues({nodes: ['n01'], set: {arch: 'amd64'}}, {dryRun: true});
  assert.is(result.dryRun, true);
  assert.is((await client.getNodeIn('n01', 'cfg')).arch, '');
  assert.is((await client.updateNode('n01', {arch: 'amd64'})).arch, 'amd64');
  assert.match(await client.graphDot(), /^digraph/);
  assert.match(await client.metrics(), /layercake_nodes /);
  assert.is((await client.mutations()).length, 5);
  assert.equal((await client.deleteNodes(['n02'])).map((n) => n.nodename), ['n02']);
});

test('an HTTP error becomes an ApiError with the server\'s fields', async () => {
  const client = new ApiClient({url: `http://${server!.address}`, token: daemon.token});
  try {
    await client.createNodes([{nodename: 'n01'}]);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, ApiError);
    const e = error as ApiError;
    assert.is(e.status, 409);
    assert.is(e.code, 'LC_ERR_NODE_CONFLICT');
    assert.is(e.node, 'n01');
  }
});

test('nothing listening: DaemonUnreachableError says where it tried and how to start one', async () => {
  const port = await freePort();
  const client = new ApiClient({url: `http://127.0.0.1:${port}`, source: 'the default'});
  try {
    await client.listNodes();
    assert.unreachable();
  } catch (error) {
    assert.instance(error, DaemonUnreachableError);
    assert.match((error as Error).message, /cannot reach the layercake daemon at http:\/\/127\.0\.0\.1:\d+ \(connection refused/);
    assert.match((error as Error).message, /the default/);
    assert.match((error as DaemonUnreachableError).hint, /layercake daemon/);
  }
});

test('the event stream filters by node and URL, redacts secrets, and survives a daemon restart', async () => {
  const client = new ApiClient({url: `http://${server!.address}`, token: daemon.token});
  const events: LcEvent[] = [];
  let opens = 0;
  const disconnects: string[] = [];
  const stream = client.events({nodes: ['n01'], types: ['STATE_CHANGE'], urls: ['/physState', '/extensions/bmc/**']}, {
    onEvent: (e) => events.push(e),
    onOpen: () => opens++,
    onDisconnect: (reason) => disconnects.push(reason),
  }, {maxDelayMs: 200});
  try {
    await stream.opened;
    await client.setValues({nodes: ['n01'], set: {arch: 'arm64'}});
    await client.setValues({nodes: ['n01'], set: {'bmc.password': 'hunter2'}});
    await client.createNodes([{nodename: 'n03', physState: 'POWER_ON'}]);
    await client.setValues({nodes: ['n01'], set: {physState: 'POWER_ON'}});
    await until(() => events.some((e) => e.type === 'STATE_CHANGE' && e.view === 'dsc' && e.url === '/physState' && e.value === 'POWER_ON'), 5000, 'n01 power on');
    const n01 = daemon.store.byName('n01')!.cfg.id;
    assert.ok(events.every((e) => e.nodeId === n01), `only n01: ${JSON.stringify(events)}`);
    assert.ok(events.every((e) => e.type === 'STATE_CHANGE' && (e.url === '/physState' || e.url.startsWith('/extensions/bmc'))), 'only matching URLs');
    // The extension did not exist yet, so the change is the whole /extensions/bmc object, redacted inside.
    assert.ok(events.some((e) => e.type === 'STATE_CHANGE' && e.url === '/extensions/bmc' && (e.value as any)?.password === '(secret)'));
    assert.not.match(JSON.stringify(events), /hunter2/);

    // Restart the API on the same port: the stream reconnects and says so.
    const port = server!.address.split(':').pop();
    await server!.close();
    await until(() => disconnects.length > 0, 5000, 'disconnect');
    server = await createApiServer({...daemon, listenAddress: `127.0.0.1:${port}`});
    await until(() => opens >= 2, 5000, 'reconnect');
    const before = events.length;
    await client.setValues({nodes: ['n01'], set: {physState: 'POWER_OFF'}});
    await until(() => events.length > before, 5000, 'events after reconnect');
  } finally {
    stream.close();
  }
});

test('a bad filter fails the stream at once instead of reconnecting', async () => {
  const client = new ApiClient({url: `http://${server!.address}`, token: daemon.token});
  const stream = client.events({nodes: ['ghost']}, {onEvent: () => {}});
  try {
    await stream.opened;
    assert.unreachable();
  } catch (error) {
    assert.instance(error, ApiError);
    assert.match((error as Error).message, /no node ghost/);
  } finally {
    stream.close();
  }
});

test.run();
