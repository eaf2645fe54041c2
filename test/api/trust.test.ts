/**
 * Issue 14, the API's gate (points 4, 5, 7, 8): limits, cross-site requests, strict input and no secret
 * echoed. Each case checks the status, the error's code and wording, and that nothing changed.
 * Requests over a real loopback listener (the Host check needs a real socket) are at the end.
 */
import {request} from 'node:http';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import type {FastifyInstance} from 'fastify';
import WebSocket from 'ws';
import {buildApiServer, createApiServer} from '../../src/api/server/server.js';
import {Registry} from '../../src/model/registry.js';
import {syncExtension} from '../../src/sync/module.js';
import {TOKEN, testDaemon, type TestDaemon} from '../support/api-daemon.js';

interface Ctx {
  daemon: TestDaemon;
  app: FastifyInstance;
}

const gate = suite<Ctx>('gate');
gate.before.each(async (ctx) => {
  ctx.daemon = testDaemon();
  ctx.app = await buildApiServer(ctx.daemon);
  await send(ctx.app, 'POST', '/api/v1/nodes', {nodes: [{nodename: 'n01', extensions: {bmc: {address: '10.0.0.1', password: 'hunter2-SECRET'}}}]});
});
gate.after.each(async (ctx) => {
  await ctx.app.close();
  ctx.daemon.close();
});

const bearer = {authorization: `Bearer ${TOKEN}`};
/** A JSON request with the token; `raw` is sent as it is. */
async function send(app: FastifyInstance, method: string, url: string, body?: unknown, headers: Record<string, string> = {}, raw?: string) {
  const payload = raw ?? (body === undefined ? (method === 'GET' ? undefined : '{}') : JSON.stringify(body));
  const res = await app.inject({method: method as 'GET', url, payload, headers: {...bearer, ...(payload === undefined ? {} : {'content-type': 'application/json'}), ...headers}});
  return {status: res.statusCode, body: res.headers['content-type']?.includes('json') ? res.json() : res.body, text: res.body};
}
const snapshot = (d: TestDaemon) => JSON.stringify({nodes: d.store.list(), frozen: d.engine.frozen});

/** Every case: the status, the code, the message, and an unchanged store and engine. */
async function refused(ctx: Ctx, status: number, code: string, message: RegExp, method: string, url: string, body?: unknown, headers?: Record<string, string>, raw?: string) {
  const before = snapshot(ctx.daemon);
  const r = await send(ctx.app, method, url, body, headers, raw);
  assert.is(r.status, status, `${method} ${url}: ${r.text.slice(0, 300)}`);
  assert.is(r.body.error.code, code, r.text.slice(0, 300));
  assert.match(r.body.error.message, message);
  assert.is(snapshot(ctx.daemon), before, `${method} ${url}: nothing changed`);
  return r;
}

// ---- 4. Limits ----

gate('a body over api.bodyLimit is 413 naming the limit', async (ctx) => {
  const small = testDaemon({dir: ctx.daemon.dir});
  ctx.daemon.close();
  ctx.daemon = Object.assign(small, {apiLimits: {bodyLimit: 4096}});
  await ctx.app.close();
  ctx.app = await buildApiServer(ctx.daemon);
  const nodes = Array.from({length: 400}, (_, i) => ({nodename: `b${i}`}));
  await refused(ctx, 413, 'LC_ERR_API_TOO_LARGE', /the request body is over the limit of 4096 bytes \(api\.bodyLimit\)/, 'POST', '/api/v1/nodes', {nodes});
});

