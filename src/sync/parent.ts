/**
 * The parent side: accepts phone-homes from the nodes it manages (cfg parentId = this daemon), keeps
 * one session per child, pushes each child's cfg and the dsc values it discovers itself, applies what
 * the child reports about itself, says hello, and declares silent children dead (RunState ERROR).
 */
import type {ChildStatus} from '../api/types.js';
import type {NodeView} from '../model/node.js';
import {applyDsc} from './apply.js';
import {deriveJoinKey, deriveSessionKey, macKey, newNonce, parseJoinSecret, type MacKey} from './crypto.js';
import {nextNack, onNack, receive, sendBye, sendHello, sendNacks, sendState, type Link, type RoleContext} from './context.js';
import {decodePhoneHome, decodeState, encodeJson, type StateMsg, type Welcome} from './payload.js';
import type {Tickable} from './scheduler.js';
import {Session, type PeerAddress} from './session.js';
import {FLAG_FULL, FLAG_NOACK, FLAG_REPLY, MsgType, decodeHello, verifyDatagram, type Datagram} from './wire.js';
import {randomInt} from 'node:crypto';
import {batchWindowMs} from './config.js';

/** A phone-home answered with WELCOME whose session the child has not yet confirmed. */
interface Pending {
  session: Session;
  nonce: string;
  welcome: Buffer;
  created: number;
  lastSent: number;
}

const MAX_PENDING = 4;
const PENDING_TTL_MS = 30_000;

class ChildLink implements Link, Tickable {
  session?: Session;
  pending: Pending[] = [];
  lastResync = 0;
  lastRefuse = 0;
  lastAskFull = 0;
  /** We asked the child for its full state and have not had it yet. */
  wantFull = false;
  scheduledAt?: number;
  constructor(readonly peerId: string, private readonly role: ParentRole) {}
  tick(now: number): number | undefined {
    return this.role.tick(this, now);
  }
}

export class ParentRole {
  private readonly links = new Map<string, ChildLink>();
  /** Children with an unacknowledged update (flow control), and those waiting for a slot. */
  private readonly inFlight = new Set<ChildLink>();
  private readonly waiting = new Set<ChildLink>();
  private readonly joinKeys = new Map<string, {text: string; secret: Buffer; key: MacKey}>();

  constructor(private readonly ctx: RoleContext) {}

  /** The node's views when it is a child of this daemon. */
  child(id: string): NodeView | undefined {
    const v = this.ctx.store.get(id);
    return v && v.cfg.parentId === this.ctx.selfId && id !== this.ctx.selfId ? v : undefined;
  }

  private joinSecret(view: NodeView): {secret: Buffer; key: MacKey} | undefined {
    const text = (view.cfg.extensions.sync as {joinSecret?: unknown} | undefined)?.joinSecret;
    if (typeof text !== 'string' || text === '') return undefined;
    const cached = this.joinKeys.get(view.cfg.id);
    if (cached && cached.text === text) return cached;
    try {
      const secret = parseJoinSecret(text, `node ${view.cfg.nodename || view.cfg.id} sync.joinSecret`);
      const entry = {text, secret, key: macKey(deriveJoinKey(secret, view.cfg.id))};
      this.joinKeys.set(view.cfg.id, entry);
      return entry;
    } catch (error) {
      this.ctx.log.warn((error as Error).message);
      return undefined;
    }
  }

  hasSession(id: string): boolean {
    return this.links.get(id)?.session !== undefined;
  }

  get sessionCount(): number {
    let n = 0;
    for (const l of this.links.values()) if (l.session) n++;
    return n;
  }

