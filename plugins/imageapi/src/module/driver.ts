/**
 * One node's image set: compares the node's cfg images with the containers its ImageAPI service runs,
 * and acts on the engine's mutations (activate, deactivate, retry) and on what it sees happen (a
 * container that dies, a cfg change that needs a roll).
 *
 * Plain handlers and discoveries, with no loop of their own: the engine runs one handler per node at a
 * time and owns every wait. A handler is a plain sequence of API calls (stop + delete the old container,
 * create the new one) whose result is discovered when it ends; "not yet" (the service is not up, a
 * retry's backoff has not passed) is a requeue, and giving up is a TerminalError. Between handlers, a
 * watch on the service (long poll) discovers deaths at once, and the cfg events discover rolls (UPDATE).
 */
import {canonical, requeue, requeueAfter, TerminalError, type HandlerResult, type JsonValue, type ModuleContext, type MutationRequest} from '@layercake/sdk';
import type {ApiContainer} from '../api/models.js';
import {ImageApiClient, ImageApiError} from '../client.js';
import {setTimeout as sleep} from 'node:timers/promises';
import {IMAGESET_STATES, image as imageSchema, type Image, type ImageSetState, type ImageSpec} from './extension.js';
import {ANNOTATION_IMAGE, ANNOTATION_SPEC, containerDigest, containerRequest, specDigest, specOf} from './spec.js';

export const STATE_URL = '/extensions/imageset/state';
export const IMAGES_URL = '/extensions/imageset/images';

export interface ImagesetConfig {
  url: string;
  apiBase: string;
  pollInterval: number;
  maxRetries: number;
  backoff: number;
  stableAfter: number;
  requestTimeout: number;
}

/** What the module knows of one image. */
interface Track {
  /** The spec in effect (applied, or the cfg's while nothing runs yet). */
  spec: ImageSpec;
  state: ImageSetState;
  lastError: string;
  retries: number;
  containerId: number;
  containerState: string;
  /** specDigest of what runs ('' if nothing of it runs). */
  applied: string;
  since: string;
  /** When its container was last seen to start (for resetting retries once it has run long enough). */
  runningSince?: number;
  /** When it last failed (its next retry is due `backoff · 2^retries` later). */
  failedAt?: number;
  /** Whether its cfg still lists it. */
  inCfg: boolean;
}

const rank = (s: ImageSetState) => IMAGESET_STATES.indexOf(s);
const ours = (c: ApiContainer) => c.annotations?.[ANNOTATION_IMAGE] !== undefined;
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const unreachable = (e: unknown) => e instanceof ImageApiError && e.status === 0;

export class NodeImageSet {
  private readonly client: ImageApiClient;
  private readonly tracks = new Map<string, Track>();
  private published = '';
  private watching = false;
  /** The mutation at work (the engine runs one at a time per node): the watch does not judge meanwhile. */
  private working?: string;
  /**
   * The containers as the watch last listed them, while no change of the service's has come since (the
   * watch is waiting): a roll starts from them instead of listing again (on a node without KVM one
   * request is ~20 ms of a 0.5 s roll). Dropped when a handler starts (it changes them) and when the
   * watch wakes or fails; a change whose wake is still on its way is the same race as a change right
   * after a fresh list.
   */
  private seen?: ApiContainer[];
  /** Handlers started so far: a list taken while one ran (even one that has ended since) is older than its changes. */
  private handlers = 0;

  constructor(private readonly ctx: ModuleContext<ImagesetConfig>, readonly nodeId: string) {
    this.client = new ImageApiClient({url: ctx.config.url, base: ctx.config.apiBase, timeoutMs: ctx.config.requestTimeout, debug: (msg) => ctx.log.debug(`imageset: ImageAPI ${msg}`)});
  }

  // ---- reading the node ----

  private view() {
    return this.ctx.nodes.get(this.nodeId);
  }

  private dscState(): ImageSetState {
    return ((this.view()?.dsc.extensions.imageset?.state as ImageSetState | undefined) ?? 'UNKNOWN');
  }

  private cfgGoal(): ImageSetState {
    return ((this.view()?.cfg.extensions.imageset?.state as ImageSetState | undefined) ?? 'UNKNOWN');
  }

