/**
 * Fuzzes a live daemon from its own description (issue 14 point 10): GET /api/v1/openapi.json, checked
 * against the OpenAPI 3.1 meta-schema (@seriousme/openapi-schema-validator); then, for every operation, a
 * bounded number of requests (RUNS) built by fast-check from the operation's schemas: mostly valid
 * parameters and bodies, some with any JSON instead, some with unknown keys, some nested up to 20,000 deep. Every answer must be below
 * 500 and match the description of its status (ajv, JSON Schema 2020-12). A failure prints fast-check's
 * seed and the shrunk request. Bounded: RUNS requests per operation (LC_FUZZ_RUNS), well under 3 minutes.
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {Validator} from '@seriousme/openapi-schema-validator';
import {Ajv2020} from 'ajv/dist/2020.js';
import fc from 'fast-check';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {type DaemonProcess, isolatedConfig, sandbox} from '../support/cli.js';

const RUNS = Number(process.env.LC_FUZZ_RUNS ?? 100);
type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  parameters?: {name: string; in: 'path' | 'query'; required?: boolean; schema: Schema}[];
  requestBody?: {required?: boolean; content: {'application/json': {schema: Schema}}};
  responses: Record<string, {content?: Record<string, {schema: Schema}>}>;
}

const box = sandbox('lc-fuzz-');
let daemon: DaemonProcess;
let token: string;
let doc: Schema;
test.after(async () => {
  await box.cleanup();
});

const NAMES = ['n01', 'n02', 'n03'];

/** A fast-check arbitrary for values of a JSON Schema (the subset zod's toJSONSchema writes). */
function arbitraryOf(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) return arbitraryOf(resolveRef(schema.$ref), depth);
  const anyJson = fc.jsonValue({maxDepth: 2});
  if (depth > 6) return anyJson;
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return fc.oneof(...branches.map((b: Schema) => arbitraryOf(b, depth + 1)));
  if ('const' in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'string':
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 200) && s.length >= (schema.minLength ?? 0));
      return fc.oneof(fc.constantFrom(...NAMES, 'head', 'POWER_ON', '/physState', 'pxe.state', 'arch'), fc.string({minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40)}));
    case 'integer':
      return fc.integer({min: schema.minimum ?? -1000, max: schema.maximum ?? 100_000});
    case 'number':
      return fc.double({noNaN: true, noDefaultInfinity: true});
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(schema.items ? arbitraryOf(schema.items, depth + 1) : anyJson, {minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, 3)});
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const model = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, arbitraryOf(v, depth + 1)]));
      const record = fc.record(model, {requiredKeys: (schema.required ?? []).filter((k: string) => k in properties)});
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        return fc.tuple(record, fc.dictionary(fc.constantFrom('a', 'physState', 'pxe.state', '/arch', 'x~1y'), arbitraryOf(schema.additionalProperties, depth + 1), {maxKeys: 2}))
          .map(([r, extra]) => ({...extra, ...r}));
      }
      return record;
    }
    default:
      return anyJson;
  }
}

function resolveRef(ref: string): Schema {
  return ref.replace(/^#\//, '').split('/').reduce((at: Schema, key) => at[key], doc);
}

/** A body sent as it is (too deep for JSON.stringify and fast-check's printer to walk). */
class RawBody {
  constructor(readonly text: string) {}
  toString(): string {
    return `RawBody(${this.text.length} bytes)`;
  }
}

/** Mostly valid, sometimes any JSON, sometimes with a key the description does not know. */
function fuzzed(schema: Schema): fc.Arbitrary<unknown> {
  const valid = arbitraryOf(schema);
  return fc.oneof(
    {weight: 6, arbitrary: valid},
    {weight: 2, arbitrary: fc.jsonValue({maxDepth: 3})},
    {weight: 1, arbitrary: valid.map((v) => (v && typeof v === 'object' && !Array.isArray(v) ? {...v, pasword: 'x'} : v))},
    {weight: 1, arbitrary: fc.integer({min: 20, max: 20_000}).map((depth) => new RawBody(`{"nodes": ${'['.repeat(depth)}${']'.repeat(depth)}}`))},
  );
}

function operations(): Operation[] {
  return Object.entries(doc.paths as Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({...op, method: method.toUpperCase(), path})));
}

