/**
 * SyncEngine: the parent/child state sync of one daemon (docs/sync-protocol.md).
 *
 * Every daemon is a parent for the nodes whose cfg parentId is its own id; a daemon started with
 * `--parent` is also a child of that parent. Both roles share one UDP socket.
 */
import {lookup} from 'node:dns/promises';
import {readFileSync} from 'node:fs';
import {isIP} from 'node:net';
import type {LcEvent, StateChangeEvent} from '../model/events.js';
import type {NodeView} from '../model/node.js';
import type {SyncStatus} from '../api/types.js';
import {ChildRole} from './child.js';
import {batchWindowMs, parseHostPort, parseParentUrl, parseSyncConfig, type SyncConfig, type SyncConfigInput} from './config.js';
import type {RoleContext} from './context.js';
import {newJoinSecret, parseJoinSecret} from './crypto.js';
import {silentLogger, type Logger, type SyncEngineControl, type SyncRegistry, type SyncStore} from './deps.js';
import {Ledger} from './ledger.js';
import {flatten, getAt, groupRoot} from './leaves.js';
import {DROP_REASONS, SyncCounters, type MetricSample} from './metrics.js';
import {Ownership, dscSyncable} from './ownership.js';
import {ParentRole} from './parent.js';
import {ByteBudget} from './reassembly.js';
import {RttEstimator} from './rtt.js';
import {Scheduler} from './scheduler.js';
import type {PeerAddress} from './session.js';
import {Transport} from './transport.js';
import {NIL_UUID, isUuid} from './uuid.js';
import {MsgType, isJoinKeyed, type Datagram} from './wire.js';

export interface SyncEngineOptions {
  store: SyncStore;
  registry: SyncRegistry;
  /** This daemon's node id. */
  selfId: string;
  /** The `sync` section of the daemon config (validated and defaulted here). */
  config?: SyncConfigInput | Partial<SyncConfig>;
  logger?: Logger;
  /** `--parent URL`: makes this daemon a child of that parent. */
  parent?: string;
  /** A child's join secret (64 hex digits), e.g. read by the daemon from `--join-secret-file`. */
  joinSecret?: string;
  /** The engine, on a child: it should start frozen; it is thawed once the parent's state has arrived. */
  engine?: SyncEngineControl;
}

type Dirty = {cfg: Set<string>; dsc: Set<string>};

export class SyncEngine {
  readonly config: SyncConfig;
  readonly counters = new SyncCounters();
  private readonly store: SyncStore;
  private readonly registry: SyncRegistry;
  private readonly selfId: string;
  private readonly log: Logger;
  private readonly transport: Transport;
  private readonly scheduler: Scheduler;
  private readonly budget: ByteBudget;
  private readonly rtt: RttEstimator;
  private ownership: Ownership;
  private readonly ledgers = new Map<string, Ledger>();
  private readonly dirty = new Map<string, Dirty>();
  private readonly needSecret = new Set<string>();
  private flushing = false;
  private secretTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly parentRole: ParentRole;
  private childRole: ChildRole | undefined;
  private started = false;

  constructor(private readonly opts: SyncEngineOptions) {
    if (!isUuid(opts.selfId)) throw new Error(`sync: the daemon id must be a UUID, got "${opts.selfId}"`);
    this.config = parseSyncConfig(opts.config ?? {});
    this.store = opts.store;
    this.registry = opts.registry;
    this.selfId = opts.selfId;
    this.log = opts.logger ?? silentLogger;
    this.budget = new ByteBudget(this.config.maxReassemblyBytes);
    this.rtt = new RttEstimator(this.config.retransmit, this.config.helloInterval);
    this.scheduler = new Scheduler(batchWindowMs(this.config));
    this.transport = new Transport(parseHostPort(this.config.listen, 31415), this.config, this.counters, this.log);
    this.ownership = new Ownership(this.registry);
    this.parentRole = new ParentRole(this.context());
  }