  /** The cfg images, parsed (a broken entry is reported on that image rather than thrown). */
  private cfgImages(): Map<string, ImageSpec | Error> {
    const raw = (this.view()?.cfg.extensions.imageset?.images ?? {}) as Record<string, unknown>;
    const out = new Map<string, ImageSpec | Error>();
    for (const [name, value] of Object.entries(raw)) {
      const parsed = imageSchema.safeParse(value);
      out.set(name, parsed.success ? specOf(parsed.data) : new Error(`invalid cfg: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`));
    }
    return out;
  }

  private track(name: string, spec: ImageSpec): Track {
    let t = this.tracks.get(name);
    if (!t) this.tracks.set(name, (t = {spec, state: 'IDLE', lastError: '', retries: 0, containerId: 0, containerState: '', applied: '', since: new Date().toISOString(), inCfg: true}));
    return t;
  }

  private setImage(t: Track, state: ImageSetState, lastError?: string): void {
    if (t.state !== state) t.since = new Date().toISOString();
    if (state === 'ERROR') t.failedAt = Date.now();
    t.state = state;
    if (lastError !== undefined) t.lastError = lastError;
  }

  // ---- discovering ----

  /** The set state: as bad as the worst image (an empty set is whatever the caller aims for). */
  private worst(fallback: ImageSetState): ImageSetState {
    let worst: ImageSetState | undefined;
    for (const t of this.tracks.values()) if (!worst || rank(t.state) > rank(worst)) worst = t.state;
    return worst ?? fallback;
  }

  /** Writes the per-image detail into dsc (when it changed). */
  private publish(): void {
    const images: Record<string, Image> = {};
    for (const [name, t] of [...this.tracks].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const {secret: _never, ...source} = t.spec.source;
      images[name] = {
        source: source as Image['source'], mount: t.spec.mount, container: t.spec.container,
        state: t.state, lastError: t.lastError, retries: t.retries, containerId: t.containerId, containerState: t.containerState, applied: t.applied, since: t.since,
      };
    }
    const text = canonical(images);
    if (text === this.published) return;
    this.published = text;
    this.discover(IMAGES_URL, images as unknown as JsonValue);
  }

  private discover(url: string, value: JsonValue): void {
    if (!this.view()) return;
    try {
      this.ctx.discover(this.nodeId, url, value);
    } catch (error) {
      this.ctx.log.error(`imageset: cannot discover ${url} of ${this.nodeId}: ${errorText(error)}`);
    }
  }

  private discoverState(state: ImageSetState): void {
    this.discover(STATE_URL, state);
  }

  // ---- mutation handlers (the engine runs one at a time per node) ----

  async handle(req: MutationRequest): Promise<HandlerResult> {
    this.working = req.mutation;
    this.handlers++;
    const seen = this.seen;
    this.seen = undefined;
    const t0 = performance.now();
    try {
      req.signal.throwIfAborted();
      switch (req.mutation) {
        case 'UKtoIDLE': return await this.discoverSet(req);
        case 'IDLEtoACTIVE':
        case 'UPDATEtoACTIVE': return await this.activateOrThrow(req, seen);
        case 'ERRORtoACTIVE': return await this.retry(req, seen);
        case 'ACTIVEtoIDLE':
        case 'UPDATEtoIDLE':
        case 'ERRORtoIDLE': return await this.deactivate(req);
        case 'SYNCtoINIT': return this.discover('/runState', 'INIT');
        default: throw new Error(`imageset has no mutation ${req.mutation}`);
      }
    } finally {
      this.working = undefined;
      this.ctx.log.debug(`imageset: ${req.mutation} handled: ${Math.round(performance.now() - t0)} ms`);
      this.checkCfg(); // the cfg may have changed while it worked: what changed is rolled next (UPDATE)
    }
  }

