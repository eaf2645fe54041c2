/** The OpenAPI 3.1 description of the service, generated from the same zod schemas that validate requests. */
import {z} from '@layercake/sdk';
import {attach, container, mount} from './models.js';

export function openApiDocument(base: string, version: string): Record<string, unknown> {
  const registry = z.registry<{id: string}>();
  registry.add(attach, {id: 'Attach'});
  registry.add(mount, {id: 'Mount'});
  registry.add(container, {id: 'Container'});
  const generated = z.toJSONSchema(registry, {uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any'}) as {schemas: Record<string, Record<string, unknown>>};
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(generated.schemas)) {
    const {$schema: _drop, ...rest} = schema;
    schemas[name] = rest;
  }
  schemas.Error = {
    type: 'object', required: ['code', 'message'],
    properties: {code: {type: 'integer'}, message: {type: 'string'}, field: {type: 'string', description: 'the request field at fault (400)'}},
  };
  schemas.Info = {
    type: 'object',
    properties: {
      version: {type: 'string'}, api: {type: 'string'}, simulate: {type: 'boolean'}, state_dir: {type: 'string'}, generation: {type: 'integer'},
      drivers: {type: 'object', additionalProperties: {type: 'object', properties: {available: {type: 'boolean'}, reason: {type: 'string'}}}},
    },
  };
  const ref = (name: string) => ({$ref: `#/components/schemas/${name}`});
  const json = (schema: unknown) => ({content: {'application/json': {schema}}});
  const errors = {
    400: {description: 'Bad request: the field at fault is named', ...json(ref('Error'))},
    404: {description: 'No such object', ...json(ref('Error'))},
    409: {description: 'Conflict: exists with another spec, in use, or running', ...json(ref('Error'))},
    500: {description: 'The operation failed on this node', ...json(ref('Error'))},
    501: {description: 'Not available on this node (e.g. no rbd or iscsiadm tool)', ...json(ref('Error'))},
  };
  const q = (name: string, schema: Record<string, unknown>, description: string, required = false) => ({name, in: 'query', required, description, schema});
  const idQ = (required = false) => q('id', {type: 'integer', minimum: 1}, 'the object id', required);
  const force = q('force', {type: 'boolean', default: false}, 'release even while in use (attach, mount) or stop first (container)');
  const collection = (name: string, kinds: string[], what: string) => ({
    get: {summary: `List ${what}s`, parameters: [idQ(), q('kind', {type: 'string', enum: kinds}, 'only this kind')], responses: {200: {description: 'OK', ...json({type: 'array', items: ref(name)})}}},
    post: {
      summary: `Create a${/^[aeiou]/i.test(what) ? 'n' : ''} ${what} (or return the existing one with the same spec)`,
      requestBody: {required: true, ...json(ref(name))},
      responses: {200: {description: 'It existed already', ...json(ref(name))}, 201: {description: 'Created', ...json(ref(name))}, ...errors},
    },
    delete: {summary: `Release the API's reference to a${/^[aeiou]/i.test(what) ? 'n' : ''} ${what}; it is destroyed with its last user`, parameters: [idQ(true), force], responses: {200: {description: 'Released', ...json(ref(name))}, ...errors}},
  });
  const byName = [idQ(), q('name', {type: 'string'}, 'the container name')];
  return {
    openapi: '3.1.0',
    info: {
      title: 'layercake ImageAPI', version,
      description: 'Attach and mount system images on this node and run them as containers (mount, PID, IPC and UTS namespaces). Nested objects are reference counted.',
    },
    servers: [{url: base}],
    paths: {
      '/attach': collection('Attach', ['loopback', 'local', 'rbd', 'iscsi', 'http'], 'attachment'),
      '/mount': collection('Mount', ['attach', 'bind', 'nfs', 'overlay'], 'mount'),
      '/container': {
        get: {summary: 'List containers', parameters: [...byName, q('state', {type: 'string', enum: ['created', 'running', 'stopping', 'exited', 'dead']}, 'only in this state')], responses: {200: {description: 'OK', ...json({type: 'array', items: ref('Container')})}}},
        post: {summary: 'Create a container (state "running" starts it); the same name and spec returns the existing one', requestBody: {required: true, ...json(ref('Container'))},
          parameters: [q('replace', {type: 'boolean', default: false}, 'replace a container of the same name: the new mount is prepared first, then the old container is stopped, the new one started, and what only the old one used is released')],
          responses: {200: {description: 'It existed already', ...json(ref('Container'))}, 201: {description: 'Created', ...json(ref('Container'))}, ...errors}},
        patch: {summary: 'Start (running) or stop (exited) a container', parameters: [...byName, q('state', {type: 'string', enum: ['running', 'exited']}, 'the new state', true)], responses: {200: {description: 'Done', ...json(ref('Container'))}, ...errors}},
        delete: {summary: 'Delete a container that is not running (force stops it first); its mount is released', parameters: [...byName, force], responses: {200: {description: 'Deleted', ...json(ref('Container'))}, ...errors}},
      },
      '/container/log': {get: {summary: 'The end of a container\'s log', parameters: [...byName, q('tail', {type: 'integer', default: 100}, 'lines')], responses: {200: {description: 'Log lines', content: {'text/plain': {schema: {type: 'string'}}}}, ...errors}}},
      '/watch': {get: {summary: 'Long poll: returns when the object table changes past `since`, or after `timeout` ms', parameters: [q('since', {type: 'integer', default: 0}, 'the generation last seen'), q('timeout', {type: 'integer', default: 25000}, 'milliseconds (max 120000)')],
        responses: {200: {description: 'The current generation', ...json({type: 'object', properties: {generation: {type: 'integer'}}})}}}},
      '/info': {get: {summary: 'Version, mode and which drivers this node has', responses: {200: {description: 'OK', ...json(ref('Info'))}}}},
    },
    components: {schemas},
  };
}
