/**
 * The child side: phones home to the parent (again whenever it loses it), takes its cfg and the
 * parent-owned dsc values it needs from the parent, and reports the dsc values its own modules discover.
 *
 * States: phoning (PHONE_HOME sent, waiting for WELCOME) → confirming (session key derived, HELLO sent,
 * waiting for the parent's first full state) → synced. Losing the parent (dead interval, BYE, RESYNC)
 * goes back to phoning; the node's own state is left as it is (its images keep running).
 */
import type {JsonValue, Node} from '../model/node.js';
import {applyDsc} from './apply.js';
import {deriveJoinKey, deriveSessionKey, macKey, newNonce, type MacKey} from './crypto.js';
import {nextNack, onNack, receive, sendHello, sendNacks, sendState, type Link, type RoleContext} from './context.js';
import type {PeerAddress} from './session.js';
import {Session} from './session.js';
import {canonical, setAt, splitPointer} from './leaves.js';
import {decodeRefuse, decodeResync, decodeState, decodeWelcome, encodeJson, type StateMsg} from './payload.js';
import type {Tickable} from './scheduler.js';
import {NIL_UUID} from './uuid.js';
import {FLAG_FULL, FLAG_NOACK, FLAG_REPLY, MsgType, decodeHello, verifyDatagram, type Datagram} from './wire.js';
import {randomInt} from 'node:crypto';
import type {ChildState, ParentStatus} from '../api/types.js';

export class ChildRole implements Link, Tickable {
  state: ChildState = 'phoning';
  session?: Session;
  scheduledAt?: number;
  /** The parent's id, learned from its WELCOME. */
  parentId = NIL_UUID;
  private nonce = newNonce();
  private readonly joinKey: MacKey;
  private attempts = 0;
  private nextPhoneAt = 0;
  private retry: number;
  private confirmStarted = 0;
  private syncedSince?: number;
  private lastRefusal?: string;
  /** The cfg leaves the parent sent (its word is the child's cfg). */
  private cfgLeaves = new Map<string, JsonValue>();
  private firstSync = true;
  private lastWritten = '';

  constructor(
    private readonly ctx: RoleContext,
    private readonly parentAddr: () => Promise<PeerAddress>,
    private readonly secret: Buffer,
    private readonly knownExtensions: Set<string>,
    private readonly onSynced: () => void,
  ) {
    this.joinKey = macKey(deriveJoinKey(secret, ctx.selfId));
    this.retry = ctx.config.phoneHomeRetry;
  }

  get peerId(): string {
    return this.parentId;
  }

  start(): void {
    this.nextPhoneAt = 0;
    this.ctx.scheduler.schedule(this, this.ctx.now());
  }

  tick(now: number): number | undefined {
    const {config} = this.ctx;
    if (this.state === 'phoning') {
      if (now >= this.nextPhoneAt) void this.phoneHome(now);
      return this.nextPhoneAt;
    }
    const s = this.session!;
    if (this.state === 'confirming') {
      if (now - this.confirmStarted >= config.deadInterval) {
        this.lose('no state from the parent after WELCOME', now);
        return this.nextPhoneAt;
      }
      const due = s.retransmitAt;
      if (due !== undefined && now >= due) {
        sendHello(this.ctx, this, this.ctx.ledger(this.ctx.selfId).ver, FLAG_REPLY);
        s.retransmitted(now);
      }
      sendNacks(this.ctx, this, now); // the parent's first state may be a large one
      const ask = nextNack(this.ctx, this);
      const again = s.retransmitAt;
      return ask === undefined ? again : again === undefined ? ask : Math.min(ask, again);
    }
    if (now - s.lastRecv >= config.deadInterval) {
      this.ctx.counters.parentLost++;
      this.lose(`parent silent for ${now - s.lastRecv} ms`, now);
      return this.nextPhoneAt;
    }
    if (s.exhausted) {
      this.lose('sequence numbers exhausted', now);
      return this.nextPhoneAt;
    }
    const due = s.retransmitAt;
    if (due !== undefined && now >= due) {
      this.ctx.counters.retransmits++;
      s.retransmitted(now);
      this.sendUpdate('retransmit');
    }
    sendNacks(this.ctx, this, now);
    // The parent drives the hellos (we answer its hellos); ours is a fallback if its hellos are lost.
    const fallback = Math.round(config.helloInterval * 1.5);
    if (now - s.lastSent >= fallback) sendHello(this.ctx, this, this.ctx.ledger(this.ctx.selfId).ver);
    let next = Math.min(s.lastSent + fallback, s.lastRecv + config.deadInterval);
    const again = s.retransmitAt;
    if (again !== undefined) next = Math.min(next, again);
    const ask = nextNack(this.ctx, this);
    if (ask !== undefined) next = Math.min(next, ask);
    return next;
  }

