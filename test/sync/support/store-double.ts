/**
 * DOUBLES of the store and the registry, for unit tests of the sync protocol and for the many light
 * children of bench/sync. They implement only the SyncStore/SyncRegistry interfaces (memory only, no
 * validation beyond known extensions and enums); the integration tests use the real daemon instead.
 */
import type {EventFilter, EventInput, LcEvent} from '../../../src/model/events.js';
import {emptyNode, type JsonValue, type Node, type NodeView} from '../../../src/model/node.js';
import type {SyncRegistry, SyncStore} from '../../../src/sync/deps.js';
import {canonical, flatten, getAt, setAt} from '../../../src/sync/leaves.js';

type Listener = (e: LcEvent) => void;

export class StoreDouble implements SyncStore {
  private readonly nodes = new Map<string, NodeView>();
  private listeners: {filter: EventFilter; fn: Listener}[] = [];
  private seq = 0;
  /** Every cfg write, for tests that count durable writes. */
  cfgWrites = 0;

  constructor(private readonly extensions: string[] = []) {}

  readonly events = {
    subscribe: (filter: EventFilter, fn: Listener) => {
      const l = {filter, fn};
      this.listeners.push(l);
      return () => { this.listeners = this.listeners.filter((x) => x !== l); };
    },
  };

  private emit(e: EventInput): void {
    const ev = {...e, seq: ++this.seq, time: Date.now()} as LcEvent;
    for (const l of this.listeners) if (!l.filter.types || l.filter.types.includes(ev.type)) l.fn(ev);
  }

  get(id: string): NodeView | undefined {
    return this.nodes.get(id);
  }

  list(): NodeView[] {
    return [...this.nodes.values()];
  }

  private normalize(input: unknown, base?: Node): Node {
    const raw = input as Partial<Node> & {id: string};
    const n = {...emptyNode(raw.id), ...(base ?? {}), ...structuredClone(raw)} as Node;
    for (const name of Object.keys(n.extensions ?? {})) if (!this.extensions.includes(name)) throw new Error(`unknown extension ${name}`);
    return n;
  }

  create(inputs: unknown[]): Node[] {
    return inputs.map((input) => {
      const cfg = this.normalize(input);
      if (this.nodes.has(cfg.id)) throw new Error(`exists: ${cfg.id}`);
      const dsc = emptyNode(cfg.id);
      this.nodes.set(cfg.id, {cfg, dsc});
      this.cfgWrites++;
      this.emit({type: 'STATE_CHANGE', nodeId: cfg.id, view: 'cfg', op: 'CREATE', url: '', value: cfg as unknown as JsonValue});
      return cfg;
    });
  }

  apply(inputs: unknown[]): unknown {
    for (const input of inputs) {
      const id = (input as {id: string}).id;
      if (this.nodes.has(id)) this.update(id, input, {merge: true});
      else this.create([input]);
    }
    return {};
  }

