/**
 * The store: durable cfg (journal), in-memory dsc, and a bounded per-node history. Every write goes
 * through here, is validated whole before anything changes, and emits one event per changed URL.
 */
import {randomUUID} from 'node:crypto';
import {EventBus} from './events.js';
import {ConflictError, NotFoundError, ValidationError, describe} from '../model/errors.js';
import {emptyNode, type JsonValue, type Node, type NodeView} from '../model/node.js';
import type {Registry} from '../model/registry.js';
import {type Change, diff, getAt, sameValue, setAt} from '../model/url.js';
import {Journal} from './journal.js';

export interface HistoryEntry {
  time: number;
  kind: 'cfg' | 'dsc' | 'mutate' | 'complete' | 'interrupt' | 'failure' | 'log';
  url?: string;
  value?: JsonValue;
  mutation?: string;
  message?: string;
  source?: string;
}

export interface StoreOptions {
  dir: string;
  registry: Registry;
  /** Given to nodes created without a parentId (the daemon's own id: it manages what it is given). */
  defaultParentId?: string;
  historyLimit?: number;
  events?: EventBus;
  /** Journal records before the snapshot is rewritten. */
  compactAfter?: number;
  /** Told what the store did on its own (a torn line cut at open, a compaction retried): the daemon logs it. */
  warn?: (message: string) => void;
}

export interface ApplyResult {
  created: Node[];
  updated: Node[];
  unchanged: Node[];
  deleted: Node[];
  changes: {id: string; nodename: string; url: string; previous?: JsonValue; value?: JsonValue}[];
}

/** The dsc fields that are facts taken from cfg rather than discovered. */
const IDENTITY = ['nodename', 'parentId', 'arch', 'platform'] as const;

export class Store {
  readonly events: EventBus;
  private readonly registry: Registry;
  private readonly journal: Journal<Node>;
  private readonly cfg: Map<string, Node>;
  private readonly dsc = new Map<string, Node>();
  private readonly names = new Map<string, string>();
  private readonly hist = new Map<string, HistoryEntry[]>();
  private readonly historyLimit: number;

  private constructor(private readonly options: StoreOptions, journal: Journal<Node>, cfg: Map<string, Node>) {
    this.registry = options.registry;
    this.events = options.events ?? new EventBus();
    this.historyLimit = options.historyLimit ?? 100;
    this.journal = journal;
    this.cfg = cfg;
    for (const node of cfg.values()) {
      deepFreeze(node);
      this.dsc.set(node.id, this.freshDsc(node));
      if (node.nodename) this.names.set(node.nodename, node.id);
    }
  }

  static open(options: StoreOptions): Store {
    const {journal, items} = Journal.open<Node>(options.dir, (n) => n.id, {compactAfter: options.compactAfter, warn: options.warn});
    return new Store(options, journal, items);
  }

  close(): void {
    this.journal.close();
  }

  /** The sequence number of the last durable cfg write. */
  get sequence(): number {
    return this.journal.sequence;
  }

  /**
   * A backup: every cfg node as one checksummed snapshot record at the current sequence number (taken in
   * one synchronous step, so no write can come between). `id`: the daemon's own node id, kept by a restore.
   */
  backup(id?: string): Buffer {
    return this.journal.snapshot([...this.cfg.values()], id);
  }

  // ---- reads ----

  get size(): number {
    return this.cfg.size;
  }

  get(id: string): NodeView | undefined {
    const cfg = this.cfg.get(id);
    return cfg && {cfg, dsc: this.dsc.get(id)!};
  }

  byName(nodename: string): NodeView | undefined {
    const id = this.names.get(nodename);
    return id === undefined ? undefined : this.get(id);
  }

  resolve(idOrName: string): NodeView | undefined {
    return this.get(idOrName) ?? this.byName(idOrName);
  }

  list(): NodeView[] {
    return [...this.cfg.keys()].map((id) => this.get(id)!);
  }

  ids(): IterableIterator<string> {
    return this.cfg.keys();
  }

  history(id: string): HistoryEntry[] {
    return this.hist.get(id) ?? [];
  }

  // ---- cfg writes (durable) ----

  create(inputs: unknown[], source = 'api'): Node[] {
    const result = this.apply(inputs, {source, mode: 'create'});
    return result.created;
  }

