/**
 * The registry of everything plugins contribute: extensions (schemas, enums, secrets), mutations and
 * discoverables. Every input is validated here, at the boundary, with errors that name node, URL and value.
 */
import {z} from 'zod';
import type {ExtensionSpec, ModuleSpec, MutationContext} from './contract.js';
import {parseDuration} from './duration.js';
import {ValidationError, describe} from './errors.js';
import {ipv4Extension} from './ipv4.js';
import {didYouMean, issueText, keysAt, type AnySchema} from './issues.js';
import {powerExtension} from './power.js';
import {CORE_ENUMS, coreNodeSchema, NODENAME, type JsonObject, type JsonValue, type Node} from './node.js';
import {getAt, joinPointer, matchPattern, segments, setAt, toPointer} from './url.js';

export interface RegisteredMutation {
  /** `<module>/<name>` */
  id: string;
  module: string;
  name: string;
  description: string;
  mutates: Record<string, [string, string]>;
  requires: Record<string, JsonValue>;
  excludes: Record<string, JsonValue>;
  context: MutationContext;
  timeoutMs: number;
  failTo?: {url: string; value: string};
}

export interface RegisteredExtension {
  name: string;
  module: string;
  description: string;
  schema: z.ZodObject;
  jsonSchema: unknown;
  enums: Record<string, readonly string[]>;
  secrets: string[];
}

export interface MutationOverride {
  timeout?: number | string;
  disable?: boolean;
}


/** Walks a zod schema and collects its enum fields as pointer patterns (`*` for record keys). */
function enumsOf(schema: AnySchema, prefix: string, out: Record<string, readonly string[]>): void {
  const type = schema.def.type;
  if (type === 'default' || type === 'optional' || type === 'nullable' || type === 'prefault') enumsOf(schema.def.innerType!, prefix, out);
  else if (type === 'enum') out[prefix] = schema.options!;
  else if (type === 'object') for (const [k, v] of Object.entries(schema.def.shape!)) enumsOf(v, `${prefix}/${k}`, out);
  else if (type === 'record') enumsOf(schema.def.valueType!, `${prefix}/*`, out);
}

/** Extensions are strict: an unknown key (a misspelt `pasword`) is an error, never silently dropped. */
function strictSchema<T extends z.ZodType>(schema: T): T {
  const s = schema as unknown as AnySchema & {strict?: () => T; def: {catchall?: unknown}};
  return s.def.type === 'object' && s.def.catchall === undefined && s.strict ? s.strict() : schema;
}

export class Registry {
  private readonly moduleSpecs = new Map<string, ModuleSpec>();
  private readonly exts = new Map<string, RegisteredExtension>();
  private readonly muts = new Map<string, RegisteredMutation>();
  private readonly discoverablePatterns = new Map<string, string[]>();
  private enumCache?: Record<string, readonly string[]>;
  /** Per-pointer answers, cleared when registrations change (lookups sit on the engine's hot path). */
  private readonly enumOf = new Map<string, readonly string[] | undefined>();
  private readonly discoveredCache = new Map<string, boolean>();
  private readonly normalized = new Map<string, string>();

  constructor(private readonly overrides: Record<string, Record<string, MutationOverride>> = {}) {
    this.registerExtension(ipv4Extension, 'core');
    this.registerExtension(powerExtension, 'core');
  }

  registerExtension(spec: ExtensionSpec, module: string): void {
    if (this.exts.has(spec.name)) throw new Error(`extension "${spec.name}" of module ${module} is already registered by module ${this.exts.get(spec.name)!.module}`);
    const enums: Record<string, readonly string[]> = {};
    const schema = strictSchema(spec.schema);
    enumsOf(schema as unknown as AnySchema, `/extensions/${spec.name}`, enums);
    let jsonSchema: unknown;
    this.exts.set(spec.name, {
      name: spec.name, module, description: spec.description ?? '', schema, enums, secrets: spec.secrets ?? [],
      get jsonSchema() { return (jsonSchema ??= z.toJSONSchema(schema, {unrepresentable: 'any'})); }, // only the API asks
    });
    this.invalidate();
  }

  private invalidate(): void {
    this.enumCache = undefined;
    this.enumOf.clear();
    this.discoveredCache.clear();
    this.normalized.clear();
  }

