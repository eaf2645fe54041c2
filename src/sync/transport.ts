/**
 * The UDP socket: sends messages as authenticated (and, when large, fragmented) datagrams, and hands
 * every received datagram, parsed but not yet verified, to the engine.
 */
import dgram from 'node:dgram';
import {isIP} from 'node:net';
import type {MacKey} from './crypto.js';
import type {Logger} from './deps.js';
import type {HostPort} from './config.js';
import {LayercakeError} from '../model/errors.js';
import type {SyncCounters} from './metrics.js';
import type {PeerAddress} from './session.js';
import {OVERHEAD_BYTES, TYPE_NAMES, decodeDatagram, encodeDatagram, fragment, type Datagram} from './wire.js';

export interface OutHeader {
  type: number;
  flags: number;
  sender: string;
  recipient: string;
  session: number;
}

export class Transport {
  private socket: dgram.Socket | undefined;
  private v6 = false;
  onDatagram: (d: Datagram, from: PeerAddress) => void = () => {};

  constructor(
    private readonly listen: HostPort,
    private readonly opts: {recvBufferSize: number; maxDatagram: number},
    private readonly counters: SyncCounters,
    private readonly log: Logger,
  ) {}

  async bind(): Promise<PeerAddress> {
    this.v6 = isIP(this.listen.host) === 6;
    const socket = dgram.createSocket({type: this.v6 ? 'udp6' : 'udp4', ipv6Only: false});
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.listen.port, this.listen.host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      socket.close();
      const message = `sync: cannot listen on ${this.listen.host}:${this.listen.port} (UDP): ${error.code ?? error.message}`;
      const hint = error.code === 'EADDRINUSE' ? 'another daemon uses this port: stop it, or set sync.listen to another address'
        : 'set sync.listen to HOST:PORT with an address of this machine (or 0.0.0.0)';
      throw new LayercakeError(message, 'LC_ERR_SYNC_CONFIG', {url: 'sync.listen', hint});
    });
    if (this.opts.recvBufferSize > 0) {
      try { socket.setRecvBufferSize(this.opts.recvBufferSize); } catch { /* capped by the kernel; not fatal */ }
    }
    // Sends carry no callback (cheaper: no completion dispatched back to JavaScript); their errors come here.
    socket.on('error', (error) => {
      this.counters.sendErrors++;
      this.log.debug({err: error.message}, 'sync socket error');
    });
    socket.on('message', (buf, rinfo) => {
      const d = decodeDatagram(buf);
      if (typeof d === 'string') {
        this.counters.drop(d);
        return;
      }
      this.counters.countReceived(TYPE_NAMES[d.type] ?? 'unknown', buf.length);
      this.onDatagram(d, {address: rinfo.address, port: rinfo.port});
    });
    this.socket = socket;
    return this.address();
  }

  address(): PeerAddress {
    if (!this.socket) throw new Error('sync transport is not bound');
    const a = this.socket.address();
    return {address: a.address, port: a.port};
  }

  /**
   * Sends one message; `nextSeq` numbers each datagram (fragments get consecutive numbers). Returns the
   * fragments and the message id when it had to be fragmented (for selective retransmission).
   */
  send(h: OutHeader, payload: Buffer, key: MacKey, nextSeq: () => number, to: PeerAddress): {msgId: number; parts: Buffer[]} | undefined {
    const socket = this.socket;
    if (!socket) return undefined;
    const name = TYPE_NAMES[h.type] ?? 'unknown';
    const address = this.v6 && isIP(to.address) === 4 ? `::ffff:${to.address}` : to.address;
    if (payload.length + OVERHEAD_BYTES <= this.opts.maxDatagram) {
      const seq = nextSeq();
      const buf = encodeDatagram({type: h.type, flags: h.flags, sender: h.sender, recipient: h.recipient, session: h.session, seq, msgId: seq, fragIndex: 0, fragCount: 1}, payload, key);
      this.counters.countSent(name, buf.length);
      socket.send(buf, to.port, address);
      return undefined;
    }
    const parts = fragment(payload, this.opts.maxDatagram);
    let msgId = 0;
    for (let i = 0; i < parts.length; i++) {
      const seq = nextSeq();
      if (i === 0) msgId = seq;
      const buf = encodeDatagram({type: h.type, flags: h.flags, sender: h.sender, recipient: h.recipient, session: h.session, seq, msgId, fragIndex: i, fragCount: parts.length}, parts[i]!, key);
      this.counters.countSent(name, buf.length);
      socket.send(buf, to.port, address);
    }
    return {msgId, parts};
  }

  /** Sends some fragments of an earlier message again (same message id and indexes, fresh sequence numbers). */
  resend(h: OutHeader, msgId: number, parts: Buffer[], indexes: number[], key: MacKey, nextSeq: () => number, to: PeerAddress): void {
    const socket = this.socket;
    if (!socket) return;
    const address = this.v6 && isIP(to.address) === 4 ? `::ffff:${to.address}` : to.address;
    for (const i of indexes) {
      const part = parts[i];
      if (!part) continue;
      const buf = encodeDatagram({type: h.type, flags: h.flags, sender: h.sender, recipient: h.recipient, session: h.session, seq: nextSeq(), msgId, fragIndex: i, fragCount: parts.length}, part, key);
      this.counters.countSent(TYPE_NAMES[h.type] ?? 'unknown', buf.length);
      this.counters.fragmentsResent++;
      socket.send(buf, to.port, address);
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
