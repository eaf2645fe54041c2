/**
 * A staged roll, in the vocabulary of Kubernetes rolling updates: the nodes in hostlist order, in
 * batches of --batch; a batch starts only when at most --max-unavailable nodes of the roll would be out
 * of service with it (nodes already unavailable count: the roll waits for them, as a Deployment's
 * rollout does, up to the time limit); it is done when each of its nodes runs the new images; the first
 * batch that fails stops the roll (its failed nodes get their previous images back in cfg, later
 * batches are never touched). Every step is written to the roll record first (record.ts), so
 * `--resume` continues from the daemon's store whoever or whatever stopped the CLI.
 */
import {busyOf, describeBusy, type NodeView} from '@layercake/sdk';
import {CliError, compressHostlist, followConvergence, matchTargets, type progressMode, type ApiClient} from '@layercake/sdk/cli';
import {applyRoll, isAvailable, isRolled, previousImages, resolveImages, rollFailure, rollPatch, type CatalogueLookup} from './images.js';
import {writeRoll, type RollRecord} from './record.js';

/** One line of the roll's history (the --json output's `events`). */
export interface RollEvent {
  at: string;
  event: 'batch-start' | 'waiting-unavailable' | 'waiting-busy' | 'batch-rolled' | 'batch-failed' | 'roll-done';
  batch?: number;
  nodes?: string[];
  detail?: string;
}

export interface StagedRun {
  client: ApiClient;
  self: string;
  record: RollRecord;
  /** Where NAME:VERSION images of the record are found (looked up again on --resume; a catalogue entry never changes in place). */
  catalogue: CatalogueLookup;
  /** Per batch: how long it may take, waiting for the unavailability budget included. */
  timeoutMs: number;
  mode: ReturnType<typeof progressMode>;
  enums: Record<string, readonly string[]>;
  log: (line: string) => void;
}

/** The batches of `nodes`, in order. */
export function batchesOf<T>(nodes: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < nodes.length; i += size) out.push(nodes.slice(i, i + size));
  return out;
}

/** Checks --batch and --max-unavailable (usage errors name the flag; nothing is changed). */
export function checkStaging(batch: number, maxUnavailable: number): void {
  const usage = (message: string, hint: string) => new CliError(message, {code: 'LC_ERR_USAGE', exit: 2, hint: `${hint}; nothing was changed`});
  if (!Number.isInteger(batch) || batch < 1) throw usage(`--batch ${batch}: a batch is at least 1 node`, 'give --batch 1 (one node at a time) or more');
  if (!Number.isInteger(maxUnavailable) || maxUnavailable < 1) throw usage(`--max-unavailable ${maxUnavailable}: at least 1 node must be allowed out of service, or nothing can roll`, 'give --max-unavailable 1 or more (default: --batch)');
  if (maxUnavailable < batch) {
    throw usage(`--max-unavailable ${maxUnavailable} is less than --batch ${batch}: the ${batch} nodes of a batch are out of service together, so no batch could ever start`, `give --max-unavailable ${batch} or more, or a smaller --batch`);
  }
}