  /**
   * Creates or updates nodes as a whole batch: every input is validated first, then one journal record
   * is written. An input matches an existing node by id, or by nodename when it has no id.
   * mode 'create' refuses existing nodes; 'upsert' merges into them (omitted fields are kept).
   */
  apply(inputs: unknown[], opts: {source?: string; mode?: 'create' | 'upsert' | 'replace'; dryRun?: boolean; prune?: boolean} = {}): ApplyResult {
    const mode = opts.mode ?? 'upsert';
    const result: ApplyResult = {created: [], updated: [], unchanged: [], deleted: [], changes: []};
    const next = new Map<string, Node>();
    const claimed = new Map<string, string>(); // nodename → id within this batch
    const changesOf = new Map<string, Change[]>(); // per updated node, for its commit
    inputs.forEach((input, index) => {
      const raw = asObject(input, `item ${index + 1}`);
      const existing = this.match(raw);
      if (existing && mode === 'create') {
        throw new ConflictError(describe({node: existing.nodename || existing.id}, `already exists (id ${existing.id})`), {node: existing.nodename || existing.id, hint: 'use apply or node update to change it'});
      }
      const merged = existing && mode !== 'replace' ? deepMerge(existing, raw)
        : existing ? this.registry.keepSecrets(existing, structuredClone({...raw, id: existing.id})) : {...raw, id: raw.id ?? randomUUID()};
      if (!merged.parentId && this.options.defaultParentId && merged.id !== this.options.defaultParentId) merged.parentId = this.options.defaultParentId;
      const node = deepFreeze(this.registry.validateNode(merged));
      this.cfgCheck?.(node);
      if (next.has(node.id)) throw new ConflictError(describe({node: node.nodename || node.id}, 'appears twice in the input'), {node: node.nodename || node.id});
      this.checkName(node, claimed);
      next.set(node.id, node);
      if (!existing) {
        result.created.push(node);
        result.changes.push({id: node.id, nodename: node.nodename, url: '', value: node as unknown as JsonValue});
      } else {
        const changes = diff(existing, node);
        changesOf.set(node.id, changes);
        (changes.length ? result.updated : result.unchanged).push(node);
        for (const c of changes) result.changes.push({id: node.id, nodename: node.nodename, ...c});
      }
    });
    if (opts.prune) {
      for (const node of this.cfg.values()) if (!next.has(node.id) && node.id !== this.options.defaultParentId) result.deleted.push(node);
    }
    if (opts.dryRun) return result;
    const put = [...result.created, ...result.updated];
    if (put.length === 0 && result.deleted.length === 0) return result;
    this.journal.append({put, del: result.deleted.map((n) => n.id)});
    for (const node of result.created) this.commitCreate(node, opts.source ?? 'api');
    for (const node of result.updated) this.commitUpdate(node, changesOf.get(node.id)!, opts.source ?? 'api');
    for (const node of result.deleted) this.commitDelete(node);
    this.compact();
    return result;
  }

  private cfgCheck?: (node: Node) => void;

  /**
   * A check every cfg written must pass, after validation (the engine's: a cfg that can never converge
   * is refused). It throws to refuse; nothing of the batch is written then.
   */
  setCfgCheck(check: (node: Node) => void): void {
    this.cfgCheck = check;
  }

  /** Updates one node: merge a partial node into it, or replace it whole (omitted fields take their defaults). */
  update(id: string, input: unknown, opts: {merge: boolean; source?: string} = {merge: true}): Node {
    const current = this.mustGet(id).cfg;
    const raw = asObject(input, `node ${current.nodename || id}`);
    if (raw.id !== undefined && raw.id !== current.id) throw new ValidationError(describe({node: current.nodename || id, url: '/id'}, `cannot change a node's id (got ${JSON.stringify(raw.id)})`), {node: current.nodename || id, url: '/id'});
    const result = this.apply([{...raw, id: current.id}], {source: opts.source, mode: opts.merge ? 'upsert' : 'replace'});
    return [...result.updated, ...result.unchanged][0];
  }

  setCfg(id: string, url: string, value: JsonValue | undefined, source = 'api'): Node {
    const current = this.mustGet(id).cfg;
    const pointer = this.registry.normalizeUrl(url);
    if (pointer === '/id') throw new ValidationError(describe({node: current.nodename || id, url: pointer}, "cannot change a node's id"), {node: current.nodename || id, url: pointer});
    const candidate = structuredClone(current) as unknown as Record<string, unknown>;
    setAt(candidate, pointer, value);
    return this.update(id, candidate, {merge: false, source});
  }

  delete(ids: string[], source = 'api'): Node[] {
    const nodes = ids.map((id) => this.mustGet(id).cfg);
    if (nodes.length === 0) return [];
    this.journal.append({del: nodes.map((n) => n.id)});
    for (const node of nodes) this.commitDelete(node, source);
    this.compact();
    return nodes;
  }

  // ---- dsc writes (memory) ----

  /** Records a discovered value; returns whether it changed anything. */
  discover(id: string, url: string, value: JsonValue, source: string): boolean {
    const dsc = this.dsc.get(id);
    if (!dsc) throw new NotFoundError(`discovery for unknown node ${id} at ${url}`, {node: id, url});
    const pointer = this.registry.normalizeUrl(url);
    this.checkValue(dsc, pointer, value);
    this.events.emit({type: 'DISCOVERY', nodeId: id, url: pointer, value, source});
    const previous = getAt(dsc, pointer);
    if (sameValue(previous, value)) return false;
    setAt(dsc as unknown as Record<string, unknown>, pointer, value);
    this.record(id, {kind: 'dsc', url: pointer, value, source});
    this.events.emit({type: 'STATE_CHANGE', nodeId: id, view: 'dsc', op: 'UPDATE', url: pointer, value, previous});
    return true;
  }

