/**
 * The planner: a deterministic breadth-first search over a node's projection onto the mutated URLs.
 *
 * A state is the vector of values of every mutated URL. A mutation applies where its `from` values,
 * requires and excludes hold (URLs no mutation changes are "facts", constant during a search). After each
 * step, values that are no longer knowable are reset to zero (knowability, the original's "deps"). The goal
 * is any state that agrees with cfg on every non-zero cfg value. Mutations are tried in (module, name)
 * order, so plans are the same every run; plans are memoized by (start, goal, facts).
 */
import type {JsonValue, Node} from '../model/node.js';
import type {Registry, RegisteredMutation} from '../model/registry.js';
import {canonical, getAt, toShorthand} from '../model/url.js';

export type State = readonly string[];

export interface Plan {
  ok: true;
  steps: RegisteredMutation[];
}

export interface NoPlan {
  ok: false;
  reason: string;
}

/** The conditions under which a URL is knowable: values that must (and must not) hold. */
interface Condition {
  requires: Map<string, JsonValue>;
  excludes: Map<string, JsonValue>;
}

const MAX_STATES = 200_000;

export class Planner {
  /** The mutated URLs, in a fixed order: the coordinates of a state. */
  readonly urls: string[];
  /** URLs that mutations read but never change. */
  readonly factUrls: string[];
  readonly mutations: RegisteredMutation[];
  private readonly index = new Map<string, number>();
  private readonly zeros: string[];
  private readonly deps: (Condition | undefined)[];
  private readonly memo = new Map<string, Plan | NoPlan>();

  constructor(private readonly registry: Registry) {
    this.mutations = registry.mutations();
    this.urls = [...new Set(this.mutations.flatMap((m) => Object.keys(m.mutates)))].sort();
    this.urls.forEach((u, i) => this.index.set(u, i));
    this.zeros = this.urls.map((u) => registry.zeroOf(u)!);
    const conditionUrls = this.mutations.flatMap((m) => [...Object.keys(m.requires), ...Object.keys(m.excludes)]);
    this.factUrls = [...new Set(conditionUrls)].filter((u) => !this.index.has(u)).sort();
    this.deps = this.urls.map((u) => this.knowability(u));
  }

  /**
   * A URL is knowable under what every mutation that discovers it from zero requires (its requires, and
   * the `to` values of the URLs it changes together with it): the intersection over those mutations.
   */
  private knowability(url: string): Condition | undefined {
    const zero = this.registry.zeroOf(url);
    const discoverers = this.mutations.filter((m) => m.mutates[url]?.[0] === zero);
    if (discoverers.length === 0) return undefined;
    const conditionOf = (m: RegisteredMutation): Condition => {
      const requires = new Map(Object.entries(m.requires));
      for (const [u, [, to]] of Object.entries(m.mutates)) if (u !== url) requires.set(u, to);
      return {requires, excludes: new Map(Object.entries(m.excludes))};
    };
    const [first, ...rest] = discoverers.map(conditionOf);
    for (const other of rest) {
      for (const kind of ['requires', 'excludes'] as const) {
        for (const [u, v] of first[kind]) if (!other[kind].has(u) || canonical(other[kind].get(u)) !== canonical(v)) first[kind].delete(u);
      }
    }
    first.requires.delete(url);
    first.excludes.delete(url);
    return first;
  }

  // ---- projections ----

  /** The state of a node: its dsc values of the mutated URLs (zero where absent). */
  project(node: Node): string[] {
    return this.urls.map((u, i) => (getAt(node, u) as string | undefined) ?? this.zeros[i]);
  }

