/**
 * Following nodes until they converge, from the event stream: a listr2 task per node for a few nodes,
 * one compact progress bar for many, plain lines when the output is not a terminal, nothing for --json.
 *
 * The tracker subscribes first and reads the nodes second, so no change between the two is missed; it
 * applies every STATE_CHANGE to its copy of the node (and again onto a fresh read that was under way when
 * it arrived: the read may predate it), shows the running mutation, and re-reads all the
 * nodes whenever the stream reconnects (a restarted daemon). A node fails only when the engine gives up
 * on it: it holds it after too many failed attempts, or finds no plan that reaches its cfg (blocked), or
 * the node is deleted (`layercake node why` tells why); the engine retries anything less on its own. The wait ends when every node is done or failed, or at the time limit.
 */
import type {ApiClient, EventStream} from '../api/client/client.js';
import type {LcEvent, NodeView} from '../api/types.js';
import {busyOf, describeBusy} from '../model/busy.js';
import {setAt} from '../model/url.js';
import {bold, dim, green, red, yellow} from './color.js';
import {type Enumerables, nodeStatus} from './output.js';

export type ProgressMode = 'tasks' | 'bar' | 'lines' | 'silent';

export interface NodeOutcome {
  id: string;
  nodename: string;
  outcome: 'converged' | 'failed' | 'timeout';
  /** Why it failed or where it stood at the time limit. */
  reason?: string;
  seconds: number;
}

export interface FollowResult {
  nodes: NodeOutcome[];
  converged: number;
  failed: number;
  timedOut: number;
}

/** Pick a progress display for `count` nodes: tasks for a few, a bar for many, lines off a terminal. */
export function progressMode(count: number, opts: {json?: boolean; tty?: boolean} = {}): ProgressMode {
  if (opts.json) return 'silent';
  if (!(opts.tty ?? Boolean(process.stdout.isTTY))) return 'lines';
  return count <= 12 ? 'tasks' : 'bar';
}

interface Tracked {
  view: NodeView;
  detail: string;
  settled?: NodeOutcome;
  resolve: (o: NodeOutcome) => void;
  done: Promise<NodeOutcome>;
}

/** The state machine behind every display; usable on its own (tests, other commands). */
export class ConvergenceTracker {
  private readonly nodes = new Map<string, Tracked>();
  private readonly started = Date.now();
  private stream?: EventStream;
  private listeners: (() => void)[] = [];
  private refreshing?: Promise<void>;
  /** For each read of the nodes under way, the changes that arrived meanwhile (replayed onto what it read). */
  private readonly duringRefresh = new Set<LcEvent[]>();

  constructor(
    private readonly client: ApiClient,
    views: readonly NodeView[],
    private readonly enums: Enumerables,
    /** Done test; default: the CLI's converged status. */
    private readonly isDone: (view: NodeView) => boolean = (v) => nodeStatus(v, enums).status === 'converged',
    /** Failure test: the reason the node cannot get there (e.g. an image that fails), or undefined. */
    private readonly isFailed?: (view: NodeView) => string | undefined,
  ) {
    for (const view of views) {
      let resolve!: (o: NodeOutcome) => void;
      const done = new Promise<NodeOutcome>((r) => (resolve = r));
      this.nodes.set(view.cfg.id, {view: structuredClone(view), detail: 'waiting', resolve, done});
    }
  }

  /** Start following; resolves once the stream is open and the nodes re-read. */
  async start(): Promise<void> {
    const ids = [...this.nodes.keys()];
    this.stream = this.client.events(
      {nodes: ids, types: ['STATE_CHANGE', 'MUTATION', 'LOG']},
      {
        onEvent: (e) => this.onEvent(e),
        onOpen: () => void this.refresh(),
        onDisconnect: (reason) => {
          for (const t of this.nodes.values()) if (!t.settled) t.detail = `daemon connection lost (${reason}), reconnecting`;
          this.changed();
        },
      },
    );
    await this.stream.opened;
    await this.refreshing;
  }