  /** PHONE_HOME from a would-be child. */
  onPhoneHome(d: Datagram, from: PeerAddress): void {
    const {ctx} = this;
    const view = this.child(d.sender);
    const join = view && this.joinSecret(view);
    if (!view || !join) {
      ctx.counters.drop('unknown_sender');
      if (view) ctx.log.warn({node: view.cfg.nodename || view.cfg.id}, 'sync: phone-home from a node without a join secret (sync.joinSecret)');
      return;
    }
    if (!verifyDatagram(d, join.key)) return ctx.counters.drop('bad_hmac');
    const req = decodePhoneHome(d.payload);
    if (!req) return ctx.counters.drop('malformed');
    const link = this.link(d.sender);
    const now = ctx.now();
    link.pending = link.pending.filter((p) => now - p.created < PENDING_TTL_MS);
    const again = link.pending.find((p) => p.nonce === req.nonce);
    if (again) {
      // Our WELCOME was lost: the same answer again (the same nonces, the same session), at most every
      // 250 ms (a replayed PHONE_HOME must not make this daemon a reflector).
      if (now - again.lastSent >= 250) {
        again.lastSent = now;
        this.sendJoin(d.sender, MsgType.WELCOME, again.session.id, again.welcome, join.key, from);
      }
      return;
    }
    const refusal = this.refusal(view);
    if (refusal) {
      if (now - link.lastRefuse < 250) return; // rate-limited, like WELCOME
      link.lastRefuse = now;
      ctx.counters.phoneHome.refused++;
      ctx.log.info({node: view.cfg.nodename || view.cfg.id, reason: refusal}, 'sync: phone-home refused');
      this.sendJoin(d.sender, MsgType.REFUSE, 0, encodeJson({nonce: req.nonce, reason: refusal}), join.key, from);
      return;
    }
    const pnonce = newNonce();
    let sessionId = 0;
    while (sessionId === 0 || sessionId === link.session?.id || link.pending.some((p) => p.session.id === sessionId)) sessionId = randomInt(1, 0xffffffff);
    const key = deriveSessionKey(join.secret, d.sender, ctx.selfId, sessionId, Buffer.from(req.nonce, 'hex'), pnonce);
    const session = new Session(sessionId, macKey(key), from, ctx.budget, ctx.config.maxMessageBytes, now, ctx.rtt, ctx.config.helloInterval);
    const welcome: Welcome = {nonce: req.nonce, pnonce: pnonce.toString('hex'), session: sessionId, parent: ctx.selfId, hello: ctx.config.helloInterval, dead: ctx.config.deadInterval};
    const payload = encodeJson(welcome);
    link.pending.push({session, nonce: req.nonce, welcome: payload, created: now, lastSent: now});
    while (link.pending.length > MAX_PENDING) link.pending.shift()!.session.close();
    this.sendJoin(d.sender, MsgType.WELCOME, sessionId, payload, join.key, from);
  }

  /**
   * Why a phone-home is not expected now, or undefined when it is: the node is booting (dsc RunState
   * INIT, the original's rule), or the operator wants it synced (cfg RunState SYNC) and this daemon has
   * lost it (dsc RunState SYNC, ERROR or UNKNOWN: the child restarted, was declared dead, or this daemon
   * restarted). Never while this daemon knows the node is powered off.
   */
  private refusal(view: NodeView): string | undefined {
    const {cfg, dsc} = view;
    if (dsc.physState === 'POWER_OFF') return 'the parent has discovered physState POWER_OFF for this node';
    if (dsc.runState === 'INIT') return undefined;
    if (cfg.runState === 'SYNC') return undefined;
    return `not expected: dsc runState is ${dsc.runState} (INIT expected) and cfg runState is ${cfg.runState}`;
  }

  private sendJoin(recipient: string, type: number, session: number, payload: Buffer, key: MacKey, to: PeerAddress): void {
    this.ctx.transport.send({type, flags: 0, sender: this.ctx.selfId, recipient, session}, payload, key, () => randomInt(1, 0xffffffff), to);
  }

  /** A session-keyed datagram from a (claimed) child. */
  onSessionDatagram(d: Datagram, from: PeerAddress): void {
    const {ctx} = this;
    if (!this.child(d.sender)) return ctx.counters.drop('unknown_sender');
    const link = this.link(d.sender);
    const now = ctx.now();
    let session = link.session?.id === d.session ? link.session : undefined;
    let promoted = false;
    if (!session) {
      const p = link.pending.find((x) => x.session.id === d.session);
      if (!p) {
        ctx.counters.drop('no_session');
        this.resync(link, d, from, now);
        return;
      }
      if (!p.session.window.check(d.seq)) return ctx.counters.drop('replay');
      if (!verifyDatagram(d, p.session.key)) return ctx.counters.drop('bad_hmac');
      session = p.session;
      this.promote(link, session, now);
      promoted = true;
    }
    const message = receive(ctx, session, d, from, now);
    if (!message) {
      const at = d.fragCount > 1 ? nextNack(ctx, link) : undefined;
      if (at !== undefined) ctx.scheduler.schedule(link, at);
      return;
    }
    switch (d.type) {
      case MsgType.HELLO: {
        const h = decodeHello(message);
        if (!h) return ctx.counters.drop('malformed');
        this.acked(link, h.ack);
        if (d.flags & FLAG_REPLY && !promoted) sendHello(ctx, link, ctx.ledger(link.peerId).ver);
        return;
      }
      case MsgType.STATE:
        return this.onState(link, message, (d.flags & FLAG_NOACK) !== 0);
      case MsgType.NACK:
        return onNack(ctx, link, message);
      default:
        ctx.counters.drop('unexpected');
    }
  }