  /** Facts: every condition URL's value, from dsc where some module discovers it, from cfg otherwise. */
  facts(cfg: Node, dsc: Node): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {};
    for (const u of this.factUrls) {
      const fromDsc = this.registry.discoveredBySomeModule(u);
      out[u] = (getAt(fromDsc ? dsc : cfg, u) ?? this.registry.zeroOf(u) ?? null) as JsonValue;
    }
    return out;
  }

  zeroAt(i: number): string {
    return this.zeros[i];
  }

  // ---- rules ----

  private value(state: State, facts: Record<string, JsonValue>, url: string): JsonValue | undefined {
    const i = this.index.get(url);
    return i === undefined ? facts[url] : state[i];
  }

  /** Why a mutation cannot leave a state ("" if it can). */
  blocker(m: RegisteredMutation, state: State, facts: Record<string, JsonValue>): string {
    for (const [u, [from]] of Object.entries(m.mutates)) {
      const have = state[this.index.get(u)!];
      if (have !== from) return `needs ${toShorthand(u)} ${from} (is ${have})`;
    }
    for (const [u, v] of Object.entries(m.requires)) {
      const have = this.value(state, facts, u);
      if (canonical(have) !== canonical(v)) return `requires ${toShorthand(u)} ${fmt(v)} (is ${fmt(have)})`;
    }
    for (const [u, v] of Object.entries(m.excludes)) {
      if (canonical(this.value(state, facts, u)) === canonical(v)) return `is excluded while ${toShorthand(u)} is ${fmt(v)}`;
    }
    return '';
  }

  private applies(m: RegisteredMutation, state: State, facts: Record<string, JsonValue>): boolean {
    return this.blocker(m, state, facts) === '';
  }

  /**
   * Whether a knowability condition still holds: a required value that is merely unknown (zero) does not
   * contradict it (a restarted parent knows nothing yet, and must not forget what its children report);
   * a known, different value does.
   */
  private holds(cond: Condition, state: State, facts: Record<string, JsonValue>): boolean {
    for (const [u, v] of cond.requires) {
      const have = this.value(state, facts, u);
      if (have !== undefined && have !== this.registry.zeroOf(u) && have !== '' && canonical(have) !== canonical(v)) return false;
    }
    for (const [u, v] of cond.excludes) if (canonical(this.value(state, facts, u)) === canonical(v)) return false;
    return true;
  }

  /** Resets, to a fixpoint, every value whose knowability condition does not hold. Returns the indices reset. */
  forget(state: string[], facts: Record<string, JsonValue>): number[] {
    const reset: number[] = [];
    for (let changed = true; changed;) {
      changed = false;
      this.urls.forEach((_, i) => {
        const cond = this.deps[i];
        if (cond && state[i] !== this.zeros[i] && !this.holds(cond, state, facts)) {
          state[i] = this.zeros[i];
          reset.push(i);
          changed = true;
        }
      });
    }
    return reset;
  }

  step(m: RegisteredMutation, state: State, facts: Record<string, JsonValue>): string[] {
    const next = [...state];
    for (const [u, [, to]] of Object.entries(m.mutates)) next[this.index.get(u)!] = to;
    this.forget(next, facts);
    return next;
  }

  satisfies(state: State, goal: State): boolean {
    return goal.every((g, i) => g === this.zeros[i] || state[i] === g);
  }

  // ---- consistency of a cfg ----

  /** Problems that make a cfg unreachable whatever the start: values unknowable given the rest of the cfg. */
  inconsistencies(goal: State, facts: Record<string, JsonValue>): string[] {
    const problems: string[] = [];
    goal.forEach((g, i) => {
      const cond = this.deps[i];
      if (!cond || g === this.zeros[i]) return;
      for (const [u, v] of cond.requires) {
        const j = this.index.get(u);
        const have = j === undefined ? facts[u] : goal[j];
        if (j !== undefined && have === this.zeros[j]) continue; // don't care: the plan can choose
        if (canonical(have) !== canonical(v)) problems.push(`${toShorthand(this.urls[i])} ${g} requires ${toShorthand(u)} ${fmt(v)}, but ${j === undefined ? 'the node has' : 'cfg has'} ${fmt(have)}`);
      }
      for (const [u, v] of cond.excludes) {
        const j = this.index.get(u);
        const have = j === undefined ? facts[u] : goal[j];
        if (canonical(have) === canonical(v)) problems.push(`${toShorthand(this.urls[i])} ${g} cannot hold while ${toShorthand(u)} is ${fmt(v)}`);
      }
    });
    return problems;
  }

  /** The cfg URLs whose values cannot hold given the rest of the cfg (what `power off` resets to zero). */
  unknowable(goal: State, facts: Record<string, JsonValue>): string[] {
    const reduced = [...goal];
    return this.forget(reduced, facts).map((i) => this.urls[i]);
  }

  // ---- search ----

  plan(start: State, goal: State, facts: Record<string, JsonValue>): Plan | NoPlan {
    const key = `${start.join(',')}|${goal.join(',')}|${canonical(facts)}`;
    let result = this.memo.get(key);
    if (!result) {
      result = this.search(start, goal, facts);
      if (this.memo.size > 50_000) this.memo.clear();
      this.memo.set(key, result);
    }
    return result;
  }

  private search(start: State, goal: State, facts: Record<string, JsonValue>): Plan | NoPlan {
    if (this.satisfies(start, goal)) return {ok: true, steps: []};
    const problems = this.inconsistencies(goal, facts);
    if (problems.length) return {ok: false, reason: `cfg is inconsistent: ${problems.join('; ')}`};
    const seen = new Map<string, {prev?: string; via?: RegisteredMutation; state: State}>([[start.join(','), {state: start}]]);
    const queue: State[] = [start];
    for (let head = 0; head < queue.length && seen.size < MAX_STATES; head++) {
      const state = queue[head];
      const key = state.join(',');
      for (const m of this.mutations) {
        if (!this.applies(m, state, facts)) continue;
        const next = this.step(m, state, facts);
        const nextKey = next.join(',');
        if (seen.has(nextKey)) continue;
        seen.set(nextKey, {prev: key, via: m, state: next});
        if (this.satisfies(next, goal)) return {ok: true, steps: this.chain(seen, nextKey)};
        queue.push(next);
      }
    }
    return {ok: false, reason: this.explain(start, goal, facts, queue)};
  }

  private chain(seen: Map<string, {prev?: string; via?: RegisteredMutation}>, key: string): RegisteredMutation[] {
    const steps: RegisteredMutation[] = [];
    for (let k: string | undefined = key; seen.get(k!)?.via; k = seen.get(k!)!.prev) steps.unshift(seen.get(k!)!.via!);
    return steps;
  }

  /** Names the goal values no reachable state has, and what blocks the mutations that would set them. */
  private explain(start: State, goal: State, facts: Record<string, JsonValue>, reachable: State[]): string {
    const score = (s: State) => goal.reduce((n, g, i) => n + (g !== this.zeros[i] && s[i] === g ? 1 : 0), 0);
    const closest = reachable.reduce((best, s) => (score(s) > score(best) ? s : best), reachable[0]);
    const missing = goal.map((g, i) => [g, i] as const).filter(([g, i]) => g !== this.zeros[i] && closest[i] !== g);
    const parts = missing.map(([g, i]) => {
      const url = this.urls[i];
      const setters = this.mutations.filter((m) => m.mutates[url]?.[1] === g);
      if (setters.length === 0) return `no mutation sets ${toShorthand(url)} to ${g} (is the plugin that provides it installed?)`;
      return `${toShorthand(url)} ${g}: ` + setters.map((m) => `${m.id} ${this.blocker(m, closest, facts) || 'leads elsewhere'}`).join('; ');
    });
    const from = this.describe(start);
    const near = closest === start ? '' : ` (closest reachable state: ${this.describe(closest)})`;
    return `no mutation leads from ${from} to ${this.describe(goal)}${near}: ${parts.join('; ')}`;
  }

  describe(state: State): string {
    const parts = state.map((v, i) => (v === this.zeros[i] ? '' : `${toShorthand(this.urls[i])}=${v}`)).filter(Boolean);
    return parts.length ? `{${parts.join(', ')}}` : '{unknown}';
  }

  // ---- the graph, for display ----

  /** Every state reachable from `start` (all zeros by default), with the edges between them. */
  explore(start: State = this.zeros, facts?: Record<string, JsonValue>): {states: State[]; edges: {from: number; to: number; mutation: RegisteredMutation}[]} {
    const ids = new Map<string, number>([[start.join(','), 0]]);
    const states: State[] = [start];
    const edges: {from: number; to: number; mutation: RegisteredMutation}[] = [];
    // Without facts (the whole graph), conditions on facts are assumed to hold.
    const assume = (m: RegisteredMutation) => facts ?? Object.fromEntries([...Object.entries(m.requires)].filter(([u]) => !this.index.has(u)));
    for (let head = 0; head < states.length && states.length < 10_000; head++) {
      for (const m of this.mutations) {
        const f = assume(m);
        if (!this.applies(m, states[head], f)) continue;
        const next = this.step(m, states[head], f);
        const key = next.join(',');
        if (!ids.has(key)) {
          ids.set(key, states.length);
          states.push(next);
        }
        edges.push({from: head, to: ids.get(key)!, mutation: m});
      }
    }
    return {states, edges};
  }
}

const fmt = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
