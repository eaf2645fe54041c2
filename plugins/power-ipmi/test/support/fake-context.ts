/**
 * fakeContext(): a small in-test double of the daemon's ModuleContext (not the engine). It keeps
 * cfg and dsc views of nodes, applies discoveries, emits STATE_CHANGE events for cfg edits, and lets
 * a test play the engine: request a mutation (honouring its requires/excludes and its timeout, and
 * discovering failTo when the handler fails, as the engine does). The real engine is exercised by
 * daemon.real.test.ts.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {
  EventFilter, InterruptHandler, JsonValue, LcEvent, Logger, ModuleContext, MutationHandler, MutationSpec, Node, NodeView,
} from '@layercake/sdk';
import {ipmiConfigSchema, type IpmiConfig, type IpmiConfigInput} from '../../src/config.js';
import {parseDuration} from '@layercake/sdk';
import {MUTATIONS} from '../../src/module.js';

export const SELF_ID = '00000000-0000-4000-8000-000000000001';

export function nodeId(i: number): string {
  return `00000000-0000-4000-8000-${(0x100 + i).toString(16).padStart(12, '0')}`;
}

function getAt(obj: unknown, ptr: string): unknown {
  let cur = obj as Record<string, unknown> | undefined;
  for (const seg of ptr.split('/').slice(1)) cur = cur?.[seg] as Record<string, unknown> | undefined;
  return cur;
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

export interface MutateResult {
  ok: boolean;
  /** The failure reason, as `layercake node why` would show it. */
  reason?: string;
  ms: number;
}

export interface FakeContext {
  ctx: ModuleContext<IpmiConfig>;
  config: IpmiConfig;
  logs: LogLine[];
  discoveries: {nodeId: string; url: string; value: JsonValue}[];
  addNode(node: Partial<Node> & {id: string; nodename: string}): NodeView;
  view(id: string): NodeView;
  /** Replaces a node's cfg ipmi extension (emits a cfg STATE_CHANGE, as the store does). */
  setIpmi(id: string, ipmi: Record<string, JsonValue>): void;
  /** Plays the engine for one step: checks the mutation applies, calls the handler, applies failTo on failure. */
  mutate(id: string, mutation: string, opts?: {timeoutMs?: number}): Promise<MutateResult>;
  stop(): void;
}

