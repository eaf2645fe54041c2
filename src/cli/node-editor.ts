/**
 * The interactive editor behind `layercake node set NODES` with no assignment: pick a field from the
 * URLs the daemon knows (core fields and every registered extension's fields), pick its value from the
 * enum or type it, repeat, then see the diff (a dry run on the daemon) and confirm it.
 */
import {confirm, input, search, select} from '@inquirer/prompts';
import type {ApiClient} from '../api/client/client.js';
import type {ApplyResult, ExtensionInfo, JsonValue, NodeView} from '../api/types.js';
import {getAt, toShorthand} from '../model/url.js';
import {CliError} from './errors.js';
import {applySummary, enumAt, type Enumerables, formatChanges, formatValue} from './output.js';

export interface EditableField {
  pointer: string;
  /** JSON type from the schema: string, number, integer, boolean, array, object. */
  type: string;
  enum?: readonly string[];
  description?: string;
}

interface JsonSchemaNode {
  type?: string | string[];
  enum?: string[];
  properties?: Record<string, JsonSchemaNode>;
  description?: string;
}

const CORE_FIELDS: EditableField[] = [
  {pointer: '/physState', type: 'string'},
  {pointer: '/runState', type: 'string'},
  {pointer: '/busy', type: 'string'},
  {pointer: '/arch', type: 'string', description: 'CPU architecture, e.g. amd64'},
  {pointer: '/platform', type: 'string', description: 'hardware platform, e.g. ipmi'},
  {pointer: '/parentId', type: 'string', description: 'id of the daemon that manages the node'},
];

/** Every field a node may have: core fields, then each extension's (nested) fields; secrets last-but-editable. */
export function editableFields(extensions: readonly ExtensionInfo[], enums: Enumerables): EditableField[] {
  const out = CORE_FIELDS.map((f) => ({...f, enum: enumAt(enums, f.pointer)}));
  const walk = (schema: JsonSchemaNode, pointer: string) => {
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type ?? 'string';
    if (type === 'object' && schema.properties) {
      for (const [k, v] of Object.entries(schema.properties)) walk(v, `${pointer}/${k}`);
      return;
    }
    out.push({pointer, type, enum: enumAt(enums, pointer) ?? schema.enum, description: schema.description});
  };
  for (const ext of extensions) walk(ext.jsonSchema as JsonSchemaNode, `/extensions/${ext.name}`);
  return out;
}

/** Parse typed text into the field's JSON type; a message when it does not fit. */
export function parseFieldValue(field: EditableField, text: string): {value?: JsonValue; error?: string} {
  if (field.type === 'number' || field.type === 'integer') {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || (field.type === 'integer' && !Number.isInteger(n))) return {error: `expected ${field.type === 'integer' ? 'an integer' : 'a number'}`};
    return {value: n};
  }
  if (field.type === 'boolean') {
    if (text === 'true' || text === 'false') return {value: text === 'true'};
    return {error: 'expected true or false'};
  }
  if (field.type === 'array' || field.type === 'object') {
    try {
      return {value: JSON.parse(text) as JsonValue};
    } catch {
      return {error: `expected JSON (${field.type === 'array' ? '[...]' : '{...}'})`};
    }
  }
  return {value: text};
}

/**
 * Ask for assignments, show the diff from a dry run, and ask to apply it. Returns the applied result,
 * or undefined when the operator cancels (nothing changed).
 */
export async function editNodes(client: ApiClient, views: readonly NodeView[]): Promise<ApplyResult | undefined> {
  const [extensions, enums] = await Promise.all([client.extensions(), client.enumerables()]);
  const fields = editableFields(extensions, enums);
  const first = views[0];
  const set: Record<string, JsonValue> = {};
  const label = views.length === 1 ? first.cfg.nodename || first.cfg.id : `${views.length} nodes`;
  for (;;) {
    const pointer = await search<string>({
      message: `Field to set on ${label} (type to filter)`,
      source: (term) => fields
        .filter((f) => !term || toShorthand(f.pointer).toLowerCase().includes(term.toLowerCase()))
        .map((f) => ({
          value: f.pointer,
          name: `${toShorthand(f.pointer)}  ${formatValue(set[f.pointer] ?? getAt(first.cfg, f.pointer))}`,
          description: f.description ?? (f.enum ? f.enum.join(' | ') : f.type),
        })),
    });
    const field = fields.find((f) => f.pointer === pointer)!;
    const current = getAt(first.cfg, pointer);
    if (field.enum) {
      set[pointer] = await select<string>({
        message: `${toShorthand(pointer)} =`,
        choices: field.enum.map((v, i) => ({value: v, name: i === 0 ? `${v}  (zero: unknown / don't care)` : v})),
        default: typeof current === 'string' ? current : undefined,
      });
    } else {
      const text = await input({
        message: `${toShorthand(pointer)} (${field.type}) =`,
        default: current === undefined ? undefined : typeof current === 'string' ? current : JSON.stringify(current),
        validate: (t) => parseFieldValue(field, t).error ?? true,
      });
      set[pointer] = parseFieldValue(field, text).value!;
    }
    if (!(await confirm({message: 'Set another field?', default: false}))) break;
  }
  const ids = views.map((v) => v.cfg.id);
  const preview = await client.setValues({nodes: ids, set}, {dryRun: true});
  if (preview.changes.length === 0) {
    process.stdout.write('nothing would change\n');
    return preview;
  }
  for (const line of formatChanges(preview.changes)) process.stdout.write(line + '\n');
  if (!(await confirm({message: `Apply ${preview.changes.length} change${preview.changes.length === 1 ? '' : 's'}?`, default: true}))) {
    throw new CliError('cancelled, nothing was changed', {code: 'LC_ERR_CANCELLED'});
  }
  const result = await client.setValues({nodes: ids, set});
  process.stdout.write(applySummary(result) + '\n');
  return result;
}
