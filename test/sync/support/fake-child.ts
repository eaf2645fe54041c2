/**
 * A hand-driven protocol peer for the security tests: it speaks the wire format (src/sync/wire.ts and
 * crypto.ts) one datagram at a time, so that a test can phone home as a real node would and then send
 * what no honest child sends (forged HMACs, replays, another node's id, an unknown sender id).
 */
import dgram from 'node:dgram';
import {randomInt} from 'node:crypto';
import {deriveJoinKey, deriveSessionKey, newNonce, parseJoinSecret} from '../../../src/sync/crypto.js';
import {decodeState, decodeWelcome, encodeJson, type StateMsg} from '../../../src/sync/payload.js';
import {NIL_UUID} from '../../../src/sync/uuid.js';
import {MsgType, decodeDatagram, encodeDatagram, encodeHello, verifyDatagram, type Datagram} from '../../../src/sync/wire.js';

export class FakeChild {
  private socket = dgram.createSocket('udp4');
  private received: Datagram[] = [];
  private waiters: (() => void)[] = [];
  private seq = 0;
  session = 0;
  key: Buffer = Buffer.alloc(32);
  parentId = NIL_UUID;
  /** Every datagram sent, for replays. */
  sent: Buffer[] = [];

  constructor(readonly id: string, private readonly secret: string, private readonly parent: {address: string; port: number}) {}

  async open(): Promise<void> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', r));
    this.socket.on('message', (buf) => {
      const d = decodeDatagram(buf);
      if (typeof d === 'string') return;
      this.received.push(d);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private keepalive: NodeJS.Timeout | undefined;

  /** Answers for us while the test looks elsewhere (an honest child answers the parent's hellos). */
  keepAlive(everyMs: number): void {
    this.keepalive = setInterval(() => this.hello(), everyMs);
  }

  private closed = false;

  close(): void {
    clearInterval(this.keepalive);
    if (!this.closed) this.socket.close();
    this.closed = true;
  }

  raw(buf: Buffer): void {
    this.sent.push(buf);
    this.socket.send(buf, this.parent.port, this.parent.address);
  }

  private async next(pred: (d: Datagram) => boolean, timeoutMs = 5000): Promise<Datagram> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error('fake child: no answer from the parent');
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }

  /** Phones home and completes the handshake; returns the parent's first (full) state. */
  async join(): Promise<StateMsg> {
    const secret = parseJoinSecret(this.secret);
    const joinKey = deriveJoinKey(secret, this.id);
    const nonce = newNonce();
    for (let attempt = 0; ; attempt++) {
      this.raw(encodeDatagram({type: MsgType.PHONE_HOME, flags: 0, sender: this.id, recipient: NIL_UUID, session: 0, seq: randomInt(1, 1e9), msgId: 1, fragIndex: 0, fragCount: 1},
        encodeJson({nonce: nonce.toString('hex')}), joinKey));
      try {
        const w = await this.next((d) => d.type === MsgType.WELCOME, 1000);
        if (!verifyDatagram(w, joinKey)) throw new Error('WELCOME does not verify with our join key');
        const welcome = decodeWelcome(w.payload)!;
        this.parentId = welcome.parent;
        this.session = welcome.session;
        this.key = deriveSessionKey(secret, this.id, welcome.parent, welcome.session, nonce, Buffer.from(welcome.pnonce, 'hex'));
        break;
      } catch (error) {
        if (attempt > 20) throw error;
      }
    }
    this.hello();
    const st = await this.next((d) => d.type === MsgType.STATE);
    if (!verifyDatagram(st, this.key)) throw new Error('STATE does not verify with the session key');
    return decodeState(st.payload)!;
  }

  /** A session datagram (valid unless told otherwise). */
  build(type: number, payload: Buffer, opts: {sender?: string; key?: Buffer; seq?: number} = {}): Buffer {
    const seq = opts.seq ?? ++this.seq;
    return encodeDatagram({type, flags: 0, sender: opts.sender ?? this.id, recipient: this.parentId, session: this.session, seq, msgId: seq, fragIndex: 0, fragCount: 1}, payload, opts.key ?? this.key);
  }

  hello(): Buffer {
    const b = this.build(MsgType.HELLO, encodeHello(0, 1));
    this.raw(b);
    return b;
  }

  state(msg: StateMsg): Buffer {
    const b = this.build(MsgType.STATE, encodeJson(msg));
    this.raw(b);
    return b;
  }
}