  update(id: string, input: unknown, opts: {merge: boolean}): Node {
    const view = this.nodes.get(id);
    if (!view) throw new Error(`no node ${id}`);
    let next: Node;
    if (opts.merge) {
      // Only the given leaves can change: write and announce just those.
      const changed: [string, JsonValue][] = [];
      for (const [p, v] of flatten(input)) if (canonical(getAt(view.cfg, p)) !== canonical(v)) changed.push([p, v]);
      if (changed.length === 0) return view.cfg;
      for (const [p] of changed) {
        const ext = /^\/extensions\/([^/]+)/.exec(p)?.[1];
        if (ext !== undefined && !this.extensions.includes(ext)) throw new Error(`unknown extension ${ext}`);
      }
      next = copyAlong(view.cfg, changed.map(([p]) => p)) as Node; // copy on write: only the objects on the changed paths
      for (const [p, v] of changed) setAt(next as unknown as Record<string, unknown>, p, structuredClone(v));
      view.cfg = next;
      this.cfgWrites++;
      for (const [p, v] of changed) this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'cfg', op: 'UPDATE', url: p, value: v});
      return next;
    }
    next = this.normalize(input);
    const before = flatten(view.cfg);
    const after = flatten(next);
    view.cfg = next;
    this.cfgWrites++;
    for (const [p, v] of after) if (!before.has(p) || canonical(before.get(p)) !== canonical(v)) this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'cfg', op: 'UPDATE', url: p, value: v});
    for (const p of before.keys()) if (!after.has(p)) this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'cfg', op: 'UPDATE', url: p});
    return next;
  }

  setCfg(id: string, url: string, value: JsonValue): void {
    const view = this.nodes.get(id)!;
    const next = structuredClone(view.cfg) as unknown as Record<string, unknown>;
    setAt(next, url, value);
    this.update(id, next, {merge: false});
  }

  discover(id: string, url: string, value: JsonValue): boolean {
    const view = this.nodes.get(id);
    if (!view) throw new Error(`discovery for unknown node ${id}`);
    if (url.startsWith('/extensions/')) {
      const name = url.split('/')[2]!;
      if (!this.extensions.includes(name)) throw new Error(`unknown extension ${name}`);
    }
    const previous = getAt(view.dsc, url);
    if (canonical(previous) === canonical(value)) return false;
    setAt(view.dsc as unknown as Record<string, unknown>, url, structuredClone(value));
    this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'dsc', op: 'UPDATE', url, value, previous: previous as JsonValue});
    return true;
  }

  delete(ids: string[]): void {
    for (const id of ids) {
      const v = this.nodes.get(id);
      if (!v) continue;
      this.nodes.delete(id);
      this.emit({type: 'STATE_CHANGE', nodeId: id, view: 'cfg', op: 'DELETE', url: '', previous: v.cfg as unknown as JsonValue});
    }
  }
}

/** A registry double with the mutations that matter to ownership (power, pxe-like boot, sync, an imageset-like SELF module). */
export function registryDouble(extra: SyncRegistry['mutations'] extends () => infer R ? R : never = []): SyncRegistry {
  const m = (module: string, name: string, ptr: string, from: string, to: string, context: 'CHILD' | 'SELF') =>
    ({id: `${module}/${name}`, module, name, mutates: {[ptr]: [from, to] as [string, string]}, context});
  const mutations = [
    m('power', 'UKtoON', '/physState', 'PHYS_UNKNOWN', 'POWER_ON', 'CHILD'),
    m('power', 'ONtoOFF', '/physState', 'POWER_ON', 'POWER_OFF', 'CHILD'),
    m('boot', 'WAITtoINIT', '/runState', 'UNKNOWN', 'INIT', 'CHILD'),
    m('sync', 'INITtoSYNC', '/runState', 'INIT', 'SYNC', 'CHILD'),
    m('image', 'SYNCtoINIT', '/runState', 'SYNC', 'INIT', 'SELF'),
    m('image', 'UKtoIDLE', '/extensions/image/state', 'UNKNOWN', 'IDLE', 'SELF'),
    ...extra,
  ];
  const zeros: Record<string, string> = {'/physState': 'PHYS_UNKNOWN', '/runState': 'UNKNOWN', '/busy': 'FREE', '/extensions/image/state': 'UNKNOWN'};
  return {
    zeroOf: (p: string) => zeros[p],
    mutations: () => mutations,
    extensions: () => [{name: 'sync', secrets: ['/joinSecret']}, {name: 'image', secrets: []}, {name: 'big', secrets: []}, {name: 'vault', secrets: ['/password']}],
  };
}

export const DOUBLE_EXTENSIONS = ['sync', 'image', 'big', 'vault'];

/** A copy of `root` sharing everything except the objects on the way to `pointers`. */
function copyAlong(root: unknown, pointers: string[]): unknown {
  const top = {...(root as Record<string, unknown>)};
  for (const p of pointers) {
    let cur = top;
    const segs = p.slice(1).split('/');
    for (const seg of segs.slice(0, -1)) {
      const v = cur[seg];
      cur[seg] = typeof v === 'object' && v !== null && !Array.isArray(v) ? {...(v as Record<string, unknown>)} : {};
      cur = cur[seg] as Record<string, unknown>;
    }
  }
  return top;
}