  /** UKtoIDLE: learn what runs (containers of ours that match their cfg are kept), then IDLE. */
  private async discoverSet(req: MutationRequest): Promise<HandlerResult> {
    let containers: ApiContainer[];
    try {
      containers = await this.client.listContainers({}, req.signal);
    } catch (error) {
      if (req.signal.aborted || !unreachable(error)) throw error;
      return requeue(`the ImageAPI service at ${this.ctx.config.url} does not answer yet (${errorText(error)})`); // it may start after the daemon
    }
    const cfg = this.cfgImages();
    this.tracks.clear();
    for (const [name, spec] of cfg) {
      if (spec instanceof Error) {
        this.setImage(this.track(name, placeholderSpec()), 'ERROR', spec.message);
        continue;
      }
      const t = this.track(name, spec);
      const c = containers.find((x) => x.annotations?.[ANNOTATION_IMAGE] === name);
      t.containerId = c?.id ?? 0;
      t.containerState = c?.state ?? '';
      if (c?.state === 'running' && c.annotations[ANNOTATION_SPEC] === containerDigest(spec)) {
        t.applied = specDigest(spec);
        t.runningSince = c.started_at ? Date.parse(c.started_at) : Date.now();
        this.setImage(t, 'ACTIVE', '');
      }
    }
    // IDLE means nothing of ours runs, when that is the goal; with ACTIVE as the goal, what already runs as
    // configured is kept (a restarted daemon must not restart its containers).
    if (this.cfgGoal() === 'IDLE') {
      await this.removeAll(containers.filter(ours), req.signal);
      for (const t of this.tracks.values()) {
        if (t.state === 'ERROR') continue;
        Object.assign(t, {containerId: 0, containerState: '', applied: '', runningSince: undefined});
        this.setImage(t, 'IDLE', '');
      }
    }
    this.publish();
    this.discoverState('IDLE');
  }

  /** IDLE/UPDATE→ACTIVE: every image as configured; a failure fails the step (→ ERROR, then retries). */
  private async activateOrThrow(req: MutationRequest, seen?: ApiContainer[]): Promise<void> {
    const failures = await this.activate(req.signal, seen);
    if (failures.length) throw new Error(failures.join('; '));
    this.discoverState('ACTIVE');
  }

  /**
   * ERROR→ACTIVE: once the failed images' backoff has passed (`backoff · 2^(retries so far)` since they
   * last failed; until then "not yet", which the engine waits out), count a retry on each and activate. Past
   * maxRetries an image is FATAL and the step fails for good, with the reason.
   */
  private async retry(req: MutationRequest, seen?: ApiContainer[]): Promise<HandlerResult> {
    const later = this.retryLater();
    if (later) return later;
    const failed = this.failed();
    for (const [, t] of failed) t.retries++;
    this.publish();
    this.ctx.log.info(`imageset: retrying ${failed.map(([n, t]) => `${n} (attempt ${t.retries})`).join(', ') || 'the set'}`);
    const failures = await this.activate(req.signal, seen);
    if (failures.length === 0) {
      this.discoverState('ACTIVE');
      return;
    }
    return this.retryLater() ?? requeue(failures.join('; ')); // (a zero backoff: the engine's own)
  }

  private failed(): [string, Track][] {
    return [...this.tracks.entries()].filter(([, t]) => t.state === 'ERROR');
  }

  /** Gives up (TerminalError) on images out of attempts; else "not yet" until the latest failed image is due. */
  private retryLater(): HandlerResult {
    const {maxRetries, backoff} = this.ctx.config;
    const failed = this.failed();
    const over = failed.filter(([, t]) => t.retries >= maxRetries);
    if (over.length) {
      const reasons = over.map(([name, t]) => {
        t.retries++;
        const reason = `image ${name} gave up after ${t.retries} attempts (maxRetries ${maxRetries}); last error: ${t.lastError || 'unknown'}`;
        this.setImage(t, 'FATAL', `MAX_ATTEMPTS: ${reason}`);
        return reason;
      });
      this.publish();
      throw new TerminalError(reasons.join('; '));
    }
    const due = Math.max(0, ...failed.map(([, t]) => (t.failedAt ?? 0) + backoff * 2 ** t.retries));
    if (due <= Date.now()) return undefined;
    const names = failed.map(([n, t]) => `${n} (retry ${t.retries + 1} of ${maxRetries}; ${t.lastError})`).join(', ');
    return requeueAfter(due - Date.now(), `retrying ${names} after the backoff`);
  }

