/**
 * How the commands show nodes, values and diffs to a person. Machine output is the command's return
 * value (`--json`); nothing here is parsed by tests except through the documented table headers.
 */
import type {ApplyResult, Change, JsonValue, Node, NodeView} from '../api/types.js';
import {getAt, toPointer, toShorthand} from '../model/url.js';
import {bold, dim, green, red, state, yellow} from './color.js';
import {type Column, renderTable} from './table.js';

export type Enumerables = Record<string, readonly string[]>;

/** A value as one short string: strings bare, everything else as JSON, nothing as "-". */
export function formatValue(value: JsonValue | undefined | null): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** The enum values at a pointer (patterns with `*` match one segment), if it is an enum. */
export function enumAt(enums: Enumerables, pointer: string): readonly string[] | undefined {
  if (enums[pointer]) return enums[pointer];
  const parts = pointer.split('/');
  for (const [pattern, values] of Object.entries(enums)) {
    if (!pattern.includes('*')) continue;
    const p = pattern.split('/');
    if (p.length === parts.length && p.every((seg, i) => seg === '*' || seg === parts[i])) return values;
  }
  return undefined;
}

/** Every enum leaf pointer of a node (the values the engine drives). */
function enumLeaves(node: Node, enums: Enumerables): string[] {
  const out: string[] = [];
  const walk = (value: unknown, pointer: string) => {
    if (typeof value === 'string') {
      if (enumAt(enums, pointer)) out.push(pointer);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, `${pointer}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`);
    }
  };
  walk(node, '');
  return out;
}

export type NodeStatus = 'converged' | 'converging' | 'error';

/**
 * A node's status as the CLI shows it: converged when every enum value its cfg sets (non-zero) is
 * discovered equal; error when a discovered state is an error or hang; converging otherwise.
 */
export function nodeStatus(view: NodeView, enums: Enumerables): {status: NodeStatus; pending: string[]} {
  const pending: string[] = [];
  let error = false;
  for (const pointer of enumLeaves(view.cfg, enums)) {
    const zero = enumAt(enums, pointer)?.[0];
    const want = getAt(view.cfg, pointer);
    const have = getAt(view.dsc, pointer);
    if (typeof have === 'string' && /ERROR|HANG/.test(have)) error = true;
    if (want === zero || want === undefined) continue;
    if (want !== have) pending.push(pointer);
  }
  return {status: error ? 'error' : pending.length ? 'converging' : 'converged', pending};
}

/** A state cell: the discovered value, and `→ cfg` while it differs from a configured non-zero value. */
export function stateCell(view: NodeView, pointer: string, enums: Enumerables): string {
  const have = getAt(view.dsc, pointer);
  const want = getAt(view.cfg, pointer);
  const zero = enumAt(enums, pointer)?.[0];
  const shown = state(formatValue(have ?? zero));
  if (want === undefined || want === zero || want === have) return shown;
  return `${shown}${dim('→')}${state(formatValue(want))}`;
}

export type NodeTableType = 'mixed' | 'cfg' | 'dsc';

/** Column names the table knows besides URLs. */
export const SPECIAL_COLUMNS = ['nodename', 'id', 'parent', 'status'] as const;
export const DEFAULT_COLUMNS: Record<NodeTableType, string[]> = {
  mixed: ['nodename', 'id', 'parent', 'physState', 'runState', 'status'],
  cfg: ['nodename', 'id', 'parent', 'arch', 'platform', 'physState', 'runState'],
  dsc: ['nodename', 'id', 'physState', 'runState', 'busy'],
};