gate('a field over api.maxFieldBytes and a node over api.maxNodeBytes are 413 naming the limit', async (ctx) => {
  const r = await refused(ctx, 413, 'LC_ERR_API_TOO_LARGE', /\/nodes\/0\/arch: a string of 20000 bytes is over the limit of 16384 bytes \(api\.maxFieldBytes\)/,
    'POST', '/api/v1/nodes', {nodes: [{nodename: 'big', arch: 'x'.repeat(20_000)}]});
  assert.is(r.body.error.url, '/nodes/0/arch');
  const wide = {nodename: 'wide', extensions: {bmc: {address: 'a'.repeat(15_000)}}, arch: 'b'.repeat(15_000), platform: 'c'.repeat(15_000), services: Object.fromEntries(Array.from({length: 3}, (_, i) => [`s${i}`, {state: 'RUN', error: 'd'.repeat(15_000)}]))};
  await refused(ctx, 413, 'LC_ERR_API_TOO_LARGE', /node wide: the node is \d+ bytes, over the limit of 65536 bytes \(api\.maxNodeBytes\)/, 'POST', '/api/v1/apply', {nodes: [wide]});
  // Small writes that would make a stored node too large are refused as well.
  await send(ctx.app, 'PUT', '/api/v1/nodes/n01', {arch: 'e'.repeat(15_000), platform: 'f'.repeat(15_000)});
  await send(ctx.app, 'PUT', '/api/v1/nodes/n01', {extensions: {bmc: {address: 'g'.repeat(15_000)}}});
  await send(ctx.app, 'PUT', '/api/v1/nodes/n01', {services: {a: {state: 'RUN', error: 'h'.repeat(15_000)}}});
  await refused(ctx, 413, 'LC_ERR_API_TOO_LARGE', /node n01: the node is \d+ bytes, over the limit of 65536 bytes/, 'PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {'services.b.error': 'i'.repeat(15_000), 'services.b.state': 'RUN'}});
});

gate('nesting deeper than 32 levels is 400, even 100,000 levels (was a 500)', async (ctx) => {
  const deep = `{"nodes": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
  await refused(ctx, 400, 'LC_ERR_API_TOO_DEEP', /nests deeper than 32 levels/, 'POST', '/api/v1/apply', undefined, {}, deep);
  const justOver = `{"nodes": [{"nodename": "n02", "extensions": {"bmc": ${'{"a":'.repeat(31)}1${'}'.repeat(31)}}}]}`;
  await refused(ctx, 400, 'LC_ERR_API_TOO_DEEP', /nests deeper than 32 levels/, 'POST', '/api/v1/apply', undefined, {}, justOver);
  const brackets = '{"nodes": [{"nodename": "n02", "arch": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}]}';
  assert.is((await send(ctx.app, 'POST', '/api/v1/apply', undefined, {}, brackets)).status, 200, 'brackets inside strings do not count');
});

// ---- 5. Cross-site requests ----

gate('a change that is not application/json is 415 (a page can post text/plain across sites)', async (ctx) => {
  await refused(ctx, 415, 'LC_ERR_API_MEDIA_TYPE', /a change needs Content-Type: application\/json \(got "text\/plain"\)/, 'POST', '/api/v1/engine/freeze', undefined, {'content-type': 'text/plain'}, '{}');
  await refused(ctx, 415, 'LC_ERR_API_MEDIA_TYPE', /application\/x-www-form-urlencoded/, 'POST', '/api/v1/nodes', undefined, {'content-type': 'application/x-www-form-urlencoded'}, 'nodename=n09');
  const none = await ctx.app.inject({method: 'POST', url: '/api/v1/engine/freeze', headers: bearer});
  assert.is(none.statusCode, 415, 'no Content-Type at all');
  assert.is(ctx.daemon.engine.frozen, false);
  assert.is((await send(ctx.app, 'POST', '/api/v1/engine/freeze', {}, {'content-type': 'application/json; charset=utf-8'})).status, 200, 'JSON with a charset is JSON');
});

gate('a foreign Origin is 403, for changes and reads', async (ctx) => {
  await refused(ctx, 403, 'LC_ERR_API_FOREIGN_ORIGIN', /requests from web pages of another origin \(http:\/\/evil\.example\) are refused/, 'POST', '/api/v1/engine/freeze', {}, {origin: 'http://evil.example'});
  await refused(ctx, 403, 'LC_ERR_API_FOREIGN_ORIGIN', /another origin \(null\)/, 'POST', '/api/v1/engine/freeze', {}, {origin: 'null'});
  assert.is((await send(ctx.app, 'GET', '/api/v1/nodes', undefined, {origin: 'http://evil.example'})).status, 403);
  assert.is((await send(ctx.app, 'GET', '/api/v1/nodes', undefined, {origin: 'http://localhost:80', host: 'localhost:80'})).status, 200, 'same origin');
});

// ---- 7. Strict input ----

gate('an unknown key inside an extension is 400 with "did you mean"', async (ctx) => {
  const r = await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /node n01: \/extensions\/bmc: unknown field pasword \(did you mean password\?\)/, 'PUT', '/api/v1/nodes/n01', {extensions: {bmc: {pasword: 'x'}}});
  assert.is(r.body.error.url, '/extensions/bmc');
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /unknown field nodenme \(did you mean nodename\?\)/, 'POST', '/api/v1/apply', {nodes: [{nodename: 'n03', nodenme: 'x'}]});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /unknown extension \(did you mean bmc\?\)/, 'POST', '/api/v1/apply', {nodes: [{nodename: 'n03', extensions: {bmx: {}}}]});
});

gate('"additional properties" errors name the property', async (ctx) => {
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /^body: unknown field sett \(did you mean set\?\)/, 'PATCH', '/api/v1/nodes', {nodes: ['n01'], sett: {arch: 'x'}});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /^query: unknown field dryrun \(did you mean dryRun\?\)/, 'POST', '/api/v1/apply?dryrun=true', {nodes: [{nodename: 'n01'}]});
});

gate('an invalid JSON pointer escape (~2) is 400', async (ctx) => {
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /"\/extensions\/bmc\/pass~2word" is not a valid JSON Pointer: "~" must be followed by 0 or 1/, 'PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {'/extensions/bmc/pass~2word': 'x'}});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /not a valid JSON Pointer/, 'PATCH', '/api/v1/nodes/n01/dsc', {set: {'/arch~': 'x'}});
});

gate('__proto__ and constructor keys are 400 saying so', async (ctx) => {
  for (const key of ['__proto__', 'constructor']) {
    await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', new RegExp(`/nodes/0/extensions/${key}: the key "${key}" is not allowed \\(it could reach an object's prototype\\)`),
      'POST', '/api/v1/apply', undefined, {}, `{"nodes": [{"nodename": "n04", "extensions": {"${key}": {"polluted": true}}}]}`);
  }
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

gate('an empty or missing nodename is 400 (three nodes named "" could be created)', async (ctx) => {
  const count = () => ctx.daemon.store.list().length;
  const before = count();
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /nodes\/0\/nodename: a node needs a nodename \(it may not be empty\)/, 'POST', '/api/v1/nodes', {nodes: [{nodename: ''}, {nodename: ''}, {nodename: ''}]});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /nodes\/0\/nodename: a node needs a nodename/, 'POST', '/api/v1/nodes', {nodes: [{arch: 'amd64'}]});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /nodename/, 'POST', '/api/v1/apply', {nodes: [{physState: 'POWER_ON'}]});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /a nodename may not be empty/, 'PUT', '/api/v1/nodes/n01', {nodename: ''});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /nodename/, 'PUT', '/api/v1/nodes/n01?replace=true', {arch: 'amd64'});
  await refused(ctx, 400, 'LC_ERR_INPUT_INVALID', /a nodename may not be empty/, 'PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {nodename: ''}});
  assert.is(count(), before);
});

