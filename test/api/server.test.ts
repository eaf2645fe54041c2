import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import type {FastifyInstance} from 'fastify';
import {buildApiServer} from '../../src/api/server/server.js';
import {SELF, TOKEN, testDaemon, until, type TestDaemon} from '../support/api-daemon.js';

interface Ctx {
  daemon: TestDaemon;
  app: FastifyInstance;
}

const api = suite<Ctx>('api');

api.before.each(async (ctx) => {
  ctx.daemon = testDaemon();
  ctx.app = await buildApiServer(ctx.daemon);
});
api.after.each(async (ctx) => {
  await ctx.app.close();
  ctx.daemon.close();
});

const json = (body: unknown) => ({payload: JSON.stringify(body), headers: {'content-type': 'application/json', ...bearer}});
const bearer = {authorization: `Bearer ${TOKEN}`};
/** A request over TCP with the token (pass `{authorization: ''}` for none). */
async function call(app: FastifyInstance, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  if (body === undefined && method !== 'GET') body = {};
  const all = {...bearer, ...(body === undefined ? {} : {'content-type': 'application/json'}), ...headers};
  if (!all.authorization) delete (all as Record<string, string>).authorization;
  const res = await app.inject({method: method as 'GET', url, ...(body === undefined ? {} : json(body)), headers: all});
  return {status: res.statusCode, body: res.headers['content-type']?.includes('json') ? res.json() : res.body, headers: res.headers};
}
const nodes = [
  {nodename: 'n02', extensions: {bmc: {address: '10.0.0.2', password: 'hunter2', mode: 'IPMI'}}},
  {nodename: 'n10'},
  {nodename: 'n01', physState: 'POWER_ON'},
];
const cfgNames = (d: TestDaemon) => d.store.list().map((v) => v.cfg.nodename).sort();

api('healthz answers and says whether a token is needed', async ({app}) => {
  const r = await call(app, 'GET', '/healthz');
  assert.is(r.status, 200);
  assert.is(r.body.ok, true);
  assert.is(r.body.id, SELF);
  assert.is(r.body.tokenRequired, true, 'over TCP');
});

api('create, list parent-first by natural name, and read each view', async ({app, daemon}) => {
  const created = await call(app, 'POST', '/api/v1/nodes', {nodes});
  assert.is(created.status, 201);
  assert.is(created.body.nodes.length, 3);
  const list = await call(app, 'GET', '/api/v1/nodes');
  assert.equal(list.body.nodes.map((v: any) => v.cfg.nodename), ['head', 'n01', 'n02', 'n10']);
  assert.ok(list.body.nodes[1].dsc, 'both views by default');
  const cfg = await call(app, 'GET', '/api/v1/nodes?view=cfg');
  assert.is(cfg.body.nodes[1].physState, 'POWER_ON');
  const one = await call(app, 'GET', '/api/v1/nodes/n02?view=merged');
  assert.is(one.body.nodename, 'n02');
  assert.is(one.body.extensions.bmc.address, '10.0.0.2');
  const byId = await call(app, 'GET', `/api/v1/nodes/${one.body.id}`);
  assert.is(byId.body.cfg.nodename, 'n02');
  assert.is((await call(app, 'GET', '/api/v1/nodes?view=sideways')).status, 400);
  assert.is(daemon.store.size, 4);
});

api('secrets never leave: nodes, diffs, history and views', async ({app}) => {
  const created = await call(app, 'POST', '/api/v1/nodes', {nodes});
  assert.is(created.body.nodes.find((n: any) => n.nodename === 'n02').extensions.bmc.password, '(secret)');
  const one = await call(app, 'GET', '/api/v1/nodes/n02');
  assert.is(one.body.cfg.extensions.bmc.password, '(secret)');
  const changed = await call(app, 'PATCH', '/api/v1/nodes', {nodes: ['n02'], set: {'bmc.password': 'swordfish'}});
  assert.is(changed.status, 200);
  assert.equal(changed.body.changes.map((c: any) => [c.url, c.previous, c.value]), [['/extensions/bmc/password', '(secret)', '(secret)']]);
  const history = await call(app, 'GET', '/api/v1/nodes/n02/history');
  assert.not.match(JSON.stringify(history.body), /hunter2|swordfish/);
});