  stop(): void {
    this.stream?.close();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  entries(): {id: string; nodename: string; detail: string; settled?: NodeOutcome; done: Promise<NodeOutcome>}[] {
    return [...this.nodes.entries()].map(([id, t]) => ({id, nodename: t.view.cfg.nodename || id, detail: t.detail, settled: t.settled, done: t.done}));
  }

  /** Settle every node still open as timed out. */
  expire(): void {
    for (const [id, t] of this.nodes) if (!t.settled) this.settle(id, 'timeout', t.detail);
  }

  async all(): Promise<FollowResult> {
    const nodes = await Promise.all([...this.nodes.values()].map((t) => t.done));
    return {
      nodes,
      converged: nodes.filter((n) => n.outcome === 'converged').length,
      failed: nodes.filter((n) => n.outcome === 'failed').length,
      timedOut: nodes.filter((n) => n.outcome === 'timeout').length,
    };
  }

  private refresh(): Promise<void> {
    const arrived: LcEvent[] = [];
    this.duringRefresh.add(arrived);
    this.refreshing = (async () => {
      try {
        const views = this.nodes.size > 20 ? await this.client.listNodes() : await Promise.all(
          [...this.nodes.keys()].map((id) => this.client.getNode(id).catch(() => undefined)),
        );
        const byId = new Map(views.filter((v): v is NodeView => Boolean(v)).map((v) => [v.cfg.id, v]));
        for (const [id, t] of this.nodes) {
          if (t.settled) continue;
          const fresh = byId.get(id);
          if (!fresh) this.settle(id, 'failed', 'the node was deleted');
          else {
            t.view = fresh;
            for (const event of arrived) if (event.nodeId === id) this.applyChange(t, event);
            if (t.detail.startsWith('daemon connection lost')) t.detail = 'waiting';
            this.check(id);
            if (!t.settled) void this.checkStuck(id);
          }
        }
      } catch {
        // The stream will reconnect and refresh again.
      } finally {
        this.duringRefresh.delete(arrived);
      }
      this.changed();
    })();
    return this.refreshing;
  }

  private onEvent(event: LcEvent): void {
    const t = this.nodes.get(event.nodeId);
    if (!t || t.settled) return;
    if (event.type === 'STATE_CHANGE') {
      if (event.op === 'DELETE') return this.settle(event.nodeId, 'failed', 'the node was deleted');
      this.applyChange(t, event);
      for (const arrived of this.duringRefresh) arrived.push(event);
    } else if (event.type === 'MUTATION') {
      const id = `${event.module}/${event.mutation}`;
      if (event.kind === 'MUTATE') t.detail = `running ${id}`;
      else if (event.kind === 'COMPLETE') t.detail = `${id} done`;
      else if (event.kind === 'WAIT') t.detail = `waiting: ${event.reason ?? id}`;
      else if (event.kind === 'INTERRUPT') {
        t.detail = `${id} failed: ${event.reason ?? 'interrupted'}; retrying`;
        void this.checkStuck(event.nodeId);
      }
    } else if (event.type === 'LOG' && event.level !== 'debug' && event.level !== 'info') {
      // The engine says why it cannot go on (no plan, a hold): ask whether it has given up.
      void this.checkStuck(event.nodeId);
    }
    this.check(event.nodeId);
    this.changed();
  }

  private applyChange(t: Tracked, event: LcEvent): void {
    if (event.type === 'STATE_CHANGE' && event.op === 'UPDATE' && event.url) setAt(t.view[event.view] as unknown as Record<string, unknown>, event.url, event.value);
  }

  private async checkStuck(id: string): Promise<void> {
    try {
      const why = await this.client.why(id);
      const t = this.nodes.get(id)!;
      if (why.held) this.settle(id, 'failed', `held after ${why.held.failures} failed attempts: ${why.held.reason}`);
      // A BUSY node is not stuck: what it needs waits until the node is FREE (layercake free on the node).
      else if (why.blocked && t.view.dsc.busy === 'BUSY') {
        t.detail = `waiting: the node is ${describeBusy(busyOf(t.view))}`;
        this.changed();
      } else if (why.blocked) this.settle(id, 'failed', `cannot converge: ${why.blocked}`);
    } catch {
      // Best effort: the next interrupt asks again.
    }
  }

  private check(id: string): void {
    const t = this.nodes.get(id)!;
    if (t.settled) return;
    if (this.isDone(t.view)) return this.settle(id, 'converged');
    const failure = this.isFailed?.(t.view);
    if (failure) this.settle(id, 'failed', failure);
  }

  private settle(id: string, outcome: NodeOutcome['outcome'], reason?: string): void {
    const t = this.nodes.get(id)!;
    if (t.settled) return;
    t.settled = {id, nodename: t.view.cfg.nodename || id, outcome, reason, seconds: (Date.now() - this.started) / 1000};
    t.detail = outcome === 'converged' ? 'converged' : reason ?? outcome;
    t.resolve(t.settled);
    this.changed();
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

/**
 * Follow `views` until each converges (or fails, or `timeoutMs` passes), showing progress in `mode`.
 * Returns every node's outcome; it never throws for a node that failed (the caller decides).
 */
export async function followConvergence(opts: {
  client: ApiClient;
  views: readonly NodeView[];
  enums: Enumerables;
  mode: ProgressMode;
  timeoutMs: number;
  isDone?: (view: NodeView) => boolean;
  /** Why a node has failed (it will not get there), or undefined; checked on every change. */
  isFailed?: (view: NodeView) => string | undefined;
  /** What reaching the goal is called in the display (default "converged"). */
  doneLabel?: string;
  log?: (line: string) => void;
}): Promise<FollowResult> {
  const label = opts.doneLabel ?? 'converged';
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const tracker = new ConvergenceTracker(opts.client, opts.views, opts.enums, opts.isDone, opts.isFailed);
  const timer = setTimeout(() => tracker.expire(), opts.timeoutMs);
  try {
    // If the daemon went away, the stream keeps reconnecting; the time limit still ends the wait.
    await Promise.race([tracker.start(), tracker.all()]);
    if (opts.mode === 'tasks') await runTasks(tracker, label);
    else if (opts.mode === 'bar') await runBar(tracker, label);
    else if (opts.mode === 'lines') await runLines(tracker, log, label);
    return await tracker.all();
  } finally {
    clearTimeout(timer);
    tracker.stop();
  }
}

function describeOutcome(o: NodeOutcome, label: string): string {
  const time = dim(`(${o.seconds.toFixed(1)} s)`);
  if (o.outcome === 'converged') return `${green('✔')} ${bold(o.nodename)} ${label} ${time}`;
  if (o.outcome === 'timeout') return `${yellow('⏱')} ${bold(o.nodename)} not ${label} at the time limit: ${o.reason} ${time}`;
  return `${red('✖')} ${bold(o.nodename)} ${o.reason} ${time}`;
}

async function runLines(tracker: ConvergenceTracker, log: (line: string) => void, label: string): Promise<void> {
  await Promise.all(tracker.entries().map(async (e) => log(describeOutcome(await e.done, label))));
}

async function runTasks(tracker: ConvergenceTracker, label: string): Promise<void> {
  // Loaded on demand: only a terminal showing a few nodes needs it.
  const {Listr} = await import('listr2');
  const tasks = new Listr(
    tracker.entries().map((e) => ({
      title: e.nodename,
      task: async (_ctx: unknown, task: {output: string; title: string}) => {
        const update = () => {
          const now = tracker.entries().find((x) => x.id === e.id);
          if (now && !now.settled) task.output = now.detail;
        };
        tracker.onChange(update);
        update();
        const outcome = await e.done;
        if (outcome.outcome === 'converged') task.title = `${e.nodename} ${label} ${dim(`(${outcome.seconds.toFixed(1)} s)`)}`;
        else throw new Error(`${e.nodename}: ${outcome.outcome === 'timeout' ? `not ${label} at the time limit (${outcome.reason})` : outcome.reason}`);
      },
    })),
    {concurrent: true, exitOnError: false, rendererOptions: {collapseErrors: false}},
  );
  await tasks.run().catch(() => {});
}

async function runBar(tracker: ConvergenceTracker, label: string): Promise<void> {
  const out = process.stdout;
  const total = tracker.entries().length;
  let last = 0;
  const draw = (force = false, final = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const entries = tracker.entries();
    const ok = entries.filter((e) => e.settled?.outcome === 'converged').length;
    const bad = entries.filter((e) => e.settled && e.settled.outcome !== 'converged').length;
    const width = 30;
    const filled = Math.round((ok / total) * width);
    const failed = Math.round((bad / total) * width);
    const bar = green('█'.repeat(filled)) + red('█'.repeat(failed)) + dim('░'.repeat(Math.max(0, width - filled - failed)));
    const running = entries.find((e) => !e.settled);
    const tail = running ? dim(` ${running.nodename}: ${running.detail}`.slice(0, 60)) : '';
    out.write(`\r\u001b[2K${bar} ${ok}/${total} ${label}${bad ? red(`, ${bad} failed`) : ''}${tail}`);
    if (final) out.write('\n');
  };
  tracker.onChange(() => draw());
  draw(true);
  await Promise.all(tracker.entries().map((e) => e.done));
  draw(true, true);
  for (const e of tracker.entries()) if (e.settled && e.settled.outcome !== 'converged') out.write(describeOutcome(e.settled, label) + '\n');
}