  /** The child proved it holds the session key: the session replaces any older one, and the node is SYNC. */
  private promote(link: ChildLink, session: Session, now: number): void {
    const {ctx} = this;
    this.release(link);
    link.session?.close();
    for (const p of link.pending) if (p.session !== session) p.session.close();
    link.pending = [];
    link.session = session;
    session.lastRecv = now;
    ctx.counters.phoneHome.accepted++;
    const view = ctx.store.get(link.peerId);
    ctx.log.info({node: view?.cfg.nodename || link.peerId, address: `${session.addr.address}:${session.addr.port}`, session: session.id}, 'sync: child phoned home');
    if (view && view.dsc.runState !== 'SYNC') {
      try {
        ctx.store.discover(link.peerId, '/runState', 'SYNC', 'sync');
      } catch (error) {
        ctx.log.warn({node: link.peerId, err: (error as Error).message}, 'sync: cannot record runState SYNC');
      }
    }
    ctx.rescanNow(link.peerId);
    ctx.ledger(link.peerId).ver++; // the session's first version is at least 1, so that its acknowledgement means something
    this.sendUpdate(link, 'full');
    ctx.scheduler.schedule(link, now + this.helloDelay());
  }

  private helloDelay(): number {
    // Spread the children's hellos over the interval, so that they do not all come due together.
    return Math.round(this.ctx.config.helloInterval * (0.5 + Math.random() * 0.5));
  }

  private onState(link: ChildLink, message: Buffer, noAck: boolean): void {
    const {ctx} = this;
    const s = link.session!;
    const st = decodeState(message);
    if (!st) return ctx.counters.drop('malformed');
    if (st.n !== link.peerId) return ctx.counters.drop('payload_id');
    if (st.c || st.cd) return ctx.counters.drop('payload_id'); // a child has no say in cfg
    this.acked(link, st.a);
    if (st.f === 1) link.wantFull = false;
    const fresh = this.fresh(s, st);
    if (fresh) {
      ctx.rescanNow(link.peerId);
      const ledger = ctx.ledger(link.peerId);
      const r = applyDsc(ctx.store, ledger, ctx.ownership, ctx.counters, ctx.log, link.peerId, 'parent', st.d ?? {}, st.dd ?? [], st.a);
      s.peerVersion = st.v;
      if (r.reasserted) ctx.markDirty(link.peerId);
    }
    // Acknowledge: with our own changes if there are any, else with a HELLO.
    if (!this.sendUpdate(link, 'delta') && !noAck) sendHello(ctx, link, ctx.ledger(link.peerId).ver);
  }

  /** Whether a STATE message brings something new that can be applied on top of what we have. */
  private fresh(s: Session, st: StateMsg): boolean {
    if (st.f === 1) return st.v >= s.peerVersion; // a full state (again): applied unless older than what we have
    if (st.v <= s.peerVersion) return false; // old or duplicate (a later cumulative update already came)
    if (st.b > s.peerVersion) return false; // a gap: our acknowledgement makes the sender resend from what we have
    return true;
  }

  private acked(link: ChildLink, ack: number): void {
    const s = link.session;
    if (!s || ack <= s.peerAck) return;
    s.peerAck = ack;
    if (s.peerAck >= s.sentVersion) {
      s.acknowledged(this.ctx.now());
      this.ctx.ledger(link.peerId).prune(ack);
      this.release(link);
    }
  }

