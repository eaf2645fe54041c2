/**
 * The zod schemas of the API's requests and answers: fastify validates every body, query and path with
 * the request schemas (through `zodValidator`), and GET /api/v1/openapi.json is generated from the same
 * schemas (src/api/openapi.ts), so the description cannot drift from what is enforced. A node's own fields
 * and its extensions are validated by the registry (their schemas come from the plugins); here a node is
 * an object with a nodename, and the OpenAPI document fills in the registry's schemas.
 */
import {z} from 'zod';
import {ValidationError} from '../../model/errors.js';
import {issueText, keysAt, type AnySchema} from '../../model/issues.js';
import {BUSY_STATES, PHYS_STATES, RUN_STATES, SERVICE_STATES} from '../../model/node.js';
import {getAt, joinPointer} from '../../model/url.js';

const flag = z.enum(['true', 'false']).transform((v) => v === 'true').optional();
const nodeRef = z.string().min(1).max(256);
const nodeRefs = z.array(nodeRef).min(1);

/** A node as written: any node field; a nodename is required and not empty (the registry checks the rest). */
export const nodeInput = z.looseObject({
  nodename: z.string({error: 'a node needs a nodename'}).min(1, 'a node needs a nodename (it may not be empty)'),
});
/** A node merged into an existing one: every field optional, a nodename not empty when given. */
export const nodePatch = z.looseObject({
  nodename: z.string().min(1, 'a nodename may not be empty').optional(),
});

export const requests = {
  viewQuery: z.strictObject({view: z.enum(['both', 'cfg', 'dsc', 'merged']).optional()}),
  formatQuery: z.strictObject({format: z.enum(['json', 'dot']).optional()}),
  idParams: z.strictObject({id: nodeRef}),
  createBody: z.union([nodeInput, z.array(nodeInput).min(1), z.strictObject({nodes: z.array(nodeInput).min(1)})]),
  applyQuery: z.strictObject({dryRun: flag, prune: flag}),
  /** Apply merges a partial node into the one its id or nodename names; a new node needs its nodename (checked by the route). */
  applyBody: z.union([z.array(nodePatch), z.strictObject({nodes: z.array(nodePatch)})]),
  replaceQuery: z.strictObject({replace: flag}),
  nodePatch,
  dryRunQuery: z.strictObject({dryRun: flag}),
  setBody: z.strictObject({
    nodes: nodeRefs,
    set: z.record(z.string().min(1), z.unknown()).optional(),
    reset: z.array(z.string().min(1)).optional(),
    resetUnknowable: z.boolean().optional(),
  }),
  deleteBody: z.strictObject({nodes: nodeRefs}),
  discoverBody: z.strictObject({set: z.record(z.string().min(1), z.unknown())}),
  /** Changes that take no arguments still send `{}` (a change is always JSON: docs/api.md, "Cross-site requests"). */
  emptyBody: z.strictObject({}).optional(),
  eventsQuery: z.strictObject({types: z.string().optional(), nodes: z.string().optional(), urls: z.string().optional()}),
};

/** Any JSON value (non-recursive in the description: a JSON body cannot be anything else). */
const json = z.unknown();
/** A node as the API returns it (secrets as "(secret)"). */
export const nodeOutput = z.looseObject({
  id: z.string(), nodename: z.string(), parentId: z.string(), arch: z.string(), platform: z.string(),
  physState: z.enum(PHYS_STATES), runState: z.enum(RUN_STATES), busy: z.enum(BUSY_STATES),
  extensions: z.record(z.string(), z.record(z.string(), json)),
  services: z.record(z.string(), z.object({state: z.enum(SERVICE_STATES), error: z.string().optional()})),
});
const change = z.object({id: z.string(), nodename: z.string(), url: z.string(), previous: json.optional(), value: json.optional()});
const applyResult = z.object({dryRun: z.boolean(), created: z.array(nodeOutput), updated: z.array(nodeOutput), unchanged: z.array(nodeOutput), deleted: z.array(nodeOutput), changes: z.array(change)});
const stepStatus = z.enum(['pending', 'new', 'running', 'requeued', 'waiting-module', 'waiting-slot', 'elsewhere']);
const why = z.looseObject({nodeId: z.string(), nodename: z.string(), converged: z.boolean(), summary: z.string(), differences: z.array(z.looseObject({url: z.string()})), plan: z.array(z.string()), frozen: z.boolean()});
const graph = z.object({
  nodes: z.array(z.object({id: z.string(), label: z.string(), spec: z.record(z.string(), json)})),
  edges: z.array(z.object({id: z.string(), from: z.string(), to: z.string(), mutation: z.string()})),
  path: z.array(z.string()).optional(),
});
const engineStatus = z.looseObject({frozen: z.boolean(), nodes: z.number(), converged: z.number(), active: z.number(), waiting: z.number(), blocked: z.number(), held: z.number()});

