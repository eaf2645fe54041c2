/**
 * fakeContext(): a small in-test double of the engine's ModuleContext (not the engine). It keeps cfg and
 * dsc views of nodes, applies discoveries and emits STATE_CHANGE events the way the store does, and lets
 * a test play the engine: request a mutation, interrupt it, change cfg.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {
  EventFilter, InterruptHandler, JsonValue, LcEvent, Logger, ModuleContext, MutationHandler, MutationRequest, Node, NodeView,
} from '@layercake/sdk';
import {pxeConfig, type PxeConfig} from '../../src/config.js';

export const SELF_ID = '00000000-0000-4000-8000-000000000001';

export function pointer(url: string): string {
  if (url.startsWith('/')) return url;
  const parts = url.split('.');
  if (parts.length === 1) return `/${parts[0]}`;
  if (parts[0] === 'services') return `/${parts.join('/')}`;
  return `/extensions/${parts.join('/')}`;
}

export function getAt(obj: unknown, ptr: string): unknown {
  let cur = obj as Record<string, unknown> | undefined;
  for (const seg of ptr.split('/').slice(1)) cur = cur?.[seg] as Record<string, unknown> | undefined;
  return cur;
}

function setAt(obj: Record<string, unknown>, ptr: string, value: unknown): unknown {
  const segs = ptr.split('/').slice(1);
  let cur = obj;
  for (const s of segs.slice(0, -1)) cur = (cur[s] ??= {}) as Record<string, unknown>;
  const last = segs[segs.length - 1]!;
  const prev = cur[last];
  cur[last] = value;
  return prev;
}

export interface TestNodeInput {
  id: string;
  nodename: string;
  mac: string;
  ip: string;
  prefix?: number;
  gateway?: string;
  dns?: string[];
  domain?: string;
  arch?: string;
  platform?: string;
  pxe?: Record<string, JsonValue>;
  iface?: string;
}

/** A node as the operator would configure it (cfg), managed by SELF_ID. */
export function testNode(n: TestNodeInput): Node {
  const ipv4: Record<string, JsonValue> = {iface: n.iface ?? 'eth0', mac: n.mac, ip: n.ip, prefix: n.prefix ?? 24};
  if (n.gateway) ipv4.gateway = n.gateway;
  if (n.dns) ipv4.dns = n.dns;
  if (n.domain) ipv4.domain = n.domain;
  return {
    id: n.id, nodename: n.nodename, parentId: SELF_ID, arch: n.arch ?? 'amd64', platform: n.platform ?? 'sim',
    physState: 'POWER_ON', runState: 'SYNC', busy: 'FREE',
    extensions: {ipv4, pxe: {state: 'INIT', method: 'ipxe', ...(n.pxe ?? {})}}, services: {},
  };
}

export interface LogLine { level: string; msg: string; obj?: object }

export interface FakeContext extends ModuleContext<PxeConfig> {
  abort(): void;
  logs: LogLine[];
  discoveries: {nodeId: string; url: string; value: JsonValue}[];
  addNode(cfg: Node): void;
  setCfg(nodeId: string, url: string, value: JsonValue): void;
  /** Plays the engine: calls the module's handler as the engine would; resolves/rejects like the handler. */
  mutate(nodeId: string, mutation: string, mutates: Record<string, [string, string]>): Promise<void>;
  interrupt(nodeId: string, mutation: string, reason: string): void;
  dsc(nodeId: string, url: string): unknown;
  cleanup(): void;
}

