/**
 * Turning NODES arguments into nodes: hostlist expressions and ids, or --all. Every name must exist;
 * unknown ones are reported together, so a typo in `n[01-17]` says which names are missing.
 */
import type {ApiClient} from '../api/client/client.js';
import type {NodeView} from '../api/types.js';
import {sortParentFirst} from '../api/order.js';
import {CliError} from './errors.js';
import {compressHostlist, expandHostlists} from './hostlist.js';

export interface Targets {
  /** The nodes, in the order given (--all: parent first, then by name). */
  views: NodeView[];
  /** Every node the daemon has (for names of parents and such). */
  all: NodeView[];
}

/** Resolve hostlist/id arguments against `all`; throws naming every unknown name. */
export function matchTargets(expressions: readonly string[], all: readonly NodeView[]): NodeView[] {
  const byName = new Map(all.map((v) => [v.cfg.nodename, v]));
  const byId = new Map(all.map((v) => [v.cfg.id, v]));
  const names = expandHostlists(expressions);
  const unknown: string[] = [];
  const out = new Map<string, NodeView>();
  for (const name of names) {
    const view = byId.get(name) ?? byName.get(name);
    if (view) out.set(view.cfg.id, view);
    else unknown.push(name);
  }
  if (unknown.length) {
    const list = compressHostlist(unknown);
    throw new CliError(`no node ${list}${expressions.length === 1 && expressions[0] !== list ? ` (in ${expressions[0]})` : ''}`, {
      code: 'LC_ERR_NODE_UNKNOWN', node: unknown[0],
      hint: '`layercake node list` shows the nodes there are; nothing was changed',
    });
  }
  return [...out.values()];
}

/**
 * The nodes a command acts on. Acting on nodes needs explicit targets or --all: a bare `power off`
 * must never mean every node.
 */
export async function resolveTargets(client: ApiClient, expressions: readonly string[], opts: {all?: boolean; allowEmpty?: boolean} = {}): Promise<Targets> {
  if (expressions.length && opts.all) {
    throw new CliError('give either NODES or --all, not both', {code: 'LC_ERR_TARGETS', exit: 2, hint: 'drop --all to act on the named nodes only'});
  }
  if (!expressions.length && !opts.all && !opts.allowEmpty) {
    throw new CliError('no nodes given', {code: 'LC_ERR_TARGETS', exit: 2, hint: 'name the nodes (a hostlist such as n[01-04],gpu1, or ids) or pass --all'});
  }
  const all = sortParentFirst(await client.listNodes(), (v) => v.cfg);
  if (opts.all || !expressions.length) return {views: all, all};
  return {views: matchTargets(expressions, all), all};
}