  private async phoneHome(now: number): Promise<void> {
    const {ctx} = this;
    this.attempts++;
    const jitter = 0.75 + Math.random() * 0.5;
    this.nextPhoneAt = now + Math.round(this.retry * jitter);
    this.retry = Math.min(this.retry * 2, ctx.config.phoneHomeRetryMax);
    let to: PeerAddress;
    try {
      to = await this.parentAddr();
    } catch (error) {
      ctx.log.warn({err: (error as Error).message}, 'sync: cannot resolve the parent address');
      return;
    }
    if (this.state !== 'phoning') return;
    ctx.counters.phoneHome.sent++;
    ctx.transport.send(
      {type: MsgType.PHONE_HOME, flags: 0, sender: ctx.selfId, recipient: NIL_UUID, session: 0},
      encodeJson({nonce: this.nonce.toString('hex')}), this.joinKey, () => randomInt(1, 0xffffffff), to,
    );
    if (this.attempts === 1 || this.attempts % 10 === 0) ctx.log.info({parent: `${to.address}:${to.port}`, attempt: this.attempts}, 'sync: phoning home');
  }

  /** Back to phoning home (soon, with a fresh nonce). */
  lose(why: string, now: number): void {
    const {ctx} = this;
    if (this.state === 'synced') ctx.log.warn({why}, 'sync: lost the parent; phoning home again');
    this.session?.close();
    this.session = undefined;
    this.state = 'phoning';
    this.syncedSince = undefined;
    this.nonce = newNonce();
    this.retry = ctx.config.phoneHomeRetry;
    this.nextPhoneAt = now + Math.round(Math.random() * Math.min(1000, ctx.config.phoneHomeRetry));
    ctx.scheduler.schedule(this, this.nextPhoneAt);
  }

  /** WELCOME, REFUSE or RESYNC from the parent (authenticated with our join key). */
  onJoinMessage(d: Datagram, from: PeerAddress): void {
    const {ctx} = this;
    if (!verifyDatagram(d, this.joinKey)) return ctx.counters.drop('bad_hmac');
    const now = ctx.now();
    if (d.type === MsgType.WELCOME) {
      const w = decodeWelcome(d.payload);
      if (!w || w.parent !== d.sender || w.session !== d.session) return ctx.counters.drop('malformed');
      if (this.state !== 'phoning' || w.nonce !== this.nonce.toString('hex')) return ctx.counters.drop('replay');
      const key = deriveSessionKey(this.secret, ctx.selfId, w.parent, w.session, this.nonce, Buffer.from(w.pnonce, 'hex'));
      this.parentId = w.parent;
      this.session = new Session(w.session, macKey(key), from, ctx.budget, ctx.config.maxMessageBytes, now, ctx.rtt, ctx.config.helloInterval);
      this.state = 'confirming';
      this.confirmStarted = now;
      if (w.hello !== ctx.config.helloInterval || w.dead !== ctx.config.deadInterval) {
        ctx.log.debug({parentHello: w.hello, parentDead: w.dead}, 'sync: the parent uses other timers');
      }
      // Prove we hold the session key; the parent answers with our full state.
      sendHello(ctx, this, ctx.ledger(ctx.selfId).ver, FLAG_REPLY);
      this.session.armRetransmit(now);
      ctx.scheduler.schedule(this, this.session.retransmitAt!);
      return;
    }
    if (d.type === MsgType.REFUSE) {
      const r = decodeRefuse(d.payload);
      if (!r) return ctx.counters.drop('malformed');
      if (this.state !== 'phoning' || r.nonce !== this.nonce.toString('hex')) return ctx.counters.drop('replay');
      if (this.lastRefusal !== r.reason) ctx.log.warn({reason: r.reason}, 'sync: the parent refused our phone-home; retrying later');
      this.lastRefusal = r.reason;
      this.nextPhoneAt = now + ctx.config.phoneHomeRetryMax;
      this.retry = ctx.config.phoneHomeRetryMax;
      ctx.scheduler.schedule(this, this.nextPhoneAt);
      return;
    }
    if (d.type === MsgType.RESYNC) {
      const r = decodeResync(d.payload);
      if (!r) return ctx.counters.drop('malformed');
      const s = this.session;
      // Only for our current session and a datagram we really sent lately (an old RESYNC replayed is void).
      if (!s || r.session !== s.id || r.seq > s.lastSeq || r.seq + 10_000 < s.lastSeq) return ctx.counters.drop('replay');
      this.lose('the parent has no session for us (it restarted, or declared us dead)', now);
      return;
    }
    ctx.counters.drop('unexpected');
  }