export const answers = {
  error: z.object({error: z.object({
    code: z.string(), message: z.string(), node: z.string().optional(), url: z.string().optional(),
    value: json.optional(), expected: z.string().optional(), hint: z.string().optional(),
  })}),
  health: z.object({ok: z.literal(true), id: z.string(), version: z.string(), uptimeSeconds: z.number(), nodes: z.number(), frozen: z.boolean(), tokenRequired: z.boolean()}),
  nodeViews: z.object({nodes: z.array(z.union([z.object({cfg: nodeOutput, dsc: nodeOutput}), nodeOutput]))}),
  nodeView: z.union([z.object({cfg: nodeOutput, dsc: nodeOutput}), nodeOutput]),
  nodes: z.object({nodes: z.array(nodeOutput)}),
  node: nodeOutput,
  apply: applyResult,
  deleted: z.object({deleted: z.array(nodeOutput)}),
  why,
  path: z.looseObject({nodeId: z.string(), nodename: z.string(), steps: z.array(z.object({mutation: z.string(), status: stepStatus}))}),
  history: z.object({nodeId: z.string(), nodename: z.string(), entries: z.array(z.looseObject({time: z.number(), kind: z.string()}))}),
  graph,
  engine: engineStatus,
  mutations: z.object({mutations: z.array(z.looseObject({id: z.string(), module: z.string(), name: z.string()}))}),
  extensions: z.object({extensions: z.array(z.looseObject({name: z.string(), module: z.string()}))}),
  enumerables: z.object({enumerables: z.record(z.string(), z.array(z.string()))}),
  modules: z.object({modules: z.array(z.looseObject({name: z.string(), state: z.enum(SERVICE_STATES)}))}),
  sync: z.looseObject({enabled: z.boolean()}),
  openapi: z.looseObject({openapi: z.string()}),
};

/** A zod issue as `where: what`, naming the property and never showing a value. */
function describeIssue(schema: z.ZodType, data: unknown, issue: z.core.$ZodIssue, part: string): ValidationError {
  const path = issue.path.map(String);
  const url = joinPointer(path);
  const text = issueText(issue, getAt(data, url), false, () => keysAt(schema as unknown as AnySchema, issue.path));
  return new ValidationError(`${part}${url}: ${text}`, {url: url || undefined, hint: 'see docs/api.md for the request shapes (GET /api/v1/openapi.json describes them)'});
}

/**
 * fastify's validatorCompiler for zod schemas: the parsed value (defaults, transforms) replaces the
 * request part; a failure is a ValidationError naming the part, the path and the reason. Union failures
 * report the branch that got furthest (the longest path).
 */
export function zodValidator({schema, httpPart}: {schema: unknown; httpPart?: string}): (data: unknown) => {value?: unknown; error?: Error} {
  const zod = schema as z.ZodType;
  const part = httpPart === 'querystring' ? 'query' : httpPart ?? 'body';
  return (data) => {
    const result = zod.safeParse(data);
    if (result.success) return {value: result.data};
    const issues = result.error.issues.flatMap((i) => (i.code === 'invalid_union' ? i.errors.flat() : [i]));
    const issue = issues.reduce((a, b) => (b.path.length > a.path.length ? b : a));
    return {error: describeIssue(zod, data, issue, part)};
  };
}