  /**
   * Sends what the child has not acknowledged yet: `delta` only when something changed since the last
   * send, `retransmit` in any case, `full` everything (also the first update of a session, which is full
   * until the child acknowledges something). Returns whether a message went out.
   */
  sendUpdate(link: ChildLink, mode: 'delta' | 'retransmit' | 'full', reply = false): boolean {
    const {ctx} = this;
    const s = link.session;
    if (!s) return false;
    const ledger = ctx.ledger(link.peerId);
    if (mode === 'delta' && s.sentVersion >= ledger.ver) return false;
    if (mode !== 'retransmit' && ledger.ver > s.peerAck && !s.pending && this.inFlight.size >= ctx.config.maxInFlight) {
      this.waiting.add(link); // sent when a slot frees up (whatever has changed by then)
      return false;
    }
    const asFull = mode === 'full' || s.peerAck === 0;
    const since = asFull ? 0 : s.peerAck;
    const cfg = ledger.changes('cfg', since, (p) => ctx.ownership.parentSends('cfg', p));
    const dsc = ledger.changes('dsc', since, (p) => ctx.ownership.parentSends('dsc', p));
    if (!asFull && !Object.keys(cfg.set).length && !cfg.del.length && !Object.keys(dsc.set).length && !dsc.del.length) {
      s.sentVersion = Math.max(s.sentVersion, ledger.ver); // nothing for this child among the changes
      if (mode === 'retransmit') {
        s.clearRetransmit();
        this.release(link);
      }
      return false;
    }
    if (asFull) {
      cfg.del = [];
      dsc.del = [];
      // A full state asserts what the parent knows: "unknown" (an enum's zero, e.g. pxe.state after the
      // parent restarted) would only erase what the child knows. Changes to zero still go as deltas.
      for (const [p, v] of Object.entries(dsc.set)) if (ctx.ownership.isZero(p, v)) delete dsc.set[p];
    }
    sendState(ctx, link, link.peerId, ledger.ver, asFull, cfg, dsc, reply);
    if (s.pending) this.inFlight.add(link);
    const at = s.retransmitAt;
    if (at !== undefined) ctx.scheduler.schedule(link, at);
    return true;
  }

  /** The node's state changed here: push it to the child at once. */
  flush(id: string): void {
    const link = this.links.get(id);
    if (link?.session) this.sendUpdate(link, 'delta');
  }

  /**
   * Our copy of a value the child owns changed here (the engine reset it when a requirement stopped
   * holding on this side): ask the child for its full state, at most once per hello interval.
   */
  askFull(id: string): void {
    const link = this.links.get(id);
    if (!link?.session) return;
    link.wantFull = true;
    this.sendAskFull(link, this.ctx.now());
  }

  private sendAskFull(link: ChildLink, now: number): void {
    if (now - link.lastAskFull < this.ctx.config.helloInterval / 4) {
      this.ctx.scheduler.schedule(link, link.lastAskFull + this.ctx.config.helloInterval / 4);
      return;
    }
    link.lastAskFull = now;
    sendHello(this.ctx, link, this.ctx.ledger(link.peerId).ver, FLAG_FULL);
  }

  tick(link: ChildLink, now: number): number | undefined {
    const {ctx} = this;
    const s = link.session;
    if (!s) return undefined;
    const {helloInterval: hello, deadInterval: dead, fullStateInterval: fullEvery} = ctx.config;
    if (now - s.lastRecv >= dead) {
      this.dead(link, now);
      return undefined;
    }
    const due = s.retransmitAt;
    if (due !== undefined && now >= due) {
      ctx.counters.retransmits++;
      s.retransmitted(now);
      this.sendUpdate(link, 'retransmit');
    }
    if (s.exhausted) {
      this.drop(link, 'sequence numbers exhausted');
      return undefined;
    }
    const slack = this.slack();
    sendNacks(ctx, link, now);
    if (link.wantFull) this.sendAskFull(link, now);
    if (fullEvery > 0 && now - s.lastFull >= fullEvery - slack && now - s.lastSent >= hello - slack) {
      this.sendUpdate(link, 'full', true);
    } else if (now - s.lastSent >= hello - slack) {
      sendHello(ctx, link, ctx.ledger(link.peerId).ver, FLAG_REPLY);
    }
    let next = Math.min(s.lastSent + hello, s.lastRecv + dead);
    const again = s.retransmitAt;
    if (again !== undefined) next = Math.min(next, again);
    if (link.wantFull) next = Math.min(next, link.lastAskFull + hello / 4);
    const ask = nextNack(ctx, link);
    if (ask !== undefined) next = Math.min(next, ask);
    return next;
  }