export function fakeContext(config: unknown = {}, opts: {stateDir?: string} = {}): FakeContext {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'lc-pxe-'));
  const ac = new AbortController();
  const views = new Map<string, NodeView>();
  const subs: {filter: EventFilter; fn: (e: LcEvent) => void}[] = [];
  const mutateHandlers: MutationHandler[] = [];
  const interruptHandlers: InterruptHandler[] = [];
  const logs: LogLine[] = [];
  const discoveries: FakeContext['discoveries'] = [];
  let seq = 0;
  const verbose = !!process.env.LC_TEST_DEBUG;
  const mk = (level: string) => (a: unknown, b?: unknown) => {
    const line = typeof a === 'string' ? {level, msg: a} : {level, msg: String(b ?? ''), obj: a as object};
    logs.push(line);
    if (verbose) console.error(`[${level}] ${line.msg} ${line.obj ? JSON.stringify(line.obj) : ''}`);
  };
  const log = {debug: mk('debug'), info: mk('info'), warn: mk('warn'), error: mk('error')} as Logger;
  const match = (f: EventFilter, e: LcEvent): boolean => {
    if (f.types && !f.types.includes(e.type)) return false;
    if (f.nodes && !f.nodes.includes(e.nodeId)) return false;
    if (f.urls && 'url' in e) {
      return f.urls.some((p) => {
        const re = new RegExp(`^${p.replace(/\/\*\*$/, '\u0000').replace(/\*/g, '[^/]+').replace('\u0000', '(/.*)?')}$`);
        return re.test(e.url);
      });
    }
    return true;
  };
  const emit = (e: Omit<LcEvent, 'seq' | 'time'>): void => {
    const ev = {...e, seq: ++seq, time: Date.now()} as LcEvent;
    for (const s of [...subs]) if (match(s.filter, ev)) s.fn(ev);
  };
  const ctx: FakeContext = {
    name: 'pxe',
    selfId: SELF_ID,
    config: pxeConfig(config),
    stateDir,
    log,
    signal: ac.signal,
    logs,
    discoveries,
    discover(nodeId, url, value) {
      const v = views.get(nodeId);
      if (!v) throw new Error(`no node ${nodeId}`);
      const ptr = pointer(url);
      discoveries.push({nodeId, url: ptr, value});
      const prev = setAt(v.dsc as unknown as Record<string, unknown>, ptr, value);
      if (JSON.stringify(prev) !== JSON.stringify(value)) {
        emit({type: 'STATE_CHANGE', nodeId, view: 'dsc', op: 'UPDATE', url: ptr, value, previous: prev as JsonValue});
      }
    },
    onMutate(h) { mutateHandlers.push(h); },
    onInterrupt(h) { interruptHandlers.push(h); },
    nodes: {
      get: (id) => views.get(id),
      byName: (name) => [...views.values()].find((v) => v.cfg.nodename === name),
      list: () => [...views.values()],
    },
    subscribe(filter, fn) {
      const s = {filter, fn};
      subs.push(s);
      return () => { const i = subs.indexOf(s); if (i >= 0) subs.splice(i, 1); };
    },
    fail(e) { logs.push({level: 'fail', msg: e.message}); },
    abort() { ac.abort(); },
    addNode(cfg) {
      const dsc: Node = {
        ...structuredClone(cfg), physState: 'POWER_ON', runState: 'UNKNOWN',
        extensions: {...structuredClone(cfg.extensions), pxe: {...(cfg.extensions.pxe ?? {}), state: 'NONE'}},
      };
      views.set(cfg.id, {cfg: structuredClone(cfg), dsc});
    },
    setCfg(nodeId, url, value) {
      const v = views.get(nodeId)!;
      const ptr = pointer(url);
      const prev = setAt(v.cfg as unknown as Record<string, unknown>, ptr, value);
      emit({type: 'STATE_CHANGE', nodeId, view: 'cfg', op: 'UPDATE', url: ptr, value, previous: prev as JsonValue});
    },
    async mutate(nodeId, mutation, mutates) {
      const v = views.get(nodeId)!;
      const req: MutationRequest = {
        nodeId, module: 'pxe', mutation, mutates, cfg: structuredClone(v.cfg), dsc: structuredClone(v.dsc), attempt: 1,
        signal: new AbortController().signal,
      };
      for (const h of mutateHandlers) await h(req);
    },
    interrupt(nodeId, mutation, reason) {
      const v = views.get(nodeId)!;
      const req: MutationRequest = {
        nodeId, module: 'pxe', mutation, mutates: {}, cfg: structuredClone(v.cfg), dsc: structuredClone(v.dsc), attempt: 1,
        signal: AbortSignal.abort(),
      };
      for (const h of interruptHandlers) h(req, reason);
    },
    dsc(nodeId, url) { return getAt(views.get(nodeId)?.dsc, pointer(url)); },
    cleanup() {
      ac.abort();
      if (!opts.stateDir) rmSync(stateDir, {recursive: true, force: true});
    },
  };
  return ctx;
}

/** Waits until cond() is truthy (polling), or throws after `ms` with `what`. */
export async function until<T>(cond: () => T | Promise<T>, what: string, ms = 5000, every = 10): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
