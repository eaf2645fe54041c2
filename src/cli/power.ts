/**
 * `layercake power on|off|cycle|status`: power is operator intent in cfg, which the engine then drives.
 *
 * - on: cfg physState POWER_ON, and runState SYNC when a module can bring runState there (the boot chain
 *   is installed), so "on" means "up", as it did in the original dashboard; `boot: false` powers on only.
 * - off: cfg physState POWER_OFF, and every cfg value that cannot hold while off (the engine's knowability
 *   rule: runState, the PXE state, ...) reset to its zero, so the node does not try to boot.
 *   The values reset are set aside in the node's cfg (the core's power extension).
 * - on: also puts back what power off set aside, so the node's images run again.
 * - cycle: off as above, wait until the nodes are discovered off, then on as above.
 * Powering off or cycling nodes that are up (dsc runState SYNC) asks first on a terminal.
 */
import type {ApiClient} from '../api/client/client.js';
import type {ApplyResult, Change, NodeView} from '../api/types.js';
import type {PowerExtension} from '../model/power.js';
import {setAt} from '../model/url.js';
import {CliError} from './errors.js';
import {compressHostlist} from './hostlist.js';
import {type Enumerables} from './output.js';
import {type FollowResult, followConvergence, type ProgressMode} from './progress.js';
import {confirmAction} from './prompts.js';

export type PowerAction = 'on' | 'off' | 'cycle';

export interface PowerOptions {
  yes?: boolean;
  json?: boolean;
  wait?: boolean;
  dryRun?: boolean;
  /** For `on`: also ask for runState SYNC when possible (default true). */
  boot?: boolean;
  timeoutMs: number;
  mode: ProgressMode;
  log: (line: string) => void;
  /** Shown the cfg changes as soon as they are made (before any waiting). */
  announce?: (changes: Change[]) => void;
}

export interface PowerResult {
  action: PowerAction;
  dryRun: boolean;
  nodes: {id: string; nodename: string}[];
  changes: Change[];
  /** With --wait (and always for cycle's off phase): how each node ended up. */
  wait?: FollowResult;
}

/** Whether some module can move runState (so asking for SYNC can be satisfied). */
async function canBoot(client: ApiClient): Promise<boolean> {
  return (await client.mutations()).some((m) => Object.keys(m.mutates).includes('/runState'));
}

const isUp = (v: NodeView) => v.dsc.runState === 'SYNC';

/** Asks before powering off or cycling nodes that are up (dsc runState SYNC); off a terminal, --yes is required. */
export async function confirmDisruption(action: PowerAction, views: readonly NodeView[], opts: {yes?: boolean; json?: boolean; dryRun?: boolean}): Promise<void> {
  const up = views.filter(isUp);
  if (up.length === 0 || opts.dryRun) return;
  const verb = action === 'off' ? 'Power off' : 'Power cycle';
  await confirmAction(`${verb} ${up.length} running node${up.length === 1 ? '' : 's'} (${compressHostlist(up.map((v) => v.cfg.nodename || v.cfg.id))})?`, {yes: opts.yes, json: opts.json});
}

export async function runPowerAction(client: ApiClient, action: PowerAction, views: NodeView[], opts: PowerOptions): Promise<PowerResult> {
  const ids = views.map((v) => v.cfg.id);
  const nodes = views.map((v) => ({id: v.cfg.id, nodename: v.cfg.nodename}));
  const enumsP = client.stateEnumerables();
  const boot = opts.boot !== false && (await canBoot(client));
  let result: ApplyResult;
  if (action === 'on') {
    result = await client.apply(powerOnInputs(views, boot), {dryRun: opts.dryRun});
  } else {
    await confirmDisruption(action, views, opts);
    result = await client.setValues({nodes: ids, set: {physState: 'POWER_OFF'}, resetUnknowable: true}, {dryRun: opts.dryRun});
  }
  const out: PowerResult = {action, dryRun: Boolean(opts.dryRun), nodes, changes: result.changes};
  opts.announce?.(result.changes);
  if (opts.dryRun) return out;
  const enums = await enumsP;

  if (action === 'cycle') {
    opts.log(`waiting for ${compressHostlist(nodes.map((n) => n.nodename || n.id))} to power off`);
    const offWait = await follow(client, ids, enums, opts, (v) => v.dsc.physState === 'POWER_OFF', 'powered off');
    if (offWait.failed || offWait.timedOut) {
      throw new CliError(`power cycle stopped: ${offWait.failed + offWait.timedOut} node(s) did not power off; none was powered on again`, {
        code: 'LC_ERR_POWER_CYCLE', hint: 'see layercake node why NODE; the nodes are left with cfg physState POWER_OFF',
      });
    }
    const wanted = new Set(ids);
    const on = await client.apply(powerOnInputs((await client.listNodes()).filter((v) => wanted.has(v.cfg.id)), boot));
    opts.announce?.(on.changes);
    out.changes = [...out.changes, ...on.changes];
  }
  if (opts.wait) out.wait = await follow(client, ids, enums, opts);
  return out;
}

/**
 * Power on, per node: physState POWER_ON, the values power off set aside (the core's power extension:
 * runState SYNC, imageset.state ACTIVE, ...) put back, the extension removed; and runState SYNC when
 * `boot` and nothing was set aside for it (a node that was never up, or powered off by other means).
 */
export function powerOnInputs(views: readonly NodeView[], boot: boolean): Record<string, unknown>[] {
  return views.map((v) => {
    const resume = (v.cfg.extensions.power as unknown as PowerExtension | undefined)?.resume ?? {};
    const input: Record<string, unknown> = {id: v.cfg.id, physState: 'POWER_ON'};
    if (boot && v.cfg.runState !== 'SYNC' && resume['/runState'] === undefined) input.runState = 'SYNC';
    for (const [url, value] of Object.entries(resume)) setAt(input, url, value);
    if (v.cfg.extensions.power !== undefined) setAt(input, '/extensions/power', null);
    return input;
  });
}

async function follow(client: ApiClient, ids: string[], enums: Enumerables, opts: PowerOptions, isDone?: (v: NodeView) => boolean, doneLabel?: string): Promise<FollowResult> {
  const all = await client.listNodes();
  const wanted = new Set(ids);
  return followConvergence({client, views: all.filter((v) => wanted.has(v.cfg.id)), enums, mode: opts.mode, timeoutMs: opts.timeoutMs, isDone, doneLabel, log: opts.log});
}