const ajv = new Ajv2020({strict: false, allErrors: false, validateFormats: false});
const validators = new Map<string, ReturnType<typeof ajv.compile>>();
function validatorFor(schema: Schema) {
  const key = JSON.stringify(schema);
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile(schema);
    validators.set(key, v);
  }
  return v;
}

/** Replace `#/components/...` refs by the schemas (ajv compiles each answer's schema on its own). */
function inline(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inline);
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Schema;
  if (typeof s.$ref === 'string') return inline(resolveRef(s.$ref));
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, inline(v)]));
}

test('the daemon publishes a valid OpenAPI 3.1 description, generated from its schemas', async () => {
  await isolatedConfig(box);
  daemon = await box.startDaemon({args: ['--listen', '127.0.0.1:0']});
  token = readFileSync(join(box.dir, 'state', 'token'), 'utf8').trim();
  const res = await fetch(`${daemon.url}/api/v1/openapi.json`, {headers: {authorization: `Bearer ${token}`}});
  assert.is(res.status, 200);
  doc = await res.json() as Schema;
  assert.is(doc.openapi, '3.1.0');
  const result = await new Validator().validate(structuredClone(doc));
  assert.ok(result.valid, String(JSON.stringify(result.errors)).slice(0, 1000));
  assert.ok(doc.paths['/api/v1/apply'].post.requestBody.content['application/json'].schema, 'bodies are described');
  assert.ok(operations().length >= 20, `${operations().length} operations`);
});

test(`every operation, ${RUNS} fuzzed requests each: no 5xx, every answer as described`, async () => {
  await fetch(`${daemon.url}/api/v1/nodes`, {method: 'POST', headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'}, body: JSON.stringify({nodes: NAMES.map((nodename) => ({nodename}))})});
  let requests = 0;
  for (const op of operations()) {
    if (op.path === '/api/v1/openapi.json' && op.method === 'GET') continue; // fetched above; large
    const params = op.parameters ?? [];
    const pathParams = params.filter((p) => p.in === 'path');
    const queryParams = params.filter((p) => p.in === 'query');
    const bodySchema = op.requestBody?.content['application/json'].schema;
    const arb = fc.record({
      path: fc.record(Object.fromEntries(pathParams.map((p) => [p.name, fc.oneof(fc.constantFrom(...NAMES, 'head'), fc.string({minLength: 1, maxLength: 20}))]))),
      query: fc.record(Object.fromEntries(queryParams.map((p) => [p.name, fc.oneof(arbitraryOf(p.schema).map(String), fc.string({maxLength: 10}))])), {requiredKeys: []}),
      body: bodySchema ? fuzzed(bodySchema) : fc.constant(op.method === 'GET' ? undefined : {}),
    });
    await fc.assert(fc.asyncProperty(arb, async (input) => {
      requests++;
      let url = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(String(input.path[name])));
      const query = new URLSearchParams(Object.entries(input.query).map(([k, v]) => [k, String(v)])).toString();
      if (query) url += `?${query}`;
      const res = await fetch(`${daemon.url}${url}`, {
        method: op.method,
        headers: {authorization: `Bearer ${token}`, ...(input.body === undefined ? {} : {'content-type': 'application/json'})},
        body: input.body === undefined ? undefined : input.body instanceof RawBody ? input.body.text : JSON.stringify(input.body),
      });
      const text = await res.text();
      const where = `${op.method} ${url} ${input.body instanceof RawBody ? String(input.body) : JSON.stringify(input.body)?.slice(0, 300)} -> ${res.status} ${text.slice(0, 300)}`;
      if (res.status >= 500) throw new Error(`5xx: ${where}`);
      const described = op.responses[String(res.status)] ?? op.responses[`${String(res.status)[0]}XX`];
      if (!described) throw new Error(`status ${res.status} is not described: ${where}`);
      const type = (res.headers.get('content-type') ?? '').split(';')[0];
      if (!described.content?.[type]) throw new Error(`content type ${type} is not described: ${where}`);
      if (type !== 'application/json') return;
      const validate = validatorFor(inline(described.content[type].schema) as Schema);
      if (!validate(JSON.parse(text))) throw new Error(`the answer breaks the description (${ajv.errorsText(validate.errors)}): ${where}`);
    }), {numRuns: RUNS, endOnFailure: true});
  }
  console.log(`  ${requests} requests over ${operations().length - 1} operations`);
  assert.ok((await fetch(`${daemon.url}/healthz`)).ok, 'the daemon still answers');
});

test.run();