export function fakeContext(input: IpmiConfigInput = {}): FakeContext {
  const config = ipmiConfigSchema.parse(input);
  const stateDir = mkdtempSync(join(tmpdir(), 'lc-ipmi-ctx-'));
  const abort = new AbortController();
  const nodes = new Map<string, NodeView>();
  const listeners = new Set<{filter: EventFilter; fn: (e: LcEvent) => void}>();
  const logs: LogLine[] = [];
  const discoveries: FakeContext['discoveries'] = [];
  let handler: MutationHandler | undefined;
  const interrupts: InterruptHandler[] = [];
  let seq = 0;

  const emit = (e: LcEvent): void => {
    for (const l of listeners) {
      if (l.filter.types && !l.filter.types.includes(e.type)) continue;
      if (l.filter.nodes && !l.filter.nodes.includes(e.nodeId)) continue;
      l.fn(e);
    }
  };
  const logAt = (level: LogLine['level']) => (a: unknown, b?: unknown): void => {
    logs.push({level, message: typeof a === 'string' ? a : String(b ?? JSON.stringify(a))});
  };
  const log = {debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error')} as Logger;

  const ctx: ModuleContext<IpmiConfig> = {
    name: 'ipmi', selfId: SELF_ID, config, stateDir, log, signal: abort.signal,
    discover(id, url, value) {
      const view = nodes.get(id);
      if (!view) throw new Error(`no node ${id}`);
      if (url !== '/physState') throw new Error(`module ipmi may not discover ${url}`);
      const previous = view.dsc.physState;
      view.dsc = {...view.dsc, physState: value as Node['physState']};
      discoveries.push({nodeId: id, url, value});
      if (previous !== value) emit({type: 'STATE_CHANGE', seq: ++seq, time: Date.now(), nodeId: id, view: 'dsc', op: 'UPDATE', url, value, previous});
    },
    onMutate(h) { handler = h; },
    onInterrupt(h) { interrupts.push(h); },
    nodes: {
      get: (id) => nodes.get(id),
      byName: (name) => [...nodes.values()].find((v) => v.cfg.nodename === name),
      list: () => [...nodes.values()],
    },
    subscribe(filter, fn) {
      const l = {filter, fn};
      listeners.add(l);
      return () => listeners.delete(l);
    },
    fail(error) { throw error; },
  };

  function blocker(spec: MutationSpec, view: NodeView): string | undefined {
    for (const [url, [from]] of Object.entries(spec.mutates)) if (getAt(view.dsc, url) !== from) return `needs ${url} ${from}`;
    for (const [url, v] of Object.entries(spec.requires ?? {})) {
      const have = url === '/physState' || url === '/runState' || url === '/busy' ? getAt(view.dsc, url) : getAt(view.cfg, url);
      if (JSON.stringify(have) !== JSON.stringify(v)) return `requires ${url} ${JSON.stringify(v)}`;
    }
    for (const [url, v] of Object.entries(spec.excludes ?? {})) {
      if (JSON.stringify(getAt(view.dsc, url)) === JSON.stringify(v)) return `excluded while ${url} is ${JSON.stringify(v)}`;
    }
    return undefined;
  }

  return {
    ctx, config, logs, discoveries,
    addNode(partial) {
      const cfg: Node = {
        parentId: SELF_ID, arch: 'amd64', platform: 'ipmi', physState: 'PHYS_UNKNOWN', runState: 'UNKNOWN', busy: 'FREE',
        extensions: {}, services: {}, ...partial,
      };
      const dsc: Node = {...cfg, physState: 'PHYS_UNKNOWN', runState: 'UNKNOWN', busy: 'FREE', extensions: {}, services: {}};
      const view = {cfg, dsc};
      nodes.set(cfg.id, view);
      return view;
    },
    view(id) {
      const v = nodes.get(id);
      if (!v) throw new Error(`no node ${id}`);
      return v;
    },
    setIpmi(id, ipmi) {
      const view = this.view(id);
      const previous = view.cfg.extensions.ipmi;
      view.cfg = {...view.cfg, extensions: {...view.cfg.extensions, ipmi}};
      emit({type: 'STATE_CHANGE', seq: ++seq, time: Date.now(), nodeId: id, view: 'cfg', op: 'UPDATE', url: '/extensions/ipmi', value: ipmi, previous});
    },
    async mutate(id, mutation, opts = {}) {
      const view = this.view(id);
      const spec = MUTATIONS.find((m) => m.name === mutation);
      if (!spec) throw new Error(`no mutation ${mutation}`);
      const why = blocker(spec, view);
      if (why) throw new Error(`the engine would not fire ipmi/${mutation} on ${view.cfg.nodename}: ${why}`);
      if (!handler) throw new Error('the module registered no handler');
      const timeoutMs = opts.timeoutMs ?? parseDuration(spec.timeout ?? 0);
      const step = new AbortController();
      const request = {
        nodeId: id, module: 'ipmi', mutation, mutates: spec.mutates as Record<string, [string, string]>,
        cfg: view.cfg, dsc: structuredClone(view.dsc), attempt: 1, signal: step.signal,
      };
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`timed out after ${timeoutMs} ms`), timeoutMs); });
      const outcome = await Promise.race([
        Promise.resolve(handler(request)).then(() => undefined, (e: Error) => e?.message ?? String(e)),
        timedOut,
      ]);
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (outcome === undefined) return {ok: true, ms};
      step.abort(new Error(outcome));
      for (const h of interrupts) h(request, outcome);
      if (spec.failTo) ctx.discover(id, spec.failTo.url, spec.failTo.value);
      return {ok: false, reason: outcome, ms};
    },
    stop() {
      abort.abort();
      rmSync(stateDir, {recursive: true, force: true});
    },
  };
}