  private slack(): number {
    return batchWindowMs(this.ctx.config);
  }

  private dead(link: ChildLink, now: number): void {
    const {ctx} = this;
    const view = ctx.store.get(link.peerId);
    const silentMs = now - (link.session?.lastRecv ?? now);
    ctx.counters.childrenDead++;
    ctx.log.warn({node: view?.cfg.nodename || link.peerId, silentMs}, 'sync: child silent past the dead interval');
    this.drop(link, 'dead');
    if (view && view.dsc.runState === 'SYNC') {
      try {
        ctx.store.discover(link.peerId, '/runState', 'ERROR', 'sync');
      } catch (error) {
        ctx.log.warn({node: link.peerId, err: (error as Error).message}, 'sync: cannot record runState ERROR');
      }
    }
  }

  /** Tells a child we have no session for it (we restarted, or declared it dead): it phones home again. */
  private resync(link: ChildLink, d: Datagram, from: PeerAddress, now: number): void {
    const view = this.child(link.peerId);
    const join = view && this.joinSecret(view);
    if (!join || now - link.lastResync < 1000) return;
    link.lastResync = now;
    this.sendJoin(link.peerId, MsgType.RESYNC, 0, encodeJson({session: d.session, seq: d.seq}), join.key, from);
  }

  /** A child's update is acknowledged (or its session ended): its slot goes to the next waiting child. */
  private release(link: ChildLink): void {
    if (!this.inFlight.delete(link)) return;
    for (const next of this.waiting) {
      if (this.inFlight.size >= this.ctx.config.maxInFlight) break;
      this.waiting.delete(next);
      if (next.session) this.sendUpdate(next, 'delta');
    }
  }

  /** Ends a child's session (its node was deleted or re-parented, or it is dead). */
  drop(link: ChildLink, why: string, bye = false): void {
    this.release(link);
    this.waiting.delete(link);
    if (bye) sendBye(this.ctx, link);
    link.session?.close();
    link.session = undefined;
    this.ctx.scheduler.cancel(link);
    this.ctx.log.debug({node: link.peerId, why}, 'sync: child session ended');
  }

  /**
   * The node's machine was discovered off: its agent is gone with it, so its session ends without a
   * word to it (nobody listens) and without the dead-child warning. Its next boot phones home afresh;
   * until then INITtoSYNC cannot be completed by the old session.
   */
  poweredOff(id: string): void {
    const link = this.links.get(id);
    if (link?.session) this.drop(link, 'powered off');
  }

  /** Called for node changes that may end a child's link (deleted, or no longer ours). */
  checkNode(id: string): void {
    const link = this.links.get(id);
    if (!link) return;
    if (!this.child(id)) {
      this.drop(link, 'no longer a child of this daemon', true);
      link.pending = [];
      this.links.delete(id);
      this.joinKeys.delete(id);
    }
  }

  private link(id: string): ChildLink {
    let l = this.links.get(id);
    if (!l) this.links.set(id, (l = new ChildLink(id, this)));
    return l;
  }

  /** Link for a node that may not have phoned home yet (so that RESYNC can be answered after a restart). */
  ensureLink(id: string): void {
    if (this.child(id)) this.link(id);
  }

  stop(): void {
    this.waiting.clear(); // nothing more goes out
    for (const link of this.links.values()) if (link.session) this.drop(link, 'shutdown', true);
    this.links.clear();
  }

  status(): ChildStatus[] {
    const now = this.ctx.now();
    const out: ChildStatus[] = [];
    for (const [id, link] of this.links) {
      const v = this.ctx.store.get(id);
      const s = link.session;
      out.push({
        id, nodename: v?.cfg.nodename ?? '',
        state: s ? 'synced' : link.pending.length ? 'pending' : 'none',
        ...(s ? {address: `${s.addr.address}:${s.addr.port}`, lastHeardMs: now - s.lastRecv, session: s.id} : {}),
      });
    }
    return out;
  }
}
