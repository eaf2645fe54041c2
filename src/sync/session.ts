/**
 * One authenticated session between a parent and one child: its key, its sequence numbers, its replay
 * window, its reassembly buffers, and where both sides stand in each other's state versions.
 */
import type {ByteBudget} from './reassembly.js';
import {Reassembler} from './reassembly.js';
import {ReplayWindow} from './replay.js';
import type {RttEstimator} from './rtt.js';
import type {MacKey} from './crypto.js';

export interface PeerAddress {
  address: string;
  port: number;
}

export class Session {
  /** Next sequence number to send (from 1). */
  private seqOut = 0;
  readonly window = new ReplayWindow(1024);
  readonly reassembler: Reassembler;
  /** Highest version of the peer's state applied here (sent as `a`). 0: nothing yet in this session. */
  peerVersion = 0;
  /** Highest version of this side's state the peer has acknowledged. */
  peerAck = 0;
  /** Highest version of this side's state sent in this session (acknowledged once peerAck reaches it). */
  sentVersion = 0;
  lastRecv: number;
  lastSent = 0;
  lastFull = 0;
  /** An update is waiting for its acknowledgement: when it was first sent, last sent, and how often. */
  private firstTx: number | undefined;
  private lastTx = 0;
  private retries = 0;

  constructor(
    readonly id: number,
    readonly key: MacKey,
    public addr: PeerAddress,
    budget: ByteBudget,
    maxMessageBytes: number,
    now: number,
    private readonly rtt: RttEstimator,
    private readonly maxRto: number,
  ) {
    this.reassembler = new Reassembler(budget, maxMessageBytes);
    this.lastRecv = now;
  }

  /** The last fragmented messages sent (for selective retransmission of lost fragments). */
  readonly sentFragmented = new Map<number, {type: number; flags: number; parts: Buffer[]}>();

  rememberFragments(msgId: number, type: number, flags: number, parts: Buffer[]): void {
    this.sentFragmented.set(msgId, {type, flags, parts});
    while (this.sentFragmented.size > 2) this.sentFragmented.delete(this.sentFragmented.keys().next().value!);
  }

  /** An update went out that the peer must acknowledge (starts the retransmission timer if idle). */
  armRetransmit(now: number): void {
    if (this.firstTx !== undefined) return;
    this.firstTx = now;
    this.lastTx = now;
    this.retries = 0;
  }

  /** An update is out and not yet acknowledged. */
  get pending(): boolean {
    return this.firstTx !== undefined;
  }

  /** When the pending update is due again (undefined: nothing pending). Backs off exponentially. */
  get retransmitAt(): number | undefined {
    if (this.firstTx === undefined) return undefined;
    return this.lastTx + Math.min(this.maxRto, this.rtt.rto * 2 ** this.retries);
  }

  retransmitted(now: number): void {
    this.retries++;
    this.lastTx = now;
  }

  /** Everything sent is acknowledged: a round-trip sample if it went out only once. */
  acknowledged(now: number): void {
    if (this.firstTx !== undefined && this.retries === 0) this.rtt.sample(now - this.firstTx);
    this.firstTx = undefined;
    this.retries = 0;
  }

  /** Nothing to retransmit after all (what was pending is not for this peer). */
  clearRetransmit(): void {
    this.firstTx = undefined;
    this.retries = 0;
  }

  nextSeq(): number {
    return ++this.seqOut;
  }

  get lastSeq(): number {
    return this.seqOut;
  }

  /** After 2^32 - 2^20 datagrams a session must be replaced (phone home again) before numbers wrap. */
  get exhausted(): boolean {
    return this.seqOut > 0xfff00000;
  }

  close(): void {
    this.reassembler.clear();
    this.sentFragmented.clear();
  }
}
