/**
 * One authenticated session between a parent and one child: its key, its sequence numbers, its replay
 * window, its reassembly buffers, and where both sides stand in each other's state versions.
 */
import type {ByteBudget} from './reassembly.js';
import {Reassembler} from './reassembly.js';
import {ReplayWindow} from './replay.js';

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
  /** When an unacknowledged update is retransmitted, and the current retransmission timeout. */
  rtoAt: number | undefined;
  rto: number;

  constructor(
    readonly id: number,
    readonly key: Buffer,
    public addr: PeerAddress,
    budget: ByteBudget,
    maxMessageBytes: number,
    now: number,
    readonly initialRto: number,
  ) {
    this.reassembler = new Reassembler(budget, maxMessageBytes);
    this.lastRecv = now;
    this.rto = initialRto;
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
  }
}
