/**
 * `layercake watch`: a live view fed by the event stream. On a terminal, a node table redrawn as events
 * arrive (at most five times a second) with each node's latest activity; off a terminal, one line per
 * event; with --json, one JSON event per line. When the daemon goes away the view says so and keeps
 * trying; when it is back, the nodes are re-read and the view carries on.
 */
import type {ApiClient} from '../api/client/client.js';
import type {LcEvent, NodeView} from '../api/types.js';
import {sortParentFirst} from '../api/order.js';
import {setAt, toShorthand} from '../model/url.js';
import {bold, dim, red, state, yellow} from './color.js';
import {type Enumerables, formatValue, nodeStatus, nodeTable, type NodeTableType} from './output.js';

export interface WatchOptions {
  /** Node ids to watch; undefined: every node (nodes created later appear). */
  ids?: string[];
  type: NodeTableType;
  columns?: string[];
  mode: 'table' | 'lines' | 'json';
  /** Stop after this long (default: until interrupted). */
  forMs?: number;
  write: (text: string) => void;
}

export interface WatchResult {
  events: number;
  reconnects: number;
}

const time = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

/** One line for one event (the off-terminal view). */
export function describeEvent(e: LcEvent, nameOf: (id: string) => string): string {
  const who = bold(nameOf(e.nodeId));
  switch (e.type) {
    case 'STATE_CHANGE':
      if (e.op === 'CREATE') return `${time(e.time)} ${who} created`;
      if (e.op === 'DELETE') return `${time(e.time)} ${who} deleted`;
      return `${time(e.time)} ${who} ${e.view} ${toShorthand(e.url)}: ${formatValue(e.previous)} ${dim('→')} ${state(formatValue(e.value))}`;
    case 'MUTATION': {
      const id = `${e.module}/${e.mutation}`;
      const word = e.kind === 'MUTATE' ? yellow('running') : e.kind === 'COMPLETE' ? state('done') : e.kind === 'INTERRUPT' ? red('failed') : 'waiting';
      return `${time(e.time)} ${who} ${word} ${id}${e.reason ? `: ${e.reason}` : ''}`;
    }
    case 'DISCOVERY':
      return `${time(e.time)} ${who} discovered ${toShorthand(e.url)} = ${formatValue(e.value)} (${e.source})`;
    case 'LOG':
      return `${time(e.time)} ${who} ${e.level}: ${e.message}`;
  }
}

export async function watch(client: ApiClient, enums: Enumerables, opts: WatchOptions): Promise<WatchResult> {
  const nodes = new Map<string, NodeView>();
  const activity = new Map<string, string>();
  const result: WatchResult = {events: 0, reconnects: 0};
  let status = 'connecting';
  let opens = 0;
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  const wanted = opts.ids && new Set(opts.ids);
  const nameOf = (id: string) => nodes.get(id)?.cfg.nodename || id.slice(0, 8);

  const draw = () => {
    if (opts.mode !== 'table') return;
    const now = Date.now();
    if (now - last < 200) {
      timer ??= setTimeout(() => { timer = undefined; draw(); }, 200 - (now - last));
      return;
    }
    last = now;
    const views = sortParentFirst([...nodes.values()], (v) => v.cfg);
    const counts = views.reduce((c, v) => { c[nodeStatus(v, enums).status]++; return c; }, {converged: 0, converging: 0, error: 0});
    const header = `${bold('layercake watch')} ${client.url}  ${views.length} nodes: ${state('converged')} ${counts.converged}, ${yellow('converging')} ${counts.converging}, ${red('error')} ${counts.error}  ${dim(time(now))}  ${status === 'live' ? '' : red(status)}`;
    const table = nodeTable(views, {
      type: opts.type, columns: opts.columns ?? defaultColumns(opts.type), enums,
      extra: [{header: 'ACTIVITY', get: (v) => dim(activity.get(v.cfg.id) ?? '')}],
    });
    opts.write(`\u001b[H\u001b[2J${header}\n\n${table}\n${dim('Ctrl-C to stop')}\n`);
  };

  const refresh = async () => {
    const all = await client.listNodes();
    nodes.clear();
    for (const v of all) if (!wanted || wanted.has(v.cfg.id)) nodes.set(v.cfg.id, v);
    draw();
  };

  const onEvent = (e: LcEvent) => {
    result.events++;
    if (opts.mode === 'json') opts.write(JSON.stringify(e) + '\n');
    else if (opts.mode === 'lines') opts.write(describeEvent(e, nameOf) + '\n');
    const view = nodes.get(e.nodeId);
    if (e.type === 'STATE_CHANGE') {
      if (e.op === 'CREATE' && !wanted) void client.getNode(e.nodeId).then((v) => { nodes.set(v.cfg.id, v); draw(); }, () => {});
      else if (e.op === 'DELETE') nodes.delete(e.nodeId);
      else if (view && e.url) setAt(view[e.view] as unknown as Record<string, unknown>, e.url, e.value);
    } else if (e.type === 'MUTATION') {
      const id = `${e.module}/${e.mutation}`;
      activity.set(e.nodeId, e.kind === 'MUTATE' ? `running ${id}` : e.kind === 'COMPLETE' ? `${id} done` : e.kind === 'INTERRUPT' ? `${id} failed: ${e.reason ?? ''}` : `waiting: ${e.reason ?? id}`);
    }
    draw();
  };

  // Fail at once (with where it tried and how to start one) if there is no daemon to begin with. The
  // nodes are read before the stream opens, so the first events already carry names, not ids.
  await client.health();
  await refresh();
  const stream = client.events({nodes: opts.ids, types: ['STATE_CHANGE', 'MUTATION']}, {
    onEvent,
    onOpen: () => {
      opens++;
      status = 'live';
      if (opens > 1) {
        result.reconnects++;
        if (opts.mode === 'lines') opts.write(`${time(Date.now())} reconnected to ${client.url}\n`);
      } else if (opts.mode === 'lines') {
        opts.write(`${time(Date.now())} watching ${client.url}\n`);
      }
      void refresh().catch(() => {});
    },
    onDisconnect: (reason, delayMs) => {
      status = `daemon connection lost (${reason}); retrying`;
      if (opts.mode === 'lines') opts.write(`${time(Date.now())} daemon connection lost (${reason}); retrying in ${((delayMs ?? 0) / 1000).toFixed(1)} s\n`);
      draw();
    },
  });
  let done = () => {};
  try {
    await stream.opened;
    await new Promise<void>((resolve) => {
      done = resolve;
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      if (opts.forMs) setTimeout(done, opts.forMs).unref();
    });
  } finally {
    process.off('SIGINT', done);
    process.off('SIGTERM', done);
    if (timer) clearTimeout(timer);
    stream.close();
  }
  return result;
}

function defaultColumns(type: NodeTableType): string[] {
  return type === 'mixed' ? ['nodename', 'physState', 'runState', 'status'] : ['nodename', 'physState', 'runState'];
}