  registerModule(spec: ModuleSpec): void {
    if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`module name "${spec.name}" must be lower case letters, digits and dashes`);
    if (this.moduleSpecs.has(spec.name)) throw new Error(`module "${spec.name}" is registered twice`);
    this.moduleSpecs.set(spec.name, spec);
    for (const ext of spec.extensions ?? []) this.registerExtension(ext, spec.name);
    const discoverable = new Set((spec.discoverables ?? []).map(toPointer));
    for (const m of spec.mutations ?? []) {
      const override = this.overrides[spec.name]?.[m.name] ?? {};
      if (override.disable) continue;
      const mutation = this.normalizeMutation(spec.name, m, override);
      this.muts.set(mutation.id, mutation);
      for (const url of Object.keys(mutation.mutates)) discoverable.add(url);
      if (mutation.failTo) discoverable.add(mutation.failTo.url);
    }
    this.discoverablePatterns.set(spec.name, [...discoverable]);
    this.invalidate();
  }

  private normalizeMutation(module: string, m: NonNullable<ModuleSpec['mutations']>[number], override: MutationOverride): RegisteredMutation {
    const id = `${module}/${m.name}`;
    const where = (url: string) => `mutation ${id}: ${url}`;
    const mutates: Record<string, [string, string]> = {};
    for (const [url, [from, to]] of Object.entries(m.mutates)) {
      const p = toPointer(url);
      const values = this.enumAt(p);
      if (!values) throw new Error(`${where(p)} is not an enum (mutations change enum values only)`);
      for (const v of [from, to]) if (!values.includes(v)) throw new Error(`${where(p)}: "${v}" is not one of ${values.join(', ')}`);
      mutates[p] = [from, to];
    }
    const pointers = (o: Record<string, JsonValue> = {}) => Object.fromEntries(Object.entries(o).map(([u, v]) => [toPointer(u), v]));
    const failTo = m.failTo && {url: toPointer(m.failTo.url), value: m.failTo.value};
    if (failTo && !this.enumAt(failTo.url)?.includes(failTo.value)) throw new Error(`mutation ${id}: failTo ${failTo.url}=${failTo.value} is not a value of that enum`);
    return {
      id, module, name: m.name, description: m.description ?? '', mutates,
      requires: pointers(m.requires), excludes: pointers(m.excludes), context: m.context ?? 'CHILD',
      timeoutMs: parseDuration(override.timeout ?? m.timeout ?? 0), failTo,
    };
  }

  modules(): ModuleSpec[] {
    return [...this.moduleSpecs.values()];
  }

  module(name: string): ModuleSpec | undefined {
    return this.moduleSpecs.get(name);
  }

  /** Sorted by (module, name): the order the planner tries them in. */
  mutations(): RegisteredMutation[] {
    return [...this.muts.values()].sort((a, b) => (a.module === b.module ? (a.name < b.name ? -1 : 1) : a.module < b.module ? -1 : 1));
  }

  mutation(id: string): RegisteredMutation | undefined {
    return this.muts.get(id);
  }

  extensions(): RegisteredExtension[] {
    return [...this.exts.values()];
  }

  extension(name: string): RegisteredExtension | undefined {
    return this.exts.get(name);
  }

  enumerables(): Record<string, readonly string[]> {
    if (!this.enumCache) this.enumCache = Object.assign({}, CORE_ENUMS, ...[...this.exts.values()].map((e) => e.enums));
    return this.enumCache!;
  }

  /** The enum values of a pointer (`undefined` if it is not an enum). The first value is the zero. */
  enumAt(pointer: string): readonly string[] | undefined {
    if (this.enumOf.has(pointer)) return this.enumOf.get(pointer);
    const all = this.enumerables();
    let found = all[pointer];
    if (!found) for (const [pattern, values] of Object.entries(all)) if (pattern.includes('*') && matchPattern(pattern, pointer)) found = values;
    this.enumOf.set(pointer, found);
    return found;
  }

  /** The value a URL has when nothing is known: the enum's first value. */
  zeroOf(pointer: string): string | undefined {
    return this.enumAt(pointer)?.[0];
  }

  /** Whether `module` may discover `pointer`. */
  isDiscoverable(module: string, pointer: string): boolean {
    return (this.discoverablePatterns.get(module) ?? []).some((p) => p === pointer || matchPattern(p, pointer));
  }

  /** Every pointer some module discovers (the planner reads these from dsc, the rest from cfg). */
  discoveredBySomeModule(pointer: string): boolean {
    let known = this.discoveredCache.get(pointer);
    if (known === undefined) {
      known = [...this.discoverablePatterns.values()].some((patterns) => patterns.some((p) => p === pointer || matchPattern(p, pointer)));
      this.discoveredCache.set(pointer, known);
    }
    return known;
  }

  /** Shorthand or pointer → pointer, checked against the node's known fields and extensions. */
  normalizeUrl(url: string): string {
    const cached = this.normalized.get(url);
    if (cached !== undefined) return cached;
    const pointer = toPointer(url.trim());
    const [head, ext] = segments(pointer);
    const known = Object.keys(coreNodeSchema.shape);
    if (!known.includes(head)) throw new ValidationError(`unknown URL "${url}" (a node has ${known.join(', ')} and the extensions ${[...this.exts.keys()].join(', ')})`, {url});
    if (head === 'extensions' && ext !== undefined && !this.exts.has(ext)) {
      throw new ValidationError(`unknown extension "${ext}" in "${url}" (registered: ${[...this.exts.keys()].join(', ')})`, {url, hint: 'install the plugin that provides it, or check the spelling'});
    }
    if (this.normalized.size < 10_000) this.normalized.set(url, pointer);
    return pointer;
  }

  /** Parses and normalizes a whole node (defaults filled in); throws a ValidationError naming node, URL and value. */
  validateNode(input: unknown, where: {node?: string} = {}): Node {
    const raw = input as Record<string, unknown>;
    // A node is named by its nodename or id only when valid: an invalid one is a value, and values are not echoed.
    const label = where.node ?? (typeof raw?.nodename === 'string' && NODENAME.test(raw.nodename) ? raw.nodename : typeof raw?.id === 'string' && /^[0-9a-f-]{36}$/i.test(raw.id) ? raw.id : undefined);
    const fail = (path: PropertyKey[], issue: z.core.$ZodIssue, base: unknown, schema: z.ZodType, prefix = '') => {
      const inner = joinPointer(path.map(String));
      const url = prefix + inner;
      const value = getAt(base, inner);
      // Only an enum's value is shown, and only when it looks like one (a password typed into the wrong field does not).
      const showValue = this.enumAt(url) !== undefined && typeof value === 'string' && /^[A-Z][A-Z0-9_]{0,31}$/.test(value);
      const text = issueText(issue, value, showValue, () => keysAt(schema as unknown as AnySchema, path));
      throw new ValidationError(describe({node: label, url: url || undefined}, text), {node: label, url, ...(showValue ? {value} : {}), expected: issue.message});
    };
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ValidationError(describe({node: label}, 'expected a node object'), {node: label});
    const core = coreNodeSchema.safeParse(input);
    if (!core.success) fail(core.error.issues[0].path, core.error.issues[0], input, coreNodeSchema);
    const node = core.data as Node;
    for (const [name, value] of Object.entries(node.extensions)) {
      const ext = this.exts.get(name);
      if (!ext) {
        throw new ValidationError(describe({node: label, url: `/extensions/${name}`}, `unknown extension${didYouMean(name, [...this.exts.keys()])} (registered: ${[...this.exts.keys()].join(', ')})`),
          {node: label, url: `/extensions/${name}`, hint: 'install the plugin that provides it, or check the spelling'});
      }
      const parsed = ext.schema.safeParse(value);
      if (!parsed.success) fail(parsed.error.issues[0].path, parsed.error.issues[0], value, ext.schema, `/extensions/${name}`);
      node.extensions[name] = parsed.data as JsonObject;
    }
    return node;
  }

  /** The pointers (inside the extension value) where its secrets are; `*` in a secret matches any key. */
  private secretsIn(name: string, value: unknown): string[] {
    const out: string[] = [];
    const walk = (at: unknown, pattern: readonly string[], path: string[]) => {
      if (pattern.length === 0) {
        if (at !== undefined) out.push(joinPointer(path));
        return;
      }
      if (typeof at !== 'object' || at === null) return;
      const [head, ...rest] = pattern;
      const keys = head === '*' ? Object.keys(at) : [head];
      for (const k of keys) walk((at as Record<string, unknown>)[k], rest, [...path, k]);
    };
    for (const secret of this.exts.get(name)?.secrets ?? []) walk(value, segments(toPointer(secret)), []);
    return out;
  }

  /** A copy with every secret replaced by "(secret)". */
  redact(node: Node): Node {
    let copy: Node | undefined;
    for (const [name, value] of Object.entries(node.extensions)) {
      for (const pointer of this.secretsIn(name, value)) {
        copy ??= structuredClone(node);
        setAt(copy.extensions[name], pointer, '(secret)');
      }
    }
    return copy ?? node;
  }

  /** `next` with every secret it omits taken from `previous` (a secret is never lost by leaving it out). */
  keepSecrets(previous: Node, next: Record<string, unknown>): Record<string, unknown> {
    const extensions = next.extensions as Record<string, Record<string, unknown>> | undefined;
    for (const [name, value] of Object.entries(previous.extensions)) {
      const target = extensions?.[name];
      if (!target) continue;
      for (const pointer of this.secretsIn(name, value)) {
        if (getAt(target, pointer) === undefined) setAt(target, pointer, getAt(value, pointer));
      }
    }
    return next;
  }

  /** A copy without secrets at all (what is synced to children). */
  stripSecrets(node: Node): Node {
    const copy = structuredClone(node);
    for (const [name, value] of Object.entries(copy.extensions)) {
      for (const pointer of this.secretsIn(name, value)) setAt(value, pointer, undefined);
    }
    return copy;
  }
}