// ---- 8. No secret echoed ----

gate('a rejected body never echoes a secret: the path and the reason only', async (ctx) => {
  const secret = 'hunter2-SECRET-PASSWORD';
  const bodies: [string, string, unknown][] = [
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {bmc: {password: secret, mode: 'SNMP'}}}]}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {bmc: {password: 12345678}}}]}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {bmc: {mode: secret}}}]}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: secret.replaceAll('-', '!')}]}],
    ['PATCH', '/api/v1/nodes', {nodes: ['n01'], set: {'bmc.password': {nested: secret}}}],
    ['POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {bmc: {pasword: secret}}}]}],
  ];
  for (const [method, url, body] of bodies) {
    const before = snapshot(ctx.daemon);
    const r = await send(ctx.app, method, url, body);
    assert.is(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.not.match(r.text, /hunter2|12345678|PASSWORD/, `no secret in ${r.text}`);
    assert.ok(r.body.error.url, `the path is named: ${r.text}`);
    assert.is(snapshot(ctx.daemon), before);
  }
  const mode = await send(ctx.app, 'POST', '/api/v1/apply', {nodes: [{nodename: 'n05', extensions: {bmc: {password: 7}}}]});
  assert.match(mode.body.error.message, /\/extensions\/bmc\/password: expected string, got a number/);
  const enumValue = await send(ctx.app, 'POST', '/api/v1/apply', {nodes: [{nodename: 'n05', physState: 'ON'}]});
  assert.match(enumValue.body.error.message, /got "ON"/, 'an enum\'s value is shown (it is never secret)');
});