  /** Brings every image to its cfg, from the containers the watch has `seen` (else listed now); returns the failures (the images are left in ERROR). */
  private async activate(signal: AbortSignal, seen?: ApiContainer[]): Promise<string[]> {
    const containers = seen ?? await this.client.listContainers({}, signal).catch((e) => {
      throw new Error(`SERVER_FAIL: ${errorText(e)}`);
    });
    const cfg = this.cfgImages();
    // Images no longer configured: their containers go.
    for (const c of containers.filter(ours)) {
      const name = c.annotations[ANNOTATION_IMAGE];
      if (!cfg.has(name)) await this.client.deleteContainer({id: c.id, force: true}, signal);
    }
    for (const name of this.tracks.keys()) if (!cfg.has(name)) this.tracks.delete(name);
    const failures: string[] = [];
    for (const [name, spec] of cfg) {
      signal.throwIfAborted();
      if (spec instanceof Error) {
        this.setImage(this.track(name, placeholderSpec()), 'ERROR', spec.message);
        failures.push(`image ${name}: ${spec.message}`);
        continue;
      }
      const problem = await this.applyImage(name, spec, containers, signal);
      if (problem) failures.push(`image ${name}: ${problem}`);
    }
    this.publish();
    return failures; // a cfg change made meanwhile is rolled next (checkCfg after the handler)
  }

  /** One image to its cfg: keep a matching running container, else replace it (stop + delete, create). */
  private async applyImage(name: string, spec: ImageSpec, containers: ApiContainer[], signal: AbortSignal): Promise<string> {
    const t = this.track(name, spec);
    t.inCfg = true;
    const current = containers.find((c) => c.annotations?.[ANNOTATION_IMAGE] === name) ?? containers.find((c) => c.name === name);
    const wantRunning = spec.container.state === 'running';
    if (wantRunning && current?.state === 'running' && current.annotations?.[ANNOTATION_SPEC] === containerDigest(spec)) {
      Object.assign(t, {spec, applied: specDigest(spec), containerId: current.id, containerState: 'running'});
      t.runningSince ??= current.started_at ? Date.parse(current.started_at) : Date.now();
      this.setImage(t, 'ACTIVE', t.state === 'ACTIVE' ? t.lastError : '');
      return '';
    }
    try {
      if (!wantRunning) {
        if (current) await this.client.deleteContainer({id: current.id, force: true}, signal);
        Object.assign(t, {spec, applied: specDigest(spec), containerId: 0, containerState: '', runningSince: undefined});
        this.setImage(t, 'IDLE', '');
        return '';
      }
      if (current && current.name !== name) await this.client.deleteContainer({id: current.id, force: true}, signal);
      // One call rolls it: the service prepares the new mounts, stops the old container, starts the new one.
      Object.assign(t, {applied: '', runningSince: undefined});
      const {container} = await this.client.createContainer(containerRequest(name, spec), signal, {replace: true});
      Object.assign(t, {spec, containerId: container.id, containerState: container.state});
      if (container.state !== 'running') {
        this.setImage(t, 'ERROR', `INIT_FAIL: ${container.error ?? `the container is ${container.state}`}`);
        return t.lastError;
      }
      Object.assign(t, {applied: specDigest(spec), runningSince: Date.now()});
      this.setImage(t, 'ACTIVE', '');
      return '';
    } catch (error) {
      if (signal.aborted) throw error;
      const code = error instanceof ImageApiError && error.status === 0 ? 'SERVER_FAIL' : 'ATTACH';
      t.spec = spec;
      this.setImage(t, 'ERROR', `${code}: ${errorText(error)}`);
      return t.lastError;
    }
  }

  /** →IDLE: every container of ours goes. */
  private async deactivate(req: MutationRequest): Promise<void> {
    const containers = await this.client.listContainers({}, req.signal);
    await this.removeAll(containers.filter(ours), req.signal);
    const cfg = this.cfgImages();
    for (const name of this.tracks.keys()) if (!cfg.has(name)) this.tracks.delete(name);
    for (const [name, spec] of cfg) {
      const t = this.track(name, spec instanceof Error ? placeholderSpec() : spec);
      if (!(spec instanceof Error)) t.spec = spec;
      Object.assign(t, {containerId: 0, containerState: '', applied: '', retries: 0, runningSince: undefined});
      this.setImage(t, 'IDLE', '');
    }
    this.publish();
    this.discoverState('IDLE');
  }

  private async removeAll(containers: ApiContainer[], signal: AbortSignal): Promise<void> {
    for (const c of containers) await this.client.deleteContainer({id: c.id, force: true}, signal);
  }