export async function runStagedRoll(run: StagedRun): Promise<RollEvent[]> {
  const {client, record, log} = run;
  const events: RollEvent[] = [];
  const emit = (e: Omit<RollEvent, 'at'>) => events.push({at: new Date().toISOString(), ...e});
  const assignments = resolveImages(record.images, run.catalogue);
  const names = assignments.map((a) => a.name);
  const batches = batchesOf(record.nodes, record.batch);
  const save = (patch: Partial<RollRecord>) => writeRoll(client, run.self, Object.assign(record, patch));
  for (let b = Math.floor(record.rolled / record.batch); b < batches.length; b++) {
    const batch = batches[b];
    const label = `batch ${b + 1}/${batches.length} (${compressHostlist(batch)})`;
    const deadline = Date.now() + run.timeoutMs;
    try {
      await waitForBudget(run, batch, deadline, label, emit);
    } catch (error) {
      await save({status: 'stopped', failed: [{node: (error as CliError).node ?? '', reason: (error as Error).message}]});
      throw error;
    }
    const all = await client.listNodes();
    const views = matchTargets(batch, all);
    emit({event: 'batch-start', batch: b + 1, nodes: batch});
    log(`${label}: rolling`);
    for (const v of views.filter((v) => v.dsc.busy === 'BUSY')) {
      const detail = `${v.cfg.nodename} is ${describeBusy(busyOf(v))}: it rolls once it is FREE (layercake free on the node)`;
      emit({event: 'waiting-busy', batch: b + 1, nodes: [v.cfg.nodename], detail});
      log(`  ${detail}`);
    }
    await save({status: 'rolling', failed: []});
    await applyRoll(client, views, views.map((v) => rollPatch(v, assignments, record.remove)));
    const fresh = matchTargets(batch, await client.listNodes());
    const wait = await followConvergence({
      client, views: fresh, enums: run.enums, mode: run.mode, timeoutMs: Math.max(1000, deadline - Date.now()),
      isDone: (v) => isRolled(v, names, record.remove), isFailed: (v) => rollFailure(v, names), doneLabel: 'rolled', log,
    });
    const failed = wait.nodes.filter((n) => n.outcome !== 'converged');
    if (failed.length) {
      // The nodes that did not roll get their previous images back: they keep serving the old ones.
      await client.apply(failed.map((n) => ({id: n.id, extensions: {imageset: {images: previousImages(views.find((v) => v.cfg.id === n.id)!, names, record.remove)}}})));
      const reasons = failed.map((n) => ({node: n.nodename, reason: n.outcome === 'timeout' ? `not rolled at the time limit (${n.reason})` : n.reason ?? n.outcome}));
      await save({status: 'stopped', failed: reasons});
      emit({event: 'batch-failed', batch: b + 1, nodes: reasons.map((r) => r.node), detail: reasons.map((r) => `${r.node}: ${r.reason}`).join('; ')});
      const untouched = record.nodes.slice((b + 1) * record.batch);
      throw new CliError(`${label} failed, the roll stopped: ${reasons.map((r) => `${r.node}: ${r.reason}`).join('; ')}. `
        + `${record.rolled} node(s) rolled before it; ${failed.length} put back on their previous images${untouched.length ? `; ${compressHostlist(untouched)} not touched` : ''}`, {
        code: 'LC_ERR_ROLL_FAILED', node: reasons[0].node,
        hint: 'fix the cause (layercake image status NODES shows each image\'s last error), then continue with `layercake image roll --resume`',
      });
    }
    await save({rolled: Math.min(record.nodes.length, (b + 1) * record.batch)});
    emit({event: 'batch-rolled', batch: b + 1, nodes: batch});
    log(`${label}: rolled (${record.rolled}/${record.nodes.length} nodes)`);
  }
  await save({status: 'done'});
  emit({event: 'roll-done', nodes: record.nodes});
  log(`roll done: ${record.nodes.length} node(s) in ${batches.length} batch(es)`);
  return events;
}

/**
 * Waits until the batch may start: the nodes of the roll outside it that are out of service, plus the
 * batch, are at most --max-unavailable. Rechecked on every state change of the roll's nodes.
 */
async function waitForBudget(run: StagedRun, batch: readonly string[], deadline: number, label: string, emit: (e: Omit<RollEvent, 'at'>) => void): Promise<void> {
  const inBatch = new Set(batch);
  const blocking = (views: NodeView[]) => views.filter((v) => !inBatch.has(v.cfg.nodename) && !isAvailable(v)).map((v) => v.cfg.nodename);
  const roll = async () => matchTargets(run.record.nodes, await run.client.listNodes());
  let others = blocking(await roll());
  if (others.length + batch.length <= run.record.maxUnavailable) return;
  const say = () => {
    const detail = `${others.length} node(s) of the roll already out of service (${compressHostlist(others)}); with the ${batch.length} of the batch that is over --max-unavailable ${run.record.maxUnavailable}: waiting for them`;
    emit({event: 'waiting-unavailable', nodes: others, detail});
    run.log(`${label}: ${detail}`);
  };
  say();
  const ids = (await roll()).map((v) => v.cfg.id);
  await new Promise<void>((resolve, reject) => {
    let checking = false;
    const done = (error?: Error) => {
      clearTimeout(timer);
      stream.close();
      if (error) reject(error);
      else resolve();
    };
    const check = async () => {
      if (checking) return;
      checking = true;
      try {
        const now = blocking(await roll());
        if (now.length + batch.length <= run.record.maxUnavailable) return done();
        if (now.join() !== others.join()) {
          others = now;
          say();
        }
      } catch {
        // The stream reconnects and the next change checks again.
      } finally {
        checking = false;
      }
    };
    const stream = run.client.events({nodes: ids, types: ['STATE_CHANGE']}, {onEvent: () => void check(), onOpen: () => void check()});
    const timer = setTimeout(() => done(new CliError(`${label} could not start: ${compressHostlist(others)} stayed out of service, over --max-unavailable ${run.record.maxUnavailable}, until the time limit; the roll is paused, nothing of this batch was changed`, {
      code: 'LC_ERR_ROLL_FAILED', node: others[0],
      hint: 'bring those nodes back (layercake node why NODE), or allow more with a new roll\'s --max-unavailable; then `layercake image roll --resume`',
    })), Math.max(0, deadline - Date.now()));
  });
}