/** The node table: one row per node, in the given order. `columns` are special names or URLs (shorthand or pointers). */
export function nodeTable(views: readonly NodeView[], opts: {type: NodeTableType; columns?: string[]; enums: Enumerables; all?: readonly NodeView[]; extra?: Column<NodeView>[]}): string {
  const names = new Map((opts.all ?? views).map((v) => [v.cfg.id, v.cfg.nodename]));
  const columns = (opts.columns?.length ? opts.columns : DEFAULT_COLUMNS[opts.type]).map((name): Column<NodeView> => {
    switch (name) {
      case 'nodename': return {header: 'NODE', get: (v) => v.cfg.nodename || dim('(unnamed)')};
      case 'id': return {header: 'ID', get: (v) => (opts.columns?.includes('id') ? v.cfg.id : v.cfg.id.slice(0, 8))};
      case 'parent': return {header: 'PARENT', get: (v) => (v.cfg.parentId ? names.get(v.cfg.parentId) || v.cfg.parentId.slice(0, 8) : '-')};
      case 'status': return {header: 'STATUS', get: (v) => state(nodeStatus(v, opts.enums).status)};
      default: {
        const pointer = toPointer(name);
        const header = toShorthand(pointer);
        if (opts.type === 'mixed' && enumAt(opts.enums, pointer)) return {header, get: (v) => stateCell(v, pointer, opts.enums)};
        const pick = (v: NodeView) => (opts.type === 'dsc' ? v.dsc : v.cfg);
        return {header, get: (v) => {
          const value = formatValue(getAt(pick(v), pointer) ?? (opts.type === 'mixed' ? getAt(v.dsc, pointer) : undefined));
          return enumAt(opts.enums, pointer) ? state(value) : value;
        }};
      }
    }
  });
  return renderTable(views, [...columns, ...(opts.extra ?? [])]);
}

/** One line per change: `+ n01` created, `- n01` deleted, `~ n01 physState: POWER_OFF → POWER_ON`. */
export function formatChanges(changes: readonly Change[], opts: {deleted?: readonly Node[]} = {}): string[] {
  const lines: string[] = [];
  for (const c of changes) {
    const who = bold(c.nodename || c.id);
    if (c.url === '' && c.previous === undefined) lines.push(`${green('+')} ${who} ${dim(`created (${c.id})`)}`);
    else if (c.url === '' && c.value === undefined) lines.push(`${red('-')} ${who} ${dim('deleted')}`);
    else lines.push(`${yellow('~')} ${who} ${toShorthand(c.url)}: ${formatValue(c.previous)} ${dim('→')} ${formatValue(c.value)}`);
  }
  for (const n of opts.deleted ?? []) {
    if (!changes.some((c) => c.id === n.id && c.url === '')) lines.push(`${red('-')} ${bold(n.nodename || n.id)} ${dim('deleted')}`);
  }
  return lines;
}

/** The summary line of an apply or set: "2 created, 1 updated, 5 unchanged" (+ "(dry run: nothing changed)"). */
export function applySummary(result: ApplyResult): string {
  const parts = [
    result.created.length && `${result.created.length} created`,
    result.updated.length && `${result.updated.length} updated`,
    result.deleted.length && `${result.deleted.length} deleted`,
    result.unchanged.length && `${result.unchanged.length} unchanged`,
  ].filter(Boolean);
  const text = parts.length ? parts.join(', ') : 'nothing to do';
  return result.dryRun ? `${text} ${yellow('(dry run: nothing was changed)')}` : text;
}

/** A node shown whole, for `node show`: its cfg and dsc as YAML-like indented lines, differences marked. */
export function nodeDetail(view: NodeView, enums: Enumerables): string {
  const lines: string[] = [];
  const leaves = (node: unknown, prefix: string, out: Map<string, JsonValue>) => {
    if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length) {
      for (const [k, v] of Object.entries(node)) leaves(v, `${prefix}/${k}`, out);
    } else if (prefix) {
      out.set(prefix, node as JsonValue);
    }
  };
  const cfg = new Map<string, JsonValue>();
  const dsc = new Map<string, JsonValue>();
  leaves(view.cfg, '', cfg);
  leaves(view.dsc, '', dsc);
  const pointers = [...new Set([...cfg.keys(), ...dsc.keys()])];
  const rows = pointers.map((p) => {
    const c = cfg.get(p);
    const d = dsc.get(p);
    const isEnum = Boolean(enumAt(enums, p));
    const zero = enumAt(enums, p)?.[0];
    const differs = isEnum && c !== undefined && c !== zero && c !== d;
    return {url: toShorthand(p), cfg: c, dsc: d, isEnum, differs};
  });
  const table = renderTable(rows, [
    {header: 'URL', get: (r) => r.url},
    {header: 'CFG', get: (r) => (r.isEnum ? state(formatValue(r.cfg)) : formatValue(r.cfg))},
    {header: 'DSC', get: (r) => (r.isEnum ? state(formatValue(r.dsc)) : formatValue(r.dsc))},
    {header: '', get: (r) => (r.differs ? yellow('≠') : '')},
  ]);
  lines.push(`${bold(view.cfg.nodename || view.cfg.id)}  ${dim(view.cfg.id)}`, '', table);
  return lines.join('\n');
}
