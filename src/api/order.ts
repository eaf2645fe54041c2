/**
 * The order nodes are listed in, by the API and the CLI alike: parents before their children, and
 * siblings by name in natural order (n2 before n10), then by id. Nodes whose parent is not in the list
 * (the daemon's own node, or nodes of another parent) are roots.
 */
import type {Node} from '../model/node.js';

const collator = new Intl.Collator('en', {numeric: true, sensitivity: 'base'});

export function compareByName(a: Pick<Node, 'nodename' | 'id'>, b: Pick<Node, 'nodename' | 'id'>): number {
  // Unnamed nodes go after named ones.
  if (!a.nodename !== !b.nodename) return a.nodename ? -1 : 1;
  return collator.compare(a.nodename, b.nodename) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Sort items (anything holding a cfg node) parent-first, then by name. Stable for equal keys. */
export function sortParentFirst<T>(items: readonly T[], cfgOf: (item: T) => Pick<Node, 'id' | 'nodename' | 'parentId'>): T[] {
  const byId = new Map(items.map((item) => [cfgOf(item).id, item]));
  const children = new Map<string, T[]>();
  const roots: T[] = [];
  for (const item of items) {
    const {id, parentId} = cfgOf(item);
    if (parentId && parentId !== id && byId.has(parentId)) {
      let list = children.get(parentId);
      if (!list) children.set(parentId, (list = []));
      list.push(item);
    } else {
      roots.push(item);
    }
  }
  const cmp = (a: T, b: T) => compareByName(cfgOf(a), cfgOf(b));
  const out: T[] = [];
  const seen = new Set<string>();
  const visit = (item: T) => {
    const id = cfgOf(item).id;
    if (seen.has(id)) return;
    seen.add(id);
    out.push(item);
    for (const child of (children.get(id) ?? []).sort(cmp)) visit(child);
  };
  for (const root of roots.sort(cmp)) visit(root);
  // A parent cycle (a → b → a) has no root: list what is left by name rather than dropping it.
  for (const item of [...items].sort(cmp)) visit(item);
  return out;
}