api('a node read (secrets redacted) and written back keeps its secrets', async ({app, daemon}) => {
  await call(app, 'POST', '/api/v1/nodes', {nodes});
  const read = await call(app, 'GET', '/api/v1/nodes?view=cfg');
  const n02 = read.body.nodes.find((n: any) => n.nodename === 'n02');
  assert.is(n02.extensions.bmc.password, '(secret)');
  const applied = await call(app, 'POST', '/api/v1/apply', {nodes: read.body.nodes});
  assert.is(applied.status, 200);
  assert.is(applied.body.updated.length, 0, 'nothing changed');
  assert.is((await call(app, 'PUT', '/api/v1/nodes/n02?replace=true', n02)).status, 200);
  assert.is((await call(app, 'PATCH', '/api/v1/nodes', {nodes: ['n02'], set: {'bmc.password': '(secret)', arch: 'x86'}})).status, 200);
  assert.is(daemon.store.byName('n02')!.cfg.extensions.bmc.password, 'hunter2');
  const created = await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'n03', extensions: {bmc: {password: '(secret)'}}}]});
  assert.is(created.status, 201);
  assert.is(daemon.store.byName('n03')!.cfg.extensions.bmc.password, '', 'a placeholder is not a password');
});

api('bad input is refused whole, with the node, URL and expectation named', async ({app, daemon}) => {
  await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'n01'}]});
  const before = JSON.stringify(daemon.store.list());
  const cases: [string, string, unknown, number, RegExp, Record<string, unknown>][] = [
    ['POST', '/api/v1/nodes', {nodes: [{nodename: 'n05'}, {nodename: 'n01'}]}, 409, /n01/, {code: 'LC_ERR_NODE_CONFLICT', node: 'n01'}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n07'}, {nodename: 'n07'}]}, 409, /n07/, {code: 'LC_ERR_NODE_CONFLICT'}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {nope: {}}}]}, 400, /unknown extension/, {code: 'LC_ERR_INPUT_INVALID', url: '/extensions/nope'}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', physState: 'ON'}]}, 400, /expected one of PHYS_UNKNOWN/, {code: 'LC_ERR_INPUT_INVALID', node: 'n05', url: '/physState', value: 'ON'}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {bmc: {mode: 'SNMP'}}}]}, 400, /bmc\/mode/, {code: 'LC_ERR_INPUT_INVALID'}],
    ['PATCH', '/api/v1/nodes', {nodes: ['n01', 'n99', 'n98'], set: {physState: 'POWER_ON'}}, 404, /no node n99, n98/, {code: 'LC_ERR_NODE_UNKNOWN', node: 'n99'}],
    ['PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {'nope.state': 'X'}}, 400, /unknown extension "nope"/, {code: 'LC_ERR_INPUT_INVALID'}],
    ['PATCH', '/api/v1/nodes', {nodes: ['n01']}, 400, /nothing to set/, {code: 'LC_ERR_INPUT_INVALID'}],
    ['PATCH', '/api/v1/nodes', {nodes: [], set: {physState: 'POWER_ON'}}, 400, /nodes/, {code: 'LC_ERR_INPUT_INVALID'}],
    ['PATCH', '/api/v1/nodes', {nodes: ['n01'], reset: ['bmc.address']}, 400, /only enum values/, {code: 'LC_ERR_INPUT_INVALID'}],
    ['PUT', '/api/v1/nodes/n01', {id: '00000000-0000-4000-8000-0000000000ff'}, 400, /id/, {code: 'LC_ERR_INPUT_INVALID'}],
    ['DELETE', '/api/v1/nodes', {nodes: ['n01', 'ghost']}, 404, /ghost/, {code: 'LC_ERR_NODE_UNKNOWN'}],
    ['DELETE', '/api/v1/nodes/head', undefined, 409, /own node/, {code: 'LC_ERR_NODE_CONFLICT'}],
    ['GET', '/api/v1/nodes/ghost', undefined, 404, /ghost/, {code: 'LC_ERR_NODE_UNKNOWN'}],
    ['GET', '/api/v1/nowhere', undefined, 404, /no route/, {code: 'LC_ERR_API_NO_ROUTE'}],
    ['PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {physState: 'POWER_OFF', runState: 'SYNC'}, resetUnknowable: true}, 409, /^node n01: this cfg can never converge: runState SYNC requires physState POWER_ON, but cfg has POWER_OFF$/, {code: 'LC_ERR_CFG_UNREACHABLE', node: 'n01'}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', physState: 'POWER_OFF', runState: 'SYNC'}]}, 409, /node n05: this cfg can never converge/, {code: 'LC_ERR_CFG_UNREACHABLE', node: 'n05'}],
  ];
  for (const [method, url, body, status, message, fields] of cases) {
    const r = await call(app, method, url, body);
    assert.is(r.status, status, `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, message, `${method} ${url}`);
    for (const [k, v] of Object.entries(fields)) assert.equal(r.body.error[k], v, `${method} ${url}: error.${k}`);
  }
  const raw = await app.inject({method: 'POST', url: '/api/v1/apply', payload: '{"nodes": [', headers: {'content-type': 'application/json', ...bearer}});
  assert.is(raw.statusCode, 400);
  assert.is(raw.json().error.code, 'LC_ERR_API_BAD_JSON');
  assert.is(JSON.stringify(daemon.store.list()), before, 'nothing changed');
});

api('PUT merges a partial node; ?replace=true replaces it; PATCH merges', async ({app, daemon}) => {
  await call(app, 'POST', '/api/v1/nodes', {nodes});
  const put = await call(app, 'PUT', '/api/v1/nodes/n02', {arch: 'amd64'});
  assert.is(put.status, 200);
  assert.is(put.body.arch, 'amd64');
  assert.is(put.body.extensions.bmc.address, '10.0.0.2', 'omitted fields are kept');
  assert.is(daemon.store.byName('n02')!.cfg.extensions.bmc.password, 'hunter2', 'a merge does not write the redaction back');
  const patch = await call(app, 'PATCH', '/api/v1/nodes/n02', {platform: 'ipmi'});
  assert.is(patch.body.arch, 'amd64');
  assert.is(patch.body.platform, 'ipmi');
  const replaced = await call(app, 'PUT', '/api/v1/nodes/n02?replace=true', {nodename: 'n02'});
  assert.is(replaced.body.arch, '');
  assert.equal(replaced.body.extensions, {});
});

api('apply: dry run returns the diff and changes nothing; apply writes it', async ({app, daemon}) => {
  await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'n01'}]});
  const dry = await call(app, 'POST', '/api/v1/apply?dryRun=true', {nodes: [{nodename: 'n01', arch: 'arm64'}, {nodename: 'n02'}]});
  assert.is(dry.status, 200);
  assert.is(dry.body.dryRun, true);
  assert.is(dry.body.created.length, 1);
  assert.is(dry.body.updated.length, 1);
  assert.ok(dry.body.changes.some((c: any) => c.nodename === 'n01' && c.url === '/arch' && c.value === 'arm64'));
  assert.equal(cfgNames(daemon), ['head', 'n01']);
  const real = await call(app, 'POST', '/api/v1/apply', [{nodename: 'n01', arch: 'arm64'}, {nodename: 'n02'}]);
  assert.is(real.body.dryRun, false);
  assert.equal(cfgNames(daemon), ['head', 'n01', 'n02']);
  const again = await call(app, 'POST', '/api/v1/apply', {nodes: [{nodename: 'n01', arch: 'arm64'}, {nodename: 'n02'}]});
  assert.is(again.body.unchanged.length, 2, 'idempotent');
});

api('set converges through the engine; why, path, history and power-off resets', async ({app, daemon}) => {
  await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'n01'}]});
  const set = await call(app, 'PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {physState: 'POWER_ON', runState: 'SYNC'}});
  assert.equal(set.body.changes.map((c: any) => c.url).sort(), ['/physState', '/runState']);
  await until(() => daemon.store.byName('n01')!.dsc.runState === 'SYNC', 5000, 'n01 to sync');
  const why = await call(app, 'GET', '/api/v1/nodes/n01/why');
  assert.is(why.body.converged, true);
  assert.match(why.body.summary, /converged/);
  const path = await call(app, 'GET', '/api/v1/nodes/n01/path');
  assert.is(path.body.nodename, 'n01');
  assert.equal(path.body.steps, []);
  const history = await call(app, 'GET', '/api/v1/nodes/n01/history');
  assert.ok(history.body.entries.some((e: any) => e.kind === 'dsc' && e.url === '/runState' && e.value === 'SYNC'));
  const off = await call(app, 'PATCH', '/api/v1/nodes?dryRun=true', {nodes: ['n01'], set: {physState: 'POWER_OFF'}, resetUnknowable: true});
  assert.equal(off.body.changes.map((c: any) => [c.url, c.value]).sort(), [['/extensions/power', {resume: {'/runState': 'SYNC'}}], ['/physState', 'POWER_OFF'], ['/runState', 'UNKNOWN']], 'what cannot hold while off is reset, and set aside for power on');
  assert.is(daemon.store.byName('n01')!.cfg.runState, 'SYNC', 'dry run changed nothing');
});

api('graph: whole and per node, JSON and DOT, stable ids and mutation names', async ({app}) => {
  await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'n01'}]});
  const g1 = await call(app, 'GET', '/api/v1/graph');
  const g2 = await call(app, 'GET', '/api/v1/graph');
  assert.equal(g1.body, g2.body);
  assert.ok(g1.body.edges.length > 0);
  for (const e of g1.body.edges) assert.match(e.id, new RegExp(`^${e.mutation}:`));
  assert.ok(g1.body.edges.some((e: any) => e.mutation === 'power/on'));
  const dot = await call(app, 'GET', '/api/v1/graph?format=dot');
  assert.match(String(dot.headers['content-type']), /graphviz/);
  assert.match(dot.body, /^digraph "layercake" \{/);
  assert.match(dot.body, /label="power\/on"/);
  const node = await call(app, 'GET', '/api/v1/nodes/n01/graph');
  assert.ok(Array.isArray(node.body.path));
  const nodeDot = await call(app, 'GET', '/api/v1/nodes/n01/graph?format=dot');
  assert.match(nodeDot.body, /^digraph "n01"/);
});

api('engine freeze, thaw, status; registry listings; metrics', async ({app}) => {
  assert.is((await call(app, 'POST', '/api/v1/engine/freeze')).body.frozen, true);
  assert.is((await call(app, 'GET', '/api/v1/engine')).body.frozen, true);
  assert.is((await call(app, 'POST', '/api/v1/engine/thaw')).body.frozen, false);
  const mutations = await call(app, 'GET', '/api/v1/mutations');
  assert.equal(mutations.body.mutations.map((m: any) => m.id), ['power/boot', 'power/discover', 'power/off', 'power/on', 'power/sync']);
  assert.is(mutations.body.mutations.find((m: any) => m.id === 'power/on').timeoutMs, 5000);
  const ext = await call(app, 'GET', '/api/v1/extensions');
  const bmc = ext.body.extensions.find((e: any) => e.name === 'bmc');
  assert.equal(bmc.secrets, ['/password']);
  assert.equal(bmc.enums['/extensions/bmc/mode'], ['NONE', 'IPMI', 'REDFISH']);
  const enums = await call(app, 'GET', '/api/v1/enumerables');
  assert.equal(enums.body.enumerables['/physState'][0], 'PHYS_UNKNOWN');
  const modules = await call(app, 'GET', '/api/v1/modules');
  assert.equal(modules.body.modules[0], {name: 'power', description: 'test power and boot', state: 'RUN', restarts: 0, startedAt: modules.body.modules[0].startedAt, mutations: 5, extensions: ['bmc']});
  const metrics = await call(app, 'GET', '/metrics');
  assert.match(String(metrics.headers['content-type']), /text\/plain/);
  assert.match(metrics.body, /layercake_nodes_phys_state\{state="POWER_ON"\} 0/);
  assert.match(metrics.body, /# TYPE layercake_mutations_started_total counter/);
  assert.match(metrics.body, /# TYPE process_cpu_user_seconds_total counter/); // prom-client's process metrics
});

api('the API over TCP needs the bearer token for every request but the health check, loopback included', async ({daemon}) => {
  const app = await buildApiServer({...daemon, listenAddress: '127.0.0.1:3141'});
  const noToken = {authorization: ''};
  try {
    assert.is((await call(app, 'GET', '/healthz', undefined, noToken)).status, 200);
    for (const url of ['/api/v1/nodes', '/metrics', '/api/v1/engine']) assert.is((await call(app, 'GET', url, undefined, noToken)).status, 401, url);
    const none = await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'x1'}]}, noToken);
    assert.is(none.status, 401);
    assert.is(none.body.error.code, 'LC_ERR_API_UNAUTHORIZED');
    assert.match(none.body.error.hint, /--token/);
    const wrong = await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'x1'}]}, {authorization: 'Bearer nope'});
    assert.is(wrong.status, 401);
    assert.match(wrong.body.error.message, /wrong/);
    assert.is((await call(app, 'POST', '/api/v1/engine/freeze', undefined, noToken)).status, 401);
    assert.is(daemon.engine.frozen, false);
    const ok = await call(app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'x1'}]}, {authorization: `Bearer ${TOKEN}`});
    assert.is(ok.status, 201);
    assert.equal(cfgNames(daemon), ['head', 'x1']);
  } finally {
    await app.close();
  }
});

api.run();