  // ---- what happens between mutations ----

  /** A cfg change of the images (an event, delivered after the change): the changed ones need a roll (UPDATE), which the engine then plans. */
  cfgChanged(): void {
    if (!this.working) this.checkCfg(); // else the handler at work checks when it ends
  }

  private checkCfg(): void {
    const state = this.dscState();
    if (state !== 'ACTIVE' && state !== 'ERROR' && state !== 'FATAL' && state !== 'UPDATE') return;
    const cfg = this.cfgImages();
    let changed = false;
    for (const [name, spec] of cfg) {
      const t = this.tracks.get(name);
      const wanted = spec instanceof Error ? placeholderSpec() : spec;
      if (t && t.inCfg && specDigest(t.spec) === specDigest(wanted)) continue; // as it was: nothing to roll
      const track = this.track(name, wanted);
      Object.assign(track, {spec: wanted, retries: 0, inCfg: true});
      this.setImage(track, 'UPDATE', spec instanceof Error ? spec.message : '');
      changed = true;
    }
    for (const [name, t] of this.tracks) {
      if (cfg.has(name) || !t.inCfg) continue;
      t.inCfg = false; // removed from cfg: its container goes at the next activation
      this.setImage(t, 'UPDATE', '');
      changed = true;
    }
    if (!changed) return;
    this.ctx.log.debug('imageset: the cfg of an image changed: UPDATE');
    this.publish();
    const next = this.worst(state);
    if (next !== state) this.discoverState(next);
  }

  /** Watches the service; a container of ours that ends while it should run puts its image in ERROR. */
  async watch(signal: AbortSignal): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    let generation = 0;
    let failures = 0;
    try {
      while (!signal.aborted) {
        try {
          const next = await this.client.watch(generation, this.ctx.config.pollInterval, signal);
          if (next !== generation) this.seen = undefined;
          generation = next;
          failures = 0;
          await this.refresh(signal);
        } catch (error) {
          this.seen = undefined;
          if (signal.aborted) break;
          if (failures++ === 0) this.ctx.log.warn(`imageset: the ImageAPI service at ${this.ctx.config.url} does not answer (${errorText(error)}); retrying`);
          await sleep(Math.min(this.ctx.config.pollInterval * 2 ** Math.min(failures, 4), 10_000), undefined, {signal}).catch(() => undefined);
        }
      }
    } finally {
      this.watching = false;
    }
  }

  /** Compares what runs with what should; only judges between mutations. */
  async refresh(signal?: AbortSignal): Promise<void> {
    if (this.working || this.tracks.size === 0) return;
    const handlers = this.handlers;
    const containers = await this.client.listContainers({}, signal);
    if (this.handlers !== handlers) return; // a handler started meanwhile: it knows better
    this.seen = containers;
    const state = this.dscState();
    const now = Date.now();
    for (const [name, t] of this.tracks) {
      const c = containers.find((x) => x.annotations?.[ANNOTATION_IMAGE] === name);
      t.containerState = c?.state ?? '';
      if (t.state !== 'ACTIVE' || t.spec.container.state !== 'running') continue;
      if (!c || c.state === 'exited' || c.state === 'dead') {
        const why = c ? (c.error ?? `the container ${c.state}${c.exit?.code !== undefined && c.exit?.code !== null ? ` with status ${c.exit.code}` : ''}`) : 'the container is gone';
        this.setImage(t, 'ERROR', `DIED: ${why}`);
        t.runningSince = undefined;
        continue;
      }
      if (t.retries > 0 && t.runningSince !== undefined && now - t.runningSince >= this.ctx.config.stableAfter) t.retries = 0;
    }
    this.publish();
    if (state === 'ACTIVE' || state === 'UPDATE') {
      const next = this.worst(state);
      if (rank(next) > rank(state)) this.discoverState(next);
    }
  }
}

/** A stand-in spec for an image whose cfg does not parse (it is shown in ERROR with the reason). */
function placeholderSpec(): ImageSpec {
  return {source: {kind: 'dir', path: '/', fsType: 'squashfs', options: []}, mount: {overlay: true, upper: 'tmpfs'}, container: {command: '/bin/false', systemd: false, state: 'exited'}};
}