  /** A session datagram from the parent. */
  onSessionDatagram(d: Datagram, from: PeerAddress): void {
    const {ctx} = this;
    const s = this.session;
    if (!s || d.session !== s.id) return ctx.counters.drop('no_session');
    const now = ctx.now();
    const message = receive(ctx, s, d, from, now);
    if (!message) {
      const at = d.fragCount > 1 ? nextNack(ctx, this) : undefined;
      if (at !== undefined) ctx.scheduler.schedule(this, at);
      return;
    }
    switch (d.type) {
      case MsgType.HELLO: {
        const h = decodeHello(message);
        if (!h) return ctx.counters.drop('malformed');
        this.acked(h.ack);
        if (d.flags & FLAG_FULL && this.state === 'synced') this.sendUpdate('full');
        else if (d.flags & FLAG_REPLY && this.state === 'synced') {
          if (!this.sendUpdate('delta')) sendHello(ctx, this, ctx.ledger(ctx.selfId).ver);
        }
        return;
      }
      case MsgType.STATE:
        return this.onState(message, (d.flags & FLAG_REPLY) !== 0, now, (d.flags & FLAG_NOACK) !== 0);
      case MsgType.BYE:
        this.lose('the parent said goodbye', now);
        return;
      case MsgType.NACK:
        return onNack(ctx, this, message);
      default:
        ctx.counters.drop('unexpected');
    }
  }

  private onState(message: Buffer, reply: boolean, now: number, noAck = false): void {
    const {ctx} = this;
    const s = this.session!;
    const st = decodeState(message);
    if (!st) return ctx.counters.drop('malformed');
    if (st.n !== ctx.selfId) return ctx.counters.drop('payload_id');
    this.acked(st.a);
    const fresh = st.f === 1 ? st.v >= s.peerVersion && st.v > 0 : st.v > s.peerVersion && st.b <= s.peerVersion;
    let first = false;
    if (fresh) {
      ctx.rescanNow(ctx.selfId);
      if (st.c || st.cd) ctx.log.debug({full: st.f === 1, cfg: Object.keys(st.c ?? {}).length + (st.cd?.length ?? 0)}, 'sync: cfg from the parent');
      this.applyCfg(st);
      applyDsc(ctx.store, ctx.ledger(ctx.selfId), ctx.ownership, ctx.counters, ctx.log, ctx.selfId, 'child', st.d ?? {}, st.dd ?? [], st.a);
      s.peerVersion = st.v;
      if (this.state === 'confirming') {
        first = true;
        this.state = 'synced';
        this.syncedSince = now;
        this.lastRefusal = undefined;
        this.attempts = 0;
        s.acknowledged(now); // the parent's first state answers our confirmation
        ctx.ledger(ctx.selfId).ver++; // our first full state of the session has a version >= 1 to acknowledge
        ctx.log.info({parent: this.parentId, address: `${s.addr.address}:${s.addr.port}`, session: s.id}, 'sync: synced with the parent');
      }
    }
    if (this.state !== 'synced') return;
    // Answer: our full state after the parent's first (or periodic) full state, else our changes or a bare ack.
    if (first || (reply && st.f === 1)) this.sendUpdate('full');
    else if (!this.sendUpdate('delta') && !noAck) sendHello(ctx, this, ctx.ledger(ctx.selfId).ver);
    ctx.scheduler.schedule(this, now + ctx.config.helloInterval);
    if (first && this.firstSync) {
      this.firstSync = false;
      this.onSynced();
    }
  }

  /** The parent's cfg for us replaces ours (secrets excepted: they never leave the parent). */
  private applyCfg(st: StateMsg): void {
    const {ctx} = this;
    if (!st.c && !st.cd && st.f !== 1) return;
    const current = ctx.store.get(ctx.selfId)?.cfg;
    if (st.f !== 1 && current && !st.cd?.length && st.c && this.mergeCfg(st.c)) return;
    if (st.f === 1) this.cfgLeaves = new Map(Object.entries(st.c ?? {}));
    else {
      for (const p of st.cd ?? []) this.cfgLeaves.delete(p);
      for (const [p, v] of Object.entries(st.c ?? {})) this.cfgLeaves.set(p, v);
    }
    const node: Record<string, unknown> = {};
    for (const [p, v] of this.cfgLeaves) setAt(node, p, structuredClone(v));
    node.id = ctx.selfId;
    const known = this.knownExtensions;
    const exts = (node.extensions ?? {}) as Record<string, unknown>;
    for (const name of Object.keys(exts)) {
      if (!known.has(name)) {
        delete exts[name];
        ctx.counters.ignore('invalid');
      }
    }
    const canon = canonical(node);
    // Write only what differs (cfg writes are durable): the parent's cfg changed, or ours was edited here.
    if (current && canon === this.lastWritten && canonical(projectOnto(current, node)) === canon) return;
    try {
      if (current) ctx.store.update(ctx.selfId, node, {merge: false, source: 'sync'});
      else ctx.store.create([node], 'sync');
      this.lastWritten = canon;
    } catch (error) {
      ctx.counters.ignore('invalid');
      ctx.log.error({err: (error as Error).message}, 'sync: the cfg from the parent was refused by the local store');
    }
  }