gate('the join secret is never echoed either (the registry\'s rule, not a list of fields)', () => {
  const registry = new Registry();
  registry.registerExtension(syncExtension, 'sync');
  const secret = 'not-hex-' + 'Z'.repeat(56);
  try {
    registry.validateNode({id: '00000000-0000-4000-8000-000000000009', nodename: 'n09', extensions: {sync: {joinSecret: secret}}});
    assert.unreachable();
  } catch (error) {
    const e = error as Error & {toJSON(): unknown};
    assert.match(e.message, /\/extensions\/sync\/joinSecret: expected 64 hex digits .*, got a string of 64 characters/);
    assert.not.match(JSON.stringify(e.toJSON()) + e.message, /ZZZZ/);
  }
});

gate.run();

// ---- 5. The Host header on a real loopback listener (DNS rebinding) ----

const host = suite('host header on loopback');
host('only localhost, 127.0.0.1 and [::1] with the right port, or api.allowedHosts', async () => {
  const daemon = Object.assign(testDaemon(), {apiLimits: {allowedHosts: ['head.example']}});
  const server = await createApiServer(daemon);
  const port = Number(server.address.split(':').pop());
  const get = (hostHeader: string, method = 'GET') => new Promise<{status: number; body: string}>((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, method, path: method === 'GET' ? '/api/v1/engine' : '/api/v1/engine/freeze', headers: {host: hostHeader, ...bearer, 'content-type': 'application/json'}}, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({status: res.statusCode!, body}));
    });
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : '{}');
  });
  try {
    for (const ok of [`localhost:${port}`, `127.0.0.1:${port}`, `head.example:${port}`, `LOCALHOST:${port}`]) assert.is((await get(ok)).status, 200, ok);
    for (const bad of ['evil.example', `evil.example:${port}`, `localhost:${port + 1}`, 'localhost', `127.0.0.1.evil.example:${port}`]) {
      const r = await get(bad, 'POST');
      assert.is(r.status, 403, `${bad}: ${r.body}`);
      assert.match(JSON.parse(r.body).error.code, /LC_ERR_API_BAD_HOST/);
    }
    assert.is(daemon.engine.frozen, false, 'nothing changed');
  } finally {
    await server.close();
    daemon.close();
  }
});
host('the event stream (WebSocket) is refused to a foreign Origin and without the token', async () => {
  const daemon = testDaemon();
  const server = await createApiServer(daemon);
  const status = (headers: Record<string, string>) => new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://${server.address}/api/v1/events`, {headers});
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      ws.terminate();
    });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', reject);
  });
  try {
    assert.is(await status({...bearer, origin: 'http://evil.example'}), 403);
    assert.is(await status({}), 401);
    assert.is(await status(bearer), 101);
  } finally {
    await server.close();
    daemon.close();
  }
});
host.run();
