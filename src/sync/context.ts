/**
 * What the parent and child roles share inside one SyncEngine.
 */
import type {Logger, SyncStore} from './deps.js';
import type {SyncConfig} from './config.js';
import type {Ledger} from './ledger.js';
import type {SyncCounters} from './metrics.js';
import type {Ownership} from './ownership.js';
import type {ByteBudget} from './reassembly.js';
import type {Scheduler} from './scheduler.js';
import type {PeerAddress, Session} from './session.js';
import type {Transport} from './transport.js';
import {FLAG_NOACK, FLAG_REPLY, MsgType, encodeHello, type Datagram, verifyDatagram} from './wire.js';
import {decodeNack, encodeJson, type StateMsg} from './payload.js';
import type {Changes} from './ledger.js';
import type {RttEstimator} from './rtt.js';

export interface RoleContext {
  readonly selfId: string;
  readonly store: SyncStore;
  readonly config: SyncConfig;
  readonly log: Logger;
  readonly counters: SyncCounters;
  readonly ownership: Ownership;
  readonly transport: Transport;
  readonly scheduler: Scheduler;
  readonly budget: ByteBudget;
  /** Round-trip estimate shared by the daemon's sessions (retransmission timeouts). */
  readonly rtt: RttEstimator;
  /** The ledger of a node (created on first use). */
  ledger(nodeId: string): Ledger;
  /** Runs the pending rescan of a node now (before applying a peer's report to it). */
  rescanNow(nodeId: string): void;
  /** Asks for a flush of a node (send its changes) in the next batch. */
  markDirty(nodeId: string): void;
  now(): number;
}

/**
 * Verifies an authenticated session datagram and reassembles its message. Returns the whole payload,
 * or undefined (dropped and counted, or waiting for more fragments).
 */
export function receive(ctx: RoleContext, session: Session, d: Datagram, from: PeerAddress, now: number): Buffer | undefined {
  if (!session.window.check(d.seq)) {
    // Checked before the HMAC to save the work; a forged datagram cannot move the window either way.
    ctx.counters.drop('replay');
    return undefined;
  }
  if (!verifyDatagram(d, session.key)) {
    ctx.counters.drop('bad_hmac');
    return undefined;
  }
  session.window.accept(d.seq);
  session.lastRecv = now;
  session.addr = from; // a peer may move (DHCP renumbering): follow its authenticated datagrams
  if (d.fragCount === 1) return d.payload;
  const r = session.reassembler.add(d.msgId, d.fragIndex, d.fragCount, d.payload, now);
  if ('error' in r) {
    ctx.counters.drop('reassembly');
    return undefined;
  }
  if ('waiting' in r) return undefined;
  return r.done;
}

export interface Link {
  readonly peerId: string;
  session?: Session;
}

export function sendHello(ctx: RoleContext, link: Link, version: number, flags = 0): void {
  const s = link.session;
  if (!s) return;
  ctx.transport.send(
    {type: MsgType.HELLO, flags, sender: ctx.selfId, recipient: link.peerId, session: s.id},
    encodeHello(version, s.peerVersion), s.key, () => s.nextSeq(), s.addr,
  );
  s.lastSent = ctx.now();
}

export function sendBye(ctx: RoleContext, link: Link): void {
  const s = link.session;
  if (!s) return;
  ctx.transport.send({type: MsgType.BYE, flags: 0, sender: ctx.selfId, recipient: link.peerId, session: s.id}, Buffer.alloc(0), s.key, () => s.nextSeq(), s.addr);
}

/** Sends a STATE message and arms the retransmission timer. */
export function sendState(ctx: RoleContext, link: Link, nodeId: string, version: number, full: boolean, cfg: Changes | undefined, dsc: Changes, reply = false): void {
  const s = link.session;
  if (!s) return;
  const msg: StateMsg = {n: nodeId, v: version, b: full ? 0 : s.peerAck, a: s.peerVersion, f: full ? 1 : 0};
  if (cfg && Object.keys(cfg.set).length) msg.c = cfg.set;
  if (cfg && !full && cfg.del.length) msg.cd = cfg.del;
  if (Object.keys(dsc.set).length) msg.d = dsc.set;
  if (!full && dsc.del.length) msg.dd = dsc.del;
  const now = ctx.now();
  const flags = (reply ? FLAG_REPLY : 0) | (version <= s.peerAck ? FLAG_NOACK : 0);
  const frags = ctx.transport.send(
    {type: MsgType.STATE, flags, sender: ctx.selfId, recipient: link.peerId, session: s.id},
    encodeJson(msg), s.key, () => s.nextSeq(), s.addr,
  );
  if (frags) s.rememberFragments(frags.msgId, MsgType.STATE, flags, frags.parts);
  if (full) {
    s.lastFull = now;
    ctx.counters.fullStates++;
  }
  s.lastSent = now;
  s.sentVersion = Math.max(s.sentVersion, version);
  // Retransmit until acknowledged, unless the peer already has this version (a periodic full state).
  if (version > s.peerAck) s.armRetransmit(now);
}

/** How long an incomplete message must be quiet before we ask for its missing fragments. */
export function nackQuietMs(ctx: RoleContext): number {
  return Math.max(20, Math.min(200, ctx.rtt.rto / 2));
}

/** Asks the peer for the fragments we are missing (a NACK per incomplete, quiet message). */
export function sendNacks(ctx: RoleContext, link: Link, now: number): void {
  const s = link.session;
  if (!s || s.reassembler.size === 0) return;
  for (const m of s.reassembler.missing(now, nackQuietMs(ctx))) {
    ctx.transport.send({type: MsgType.NACK, flags: 0, sender: ctx.selfId, recipient: link.peerId, session: s.id},
      encodeJson({m: m.msgId, x: m.indexes}), s.key, () => s.nextSeq(), s.addr);
  }
}

/** The peer is missing some fragments of a message we sent: send just those again. */
export function onNack(ctx: RoleContext, link: Link, message: Buffer): void {
  const s = link.session;
  const nack = decodeNack(message);
  if (!s || !nack) return ctx.counters.drop('malformed');
  const sent = s.sentFragmented.get(nack.m);
  if (!sent) return; // too old: the retransmission timer sends the whole update again
  ctx.transport.resend({type: sent.type, flags: sent.flags, sender: ctx.selfId, recipient: link.peerId, session: s.id}, nack.m, sent.parts, nack.x, s.key, () => s.nextSeq(), s.addr);
}

/** When the link needs a tick for its reassembly (undefined: nothing incomplete). */
export function nextNack(ctx: RoleContext, link: Link): number | undefined {
  return link.session?.reassembler.nextAsk(nackQuietMs(ctx));
}