  /**
   * A delta that only sets values is merged as it is (one write, no rebuilding of the whole node).
   * Returns false when it cannot be (a null value would mean "remove" to a merge).
   */
  private mergeCfg(set: Record<string, JsonValue>): boolean {
    const {ctx} = this;
    const partial: Record<string, unknown> = {};
    for (const [p, v] of Object.entries(set)) {
      if (v === null) return false;
      const segs = splitPointer(p);
      if (segs[0] === 'extensions' && segs[1] !== undefined && !this.knownExtensions.has(segs[1])) {
        ctx.counters.ignore('invalid');
        continue;
      }
      setAt(partial, p, v);
    }
    for (const [p, v] of Object.entries(set)) this.cfgLeaves.set(p, v);
    this.lastWritten = ''; // the next full state compares (and writes) the whole node again
    try {
      ctx.store.update(ctx.selfId, partial, {merge: true, source: 'sync'});
    } catch (error) {
      ctx.counters.ignore('invalid');
      ctx.log.error({err: (error as Error).message}, 'sync: a cfg change from the parent was refused by the local store');
    }
    return true;
  }

  private acked(ack: number): void {
    const s = this.session;
    if (!s || ack <= s.peerAck) return;
    s.peerAck = ack;
    if (s.peerAck >= s.sentVersion) {
      s.acknowledged(this.ctx.now());
      this.ctx.ledger(this.ctx.selfId).prune(ack);
    }
  }

  /** Sends our own dsc values the parent has not acknowledged (see ParentRole.sendUpdate). */
  sendUpdate(mode: 'delta' | 'retransmit' | 'full'): boolean {
    const {ctx} = this;
    const s = this.session;
    if (!s || this.state !== 'synced') return false;
    const ledger = ctx.ledger(ctx.selfId);
    if (mode === 'delta' && s.sentVersion >= ledger.ver) return false;
    const asFull = mode === 'full' || s.peerAck === 0;
    const dsc = ledger.changes('dsc', asFull ? 0 : s.peerAck, (p) => ctx.ownership.childSends(p));
    if (!asFull && !Object.keys(dsc.set).length && !dsc.del.length) {
      s.sentVersion = Math.max(s.sentVersion, ledger.ver);
      if (mode === 'retransmit') s.clearRetransmit();
      return false;
    }
    if (asFull) dsc.del = [];
    sendState(ctx, this, ctx.selfId, ledger.ver, asFull, undefined, dsc);
    ctx.log.debug({mode, dsc: Object.keys(dsc.set).length + dsc.del.length}, 'sync: state sent to the parent');
    const at = s.retransmitAt;
    if (at !== undefined) ctx.scheduler.schedule(this, at);
    return true;
  }

  /** Our node's state changed: report it at once. */
  flush(): void {
    if (this.state === 'synced') this.sendUpdate('delta');
  }

  stop(): void {
    this.session?.close();
    this.session = undefined;
  }

  status(address: string): ParentStatus {
    const s = this.session;
    return {
      state: this.state, address, phoneHomeAttempts: this.attempts,
      ...(this.parentId !== NIL_UUID ? {parentId: this.parentId} : {}),
      ...(s ? {session: s.id, lastHeardMs: this.ctx.now() - s.lastRecv} : {}),
      ...(this.syncedSince ? {syncedSince: this.syncedSince} : {}),
      ...(this.lastRefusal ? {lastRefusal: this.lastRefusal} : {}),
    };
  }
}

/** `current` restricted to the keys of `sent` (the store may have added defaults and stripped secrets). */
function projectOnto(current: Node, sent: Record<string, unknown>): Record<string, unknown> {
  const pick = (cur: unknown, shape: unknown): unknown => {
    if (typeof shape !== 'object' || shape === null || Array.isArray(shape)) return cur;
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return cur;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(shape)) out[k] = pick((cur as Record<string, unknown>)[k], (shape as Record<string, unknown>)[k]);
    return out;
  };
  return pick(current, sent) as Record<string, unknown>;
}