  /** Appends to a node's bounded history (the engine records mutations and failures here). */
  record(id: string, entry: Omit<HistoryEntry, 'time'>): void {
    let list = this.hist.get(id);
    if (!list) this.hist.set(id, (list = []));
    list.push({time: Date.now(), ...entry});
    if (list.length > this.historyLimit) list.splice(0, list.length - this.historyLimit);
  }

  // ---- internals ----

  private mustGet(idOrName: string): NodeView {
    const view = this.resolve(idOrName);
    if (!view) throw new NotFoundError(`no node "${idOrName}"`, {node: idOrName, hint: 'layercake node list shows the nodes there are'});
    return view;
  }

  private match(raw: Record<string, unknown>): Node | undefined {
    if (typeof raw.id === 'string') return this.cfg.get(raw.id);
    if (typeof raw.nodename === 'string' && raw.nodename) return this.byName(raw.nodename)?.cfg;
    return undefined;
  }

  private checkName(node: Node, claimed: Map<string, string>): void {
    if (!node.nodename) return;
    if (claimed.has(node.nodename) && claimed.get(node.nodename) !== node.id) {
      throw new ConflictError(describe({node: node.nodename, url: '/nodename'}, 'appears twice in the input'), {node: node.nodename, url: '/nodename', value: node.nodename});
    }
    const owner = this.names.get(node.nodename);
    if (owner !== undefined && owner !== node.id) {
      throw new ConflictError(describe({node: node.nodename, url: '/nodename'}, `nodename is already used by node ${owner}`), {node: node.nodename, url: '/nodename', value: node.nodename});
    }
    claimed.set(node.nodename, node.id);
  }

  /** Validates one value at a pointer of a node (enums fast, anything else through the node's schema). */
  private checkValue(node: Node, pointer: string, value: JsonValue): void {
    const values = this.registry.enumAt(pointer);
    if (values) {
      if (typeof value !== 'string' || !values.includes(value)) {
        throw new ValidationError(describe({node: node.nodename || node.id, url: pointer}, `expected one of ${values.join(', ')}, got ${JSON.stringify(value)}`), {node: node.nodename || node.id, url: pointer, value, expected: values.join('|')});
      }
      return;
    }
    const candidate = structuredClone(node) as unknown as Record<string, unknown>;
    setAt(candidate, pointer, value);
    this.registry.validateNode(candidate, {node: node.nodename || node.id});
  }

  private freshDsc(cfg: Node): Node {
    const dsc = emptyNode(cfg.id);
    for (const f of IDENTITY) dsc[f] = cfg[f];
    return dsc;
  }

  private commitCreate(node: Node, source: string): void {
    this.cfg.set(node.id, node);
    this.dsc.set(node.id, this.freshDsc(node));
    if (node.nodename) this.names.set(node.nodename, node.id);
    this.record(node.id, {kind: 'cfg', url: '', message: 'created', source});
    this.events.emit({type: 'STATE_CHANGE', nodeId: node.id, view: 'cfg', op: 'CREATE', url: '', value: node as unknown as JsonValue});
  }

  /** changes: diff(current cfg, node), as apply has computed it. */
  private commitUpdate(node: Node, changes: Change[], source: string): void {
    const previous = this.cfg.get(node.id)!;
    if (previous.nodename !== node.nodename) this.names.delete(previous.nodename);
    if (node.nodename) this.names.set(node.nodename, node.id);
    this.cfg.set(node.id, node);
    const dsc = this.dsc.get(node.id)!;
    for (const f of IDENTITY) dsc[f] = node[f];
    for (const c of changes) {
      this.record(node.id, {kind: 'cfg', url: c.url, value: c.value, source});
      this.events.emit({type: 'STATE_CHANGE', nodeId: node.id, view: 'cfg', op: 'UPDATE', url: c.url, value: c.value, previous: c.previous});
    }
  }

  private commitDelete(node: Node, source = 'api'): void {
    this.cfg.delete(node.id);
    this.dsc.delete(node.id);
    this.hist.delete(node.id);
    if (this.names.get(node.nodename) === node.id) this.names.delete(node.nodename);
    void source;
    this.events.emit({type: 'STATE_CHANGE', nodeId: node.id, view: 'cfg', op: 'DELETE', url: '', previous: node as unknown as JsonValue});
  }

  private compact(): void {
    this.journal.maybeCompact(() => [...this.cfg.values()]);
  }
}

function asObject(input: unknown, where: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ValidationError(`${where}: expected a node object, got ${JSON.stringify(input)}`);
  return input as Record<string, unknown>;
}

/** Objects merge key by key; anything else (arrays included) is replaced; null removes a key. */
function deepMerge(base: unknown, patch: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {...(base as Record<string, unknown>)};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else if (isPlain(v) && isPlain(out[k])) out[k] = deepMerge(out[k], v);
    else out[k] = v;
  }
  return out;
}

/** cfg nodes are immutable: a write replaces the object, so readers (and mutation requests) can share it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
