/** Human renderings of the engine's answers: why, path, history, mutations, extensions, modules, status, sync. */
import type {EngineStatus, ExtensionInfo, HistoryEntry, ModuleInfo, MutationInfo, SyncStatusResult, WhyResult} from '../api/types.js';
import {formatDuration} from '../model/duration.js';
import {toShorthand} from '../model/url.js';
import {bold, dim, red, state, yellow} from './color.js';
import {formatValue} from './output.js';
import {renderTable} from './table.js';

const short = (url: string) => (url.startsWith('/') ? toShorthand(url) : url);
const clock = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export function describeWhy(why: WhyResult): string {
  const lines = [bold(why.summary)];
  if (why.frozen) lines.push(yellow('The engine is frozen: nothing is planned or fired (layercake engine thaw).'));
  if (why.differences.length) {
    lines.push('', 'Differences (cfg wants, dsc has):');
    for (const d of why.differences) lines.push(`  ${short(d.url)}: ${state(formatValue(d.dsc))} ${dim('→')} ${state(formatValue(d.cfg))}`);
  }
  if (why.current) {
    const c = why.current;
    const limit = c.timeoutMs ? ` of ${formatDuration(c.timeoutMs)}` : '';
    lines.push('', `Current step: ${bold(c.mutation)} (${c.status}, attempt ${c.attempt}, for ${formatDuration(Date.now() - c.since)}${limit})${c.waitingFor ? `, waiting for ${c.waitingFor}` : ''}`);
  }
  if (why.plan.length) lines.push('', `Plan: ${why.plan.join(dim(' → '))}`);
  if (why.blocked) lines.push('', red(`Blocked: ${why.blocked}`));
  if (why.held) lines.push('', red(`Held since ${clock(why.held.since)} after ${why.held.failures} failures: ${why.held.reason}`), dim(`release it with: layercake node retry ${why.nodename || why.nodeId}`));
  if (why.lastFailure) lines.push('', `Last failure: ${why.lastFailure.mutation} at ${clock(why.lastFailure.time)}: ${why.lastFailure.reason}`);
  if (why.reported?.length) lines.push('', 'Errors the node reports:', ...why.reported.map((r) => `  ${short(r.url)}: ${red(r.error)}`));
  return lines.join('\n');
}

export function historyTable(entries: readonly HistoryEntry[]): string {
  return renderTable(entries, [
    {header: 'TIME', get: (e) => clock(e.time)},
    {header: 'KIND', get: (e) => (e.kind === 'failure' || e.kind === 'interrupt' ? red(e.kind) : e.kind)},
    {header: 'WHAT', get: (e) => {
      if (e.url !== undefined) return `${e.url === '' ? '(node)' : short(e.url)} = ${e.url === '' ? e.message ?? '' : state(formatValue(e.value))}`;
      return [e.mutation, e.message].filter(Boolean).join(': ');
    }},
    {header: 'SOURCE', get: (e) => e.source ?? ''},
  ]);
}

export function mutationsTable(mutations: readonly MutationInfo[]): string {
  const pairs = (o: Record<string, unknown>) => Object.entries(o).map(([u, v]) => `${short(u)}=${formatValue(v as never)}`).join(' ') || '-';
  return renderTable(mutations, [
    {header: 'MUTATION', get: (m) => bold(m.id)},
    {header: 'CHANGES', get: (m) => Object.entries(m.mutates).map(([u, [f, t]]) => `${short(u)}: ${f}→${t}`).join(', ')},
    {header: 'REQUIRES', get: (m) => pairs(m.requires)},
    {header: 'EXCLUDES', get: (m) => pairs(m.excludes)},
    {header: 'CONTEXT', get: (m) => m.context},
    {header: 'TIMEOUT', get: (m) => (m.timeoutMs ? formatDuration(m.timeoutMs) : '-'), right: true},
    {header: 'FAILS TO', get: (m) => (m.failTo ? `${short(m.failTo.url)}=${m.failTo.value}` : '-')},
  ]);
}

export function extensionsTable(extensions: readonly ExtensionInfo[]): string {
  return renderTable(extensions, [
    {header: 'EXTENSION', get: (e) => bold(e.name)},
    {header: 'MODULE', get: (e) => e.module},
    {header: 'ENUMS', get: (e) => Object.entries(e.enums).map(([u, v]) => `${short(u)}: ${v.join('|')}`).join('; ') || '-'},
    {header: 'SECRETS', get: (e) => e.secrets.join(', ') || '-'},
    {header: 'DESCRIPTION', get: (e) => e.description},
  ]);
}

export function modulesTable(modules: readonly ModuleInfo[]): string {
  return renderTable(modules, [
    {header: 'MODULE', get: (m) => bold(m.name)},
    {header: 'STATE', get: (m) => state(m.state)},
    {header: 'RESTARTS', get: (m) => String(m.restarts), right: true},
    {header: 'MUTATIONS', get: (m) => String(m.mutations), right: true},
    {header: 'UP SINCE', get: (m) => (m.startedAt ? clock(m.startedAt) : '-')},
    {header: 'ERROR', get: (m) => (m.error ? red(m.error) : '')},
  ]);
}

export function describeEngine(s: EngineStatus): string {
  const lines = [
    `engine: ${s.frozen ? yellow('frozen') : state('RUN')}`,
    `nodes: ${s.nodes} (${s.converged} converged, ${s.active} active, ${s.waiting} waiting, ${s.blocked} blocked, ${s.held} held)`,
  ];
  const mods = [...new Set([...Object.keys(s.inFlight), ...Object.keys(s.queued)])].sort();
  if (mods.length) lines.push(`mutations: ${mods.map((m) => `${m} ${s.inFlight[m] ?? 0} running${s.queued[m] ? `, ${s.queued[m]} queued` : ''}`).join('; ')}`);
  return lines.join('\n');
}

/** State sync: the link to this daemon's parent, if any, then its children (counts; those not in session, or all). */
export function describeSync(s: SyncStatusResult, all: boolean): string {
  if (!s.enabled) return 'state sync is not running on this daemon (the core sync module is not installed)';
  const lines = [`sync: listening on ${s.listen} (node ${s.selfId})`];
  const p = s.parent;
  if (p) {
    const heard = p.lastHeardMs === undefined ? '' : `, last heard ${formatDuration(p.lastHeardMs)} ago`;
    const since = p.syncedSince ? `, synced since ${clock(p.syncedSince)}` : `, ${p.phoneHomeAttempts} phone-home attempts`;
    lines.push(`parent ${p.address}: ${state(p.state)}${heard}${since}${p.lastRefusal ? red(`; last refusal: ${p.lastRefusal}`) : ''}`);
  }
  const count = (st: string) => s.children.filter((c) => c.state === st).length;
  lines.push(`children: ${s.children.length} (${count('synced')} synced, ${count('pending')} pending, ${count('none')} not in session)`);
  const shown = all ? s.children : s.children.filter((c) => c.state !== 'synced');
  if (shown.length) {
    lines.push(renderTable([...shown].sort((a, b) => a.nodename.localeCompare(b.nodename)), [
      {header: 'NODE', get: (c) => c.nodename || c.id},
      {header: 'STATE', get: (c) => state(c.state)},
      {header: 'ADDRESS', get: (c) => c.address ?? dim('-')},
      {header: 'LAST HEARD', get: (c) => (c.lastHeardMs === undefined ? dim('-') : `${formatDuration(c.lastHeardMs)} ago`), right: true},
    ]));
  }
  if (!all && shown.length < s.children.length) lines.push(dim(`${s.children.length - shown.length} synced children not listed (--all lists them)`));
  return lines.join('\n');
}