  private context(): RoleContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const engine = this;
    return {
      selfId: this.selfId,
      store: this.store,
      config: this.config,
      log: this.log,
      counters: this.counters,
      get ownership() { return engine.ownership; }, // rebuilt at start, once every module is registered
      transport: this.transport,
      scheduler: this.scheduler,
      budget: this.budget,
      rtt: this.rtt,
      ledger: (id) => this.ledger(id),
      rescanNow: (id) => this.rescanNow(id),
      markDirty: (id) => this.markDirty(id, 'dsc', ''),
      now: () => Date.now(),
    };
  }

  /** Binds the socket, takes stock of the store, and (on a child) starts phoning home. */
  async start(): Promise<void> {
    if (this.started) return;
    let secret: Buffer | undefined;
    if (this.opts.parent) {
      secret = this.childSecret();
      parseParentUrl(this.opts.parent, this.config.parentPort); // fail early on a bad URL
    }
    this.ownership = new Ownership(this.registry); // modules are registered by now
    this.transport.onDatagram = (d, from) => this.onDatagram(d, from);
    await this.transport.bind();
    this.started = true;
    this.unsubscribe = this.store.events.subscribe({types: ['STATE_CHANGE']}, (e) => this.onEvent(e));
    for (const view of this.store.list()) {
      if (view.cfg.parentId === this.selfId && view.cfg.id !== this.selfId) {
        this.markDirty(view.cfg.id, 'cfg', '');
        this.markDirty(view.cfg.id, 'dsc', '');
        this.checkSecret(view);
      }
    }
    if (this.opts.parent && secret) {
      this.childRole = new ChildRole(this.context(), () => this.resolveParent(), secret, new Set(this.registry.extensions().map((e) => e.name)), () => this.synced());
      this.markDirty(this.selfId, 'dsc', '');
      this.childRole.start();
    }
    const a = this.transport.address();
    this.log.info({listen: `${a.address}:${a.port}`, parent: this.opts.parent ?? null}, 'sync: started');
  }

  /** Says goodbye to the children (they phone home again when we are back) and closes the socket. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.unsubscribe?.();
    if (this.secretTimer) clearTimeout(this.secretTimer);
    this.parentRole.stop();
    this.childRole?.stop();
    this.scheduler.stop();
    await this.transport.close();
  }

  address(): PeerAddress {
    return this.transport.address();
  }

  /** True when this daemon has a live session with the child `nodeId`. */
  hasSession(nodeId: string): boolean {
    return this.parentRole.hasSession(nodeId);
  }

  /**
   * The engine asked for sync/INITtoSYNC on a node that is already in session with us (e.g. after the
   * child's own SYNCtoINIT): the node is there, so it is SYNC at once. Otherwise the phone-home completes it.
   */
  completeInitToSync(nodeId: string): boolean {
    if (!this.parentRole.hasSession(nodeId)) return false;
    const v = this.store.get(nodeId);
    if (v && v.dsc.runState !== 'SYNC') this.store.discover(nodeId, '/runState', 'SYNC', 'sync');
    return true;
  }

  status(): SyncStatus {
    const a = this.started ? this.transport.address() : {address: '', port: 0};
    const listen = `${a.address}:${a.port}`;
    return {
      selfId: this.selfId, listen, children: this.parentRole.status(),
      ...(this.childRole ? {parent: this.childRole.status(this.opts.parent ?? '')} : {}),
    };
  }

  /** Counters and gauges for the daemon's /metrics. */
  collect(): MetricSample[] {
    const c = this.counters;
    const out: MetricSample[] = [];
    const counter = (name: string, help: string, value: number, labels?: Record<string, string>) =>
      out.push({name, help, type: 'counter', value, ...(labels ? {labels} : {})});
    for (const r of DROP_REASONS) counter('layercake_sync_dropped_total', 'Sync datagrams dropped, by reason', c.dropped.get(r) ?? 0, {reason: r});
    for (const [t, n] of c.sent) counter('layercake_sync_datagrams_sent_total', 'Sync datagrams sent, by message type', n, {type: t});
    for (const [t, n] of c.received) counter('layercake_sync_datagrams_received_total', 'Sync datagrams received (well-formed), by message type', n, {type: t});
    counter('layercake_sync_bytes_sent_total', 'Sync bytes sent', c.bytesSent);
    counter('layercake_sync_bytes_received_total', 'Sync bytes received', c.bytesReceived);
    counter('layercake_sync_send_errors_total', 'Sync datagrams the socket failed to send', c.sendErrors);
    counter('layercake_sync_retransmits_total', 'Unacknowledged sync updates sent again', c.retransmits);
    counter('layercake_sync_fragments_resent_total', 'Fragments sent again because the peer reported them missing', c.fragmentsResent);
    counter('layercake_sync_full_states_total', 'Full node states sent', c.fullStates);
    for (const [k, v] of Object.entries(c.phoneHome)) counter('layercake_sync_phone_home_total', 'Phone-homes: sent (child), accepted and refused (parent)', v, {result: k});
    for (const [k, v] of c.ignored) counter('layercake_sync_values_ignored_total', 'Reported values not applied, by reason', v, {reason: k});
    counter('layercake_sync_children_dead_total', 'Children declared dead (silent past the dead interval)', c.childrenDead);
    counter('layercake_sync_parent_lost_total', 'Times this child lost its parent', c.parentLost);
    out.push({name: 'layercake_sync_children', help: 'Children in session with this daemon', type: 'gauge', value: this.parentRole.sessionCount});
    if (this.childRole) out.push({name: 'layercake_sync_parent_synced', help: '1 when this child is in session with its parent', type: 'gauge', value: this.childRole.state === 'synced' ? 1 : 0});
    return out;
  }

  // --- receiving ---------------------------------------------------------------------------------

  private onDatagram(d: Datagram, from: PeerAddress): void {
    if (d.type === MsgType.PHONE_HOME) {
      if (d.recipient !== NIL_UUID && d.recipient !== this.selfId) return this.counters.drop('wrong_recipient');
      return this.parentRole.onPhoneHome(d, from);
    }
    if (d.recipient !== this.selfId) return this.counters.drop('wrong_recipient');
    const child = this.childRole;
    if (isJoinKeyed(d.type)) {
      if (!child) return this.counters.drop('unknown_sender');
      return child.onJoinMessage(d, from);
    }
    if (child && d.sender === child.parentId) return child.onSessionDatagram(d, from);
    this.parentRole.onSessionDatagram(d, from);
  }

  // --- local changes -----------------------------------------------------------------------------

  private onEvent(e: LcEvent): void {
    if (e.type !== 'STATE_CHANGE') return;
    const ev = e as StateChangeEvent;
    const id = ev.nodeId;
    if (id === this.selfId) {
      if (this.childRole && ev.view === 'dsc') this.markDirty(id, 'dsc', ev.url);
      return;
    }
    const view = this.store.get(id);
    if (ev.view === 'cfg') {
      if (ev.op === 'DELETE' || !view || view.cfg.parentId !== this.selfId) {
        this.parentRole.checkNode(id);
        this.ledgers.delete(id);
        this.dirty.delete(id);
        return;
      }
      this.checkSecret(view);
    }
    // A child whose machine is off has no agent: its session ends now, quietly, rather than being declared
    // dead (runState ERROR, which the engine would answer with a second power cycle) a dead interval later.
    if (ev.view === 'dsc' && ev.url === '/physState' && ev.value === 'POWER_OFF') this.parentRole.poweredOff(id);
    if (view && view.cfg.parentId === this.selfId) this.markDirty(id, ev.view, ev.op === 'UPDATE' ? ev.url : '');
  }

  private markDirty(id: string, view: 'cfg' | 'dsc', url: string): void {
    let d = this.dirty.get(id);
    if (!d) this.dirty.set(id, (d = {cfg: new Set(), dsc: new Set()}));
    const set = d[view];
    if (!set.has('')) {
      const prefix = url === '' ? '' : groupRoot(url);
      if (prefix === '' || set.size >= 16) {
        set.clear();
        set.add('');
      } else set.add(prefix);
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  /** Rescans and sends the changed nodes, a batch per event-loop turn (so that answers are read in between). */
  private flush(): void {
    if (!this.started) {
      this.flushing = false;
      return;
    }
    let n = 0;
    for (const id of this.dirty.keys()) {
      if (n++ >= 500) break;
      this.rescanNow(id);
      if (this.childRole && id === this.selfId) this.childRole.flush();
      else this.parentRole.flush(id);
    }
    if (this.dirty.size > 0) setImmediate(() => this.flush());
    else this.flushing = false;
  }

  /** Brings a node's ledger up to date with the store: whatever changed since is a change made here. */
  private rescanNow(id: string): void {
    const d = this.dirty.get(id);
    if (!d) return;
    this.dirty.delete(id);
    const view = this.store.get(id);
    if (!view) return;
    const ledger = this.ledger(id);
    const isSelf = id === this.selfId;
    if (!isSelf) {
      for (const prefix of d.cfg) {
        const leaves = flatten(getAt(view.cfg, prefix), prefix);
        for (const p of leaves.keys()) if (this.ownership.isSecret(p)) leaves.delete(p);
        ledger.rescan('cfg', leaves, prefix);
      }
    }
    for (const prefix of d.dsc) {
      const leaves = flatten(getAt(view.dsc, prefix), prefix);
      for (const p of leaves.keys()) if (!dscSyncable(p)) leaves.delete(p);
      const changed = ledger.rescan('dsc', leaves, prefix);
      if (!isSelf && changed.some((p) => this.ownership.authority(p) === 'child')) this.parentRole.askFull(id);
    }
  }

  private ledger(id: string): Ledger {
    let l = this.ledgers.get(id);
    if (!l) this.ledgers.set(id, (l = new Ledger()));
    return l;
  }

  // --- join secrets ------------------------------------------------------------------------------

  /** A child of ours without a join secret gets one (in a batch: one durable write for many nodes). */
  private checkSecret(view: NodeView): void {
    const s = (view.cfg.extensions.sync as {joinSecret?: unknown} | undefined)?.joinSecret;
    if (typeof s === 'string' && s !== '') return;
    if (this.needSecret.has(view.cfg.id)) return;
    this.needSecret.add(view.cfg.id);
    this.secretTimer ??= setTimeout(() => this.fillSecrets(), 20);
  }

  private fillSecrets(): void {
    this.secretTimer = undefined;
    if (!this.started) return;
    const inputs: unknown[] = [];
    for (const id of this.needSecret) {
      const v = this.store.get(id);
      const s = (v?.cfg.extensions.sync as {joinSecret?: unknown} | undefined)?.joinSecret;
      if (!v || v.cfg.parentId !== this.selfId || (typeof s === 'string' && s !== '')) continue;
      inputs.push({id, extensions: {sync: {joinSecret: newJoinSecret()}}});
    }
    this.needSecret.clear();
    if (inputs.length === 0) return;
    try {
      this.store.apply(inputs, {source: 'sync'});
      this.log.info({nodes: inputs.length}, 'sync: generated join secrets');
    } catch (error) {
      this.log.error({err: (error as Error).message}, 'sync: cannot store generated join secrets');
    }
  }

  // --- child side --------------------------------------------------------------------------------

  private childSecret(): Buffer {
    if (this.opts.joinSecret) return parseJoinSecret(this.opts.joinSecret, 'the join secret given to the daemon');
    if (this.config.joinSecretFile) {
      let text: string;
      try { text = readFileSync(this.config.joinSecretFile, 'utf8'); } catch (error) {
        throw new Error(`sync: cannot read the join secret file ${this.config.joinSecretFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      return parseJoinSecret(text, `join secret file ${this.config.joinSecretFile}`);
    }
    let cmdline = '';
    try { cmdline = readFileSync(this.config.kernelCmdline, 'utf8'); } catch { /* no such file */ }
    const m = /(?:^|\s)layercake\.secret=([0-9a-fA-F]+)(?:\s|$)/.exec(cmdline);
    if (m) return parseJoinSecret(m[1]!, `layercake.secret= on ${this.config.kernelCmdline}`);
    throw new Error('sync: a child needs its join secret: give --join-secret-file, set sync.joinSecretFile, or boot with layercake.secret=<hex> on the kernel command line');
  }

  private async resolveParent(): Promise<PeerAddress> {
    const {host, port} = parseParentUrl(this.opts.parent!, this.config.parentPort);
    if (isIP(host)) return {address: host, port};
    const listenV6 = isIP(parseHostPort(this.config.listen, 0).host) === 6;
    const r = await lookup(host, {family: listenV6 ? 6 : 4});
    return {address: r.address, port};
  }

  private synced(): void {
    const engine = this.opts.engine;
    if (engine?.frozen) {
      this.log.info('sync: first state from the parent applied; thawing the engine');
      engine.thaw();
    }
  }
}
