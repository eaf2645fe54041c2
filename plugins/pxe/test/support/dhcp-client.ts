/**
 * A DHCP client that talks to the server the way a relay agent does (giaddr set, unicast to the server
 * port), so tests and benchmarks run on loopback without root or broadcasts.
 */
import dgram from 'node:dgram';
import {
  BOOTREQUEST, decode, encode, MessageType, Opt, optByte, optIp, optString, messageType, type DhcpMessage,
} from '../../src/dhcp/packet.js';
import {macToBytes} from '../../src/net.js';

export interface RequestOptions {
  type: MessageType;
  mac: string;
  xid?: number;
  ciaddr?: string;
  giaddr?: string;
  requestedIp?: string;
  serverId?: string;
  /** Option 93 value. */
  arch?: number;
  userClass?: string;
  vendorClass?: string;
  extra?: [number, Buffer][];
  broadcast?: boolean;
}

export function request(o: RequestOptions): DhcpMessage {
  const options = new Map<number, Buffer>([[Opt.MESSAGE_TYPE, optByte(o.type)]]);
  if (o.requestedIp) options.set(Opt.REQUESTED_IP, optIp(o.requestedIp));
  if (o.serverId) options.set(Opt.SERVER_ID, optIp(o.serverId));
  if (o.vendorClass) options.set(Opt.VENDOR_CLASS, optString(o.vendorClass));
  if (o.arch !== undefined) { const b = Buffer.alloc(2); b.writeUInt16BE(o.arch); options.set(Opt.CLIENT_ARCH, b); }
  if (o.userClass) options.set(Opt.USER_CLASS, optString(o.userClass));
  for (const [k, v] of o.extra ?? []) options.set(k, v);
  options.set(Opt.PARAM_REQUEST, Buffer.from([1, 3, 6, 12, 15, 51, 54, 66, 67]));
  return {
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 1, xid: o.xid ?? Math.floor(Math.random() * 2 ** 32), secs: 0,
    flags: o.broadcast ? 0x8000 : 0, ciaddr: o.ciaddr ?? '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0',
    giaddr: o.giaddr ?? '127.0.0.1', chaddr: macToBytes(o.mac), sname: '', file: '', options,
  };
}

export class RelayClient {
  private readonly waiters = new Map<number, (m: DhcpMessage) => void>();
  readonly received: DhcpMessage[] = [];
  private constructor(readonly sock: dgram.Socket, readonly server: {address: string; port: number}) {
    sock.on('message', (buf) => {
      let m: DhcpMessage;
      try { m = decode(buf); } catch { return; }
      this.received.push(m);
      const w = this.waiters.get(m.xid);
      if (w) { this.waiters.delete(m.xid); w(m); }
    });
  }

  static async open(server: {address: string; port: number}, bind = '127.0.0.1'): Promise<RelayClient> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, bind, () => r()));
    return new RelayClient(sock, server);
  }

  send(m: DhcpMessage): void { this.sock.send(encode(m), this.server.port, this.server.address); }

  /** Sends and waits for the reply with the same xid; undefined after `ms` (silence). */
  exchange(m: DhcpMessage, ms = 500): Promise<DhcpMessage | undefined> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters.delete(m.xid); resolve(undefined); }, ms);
      this.waiters.set(m.xid, (r) => { clearTimeout(t); resolve(r); });
      this.send(m);
    });
  }

  /** DISCOVER → OFFER → REQUEST → ACK. */
  async dora(o: Omit<RequestOptions, 'type'>, ms = 500): Promise<{offer?: DhcpMessage; ack?: DhcpMessage}> {
    const offer = await this.exchange(request({...o, type: MessageType.DISCOVER}), ms);
    if (!offer) return {};
    const sid = offer.options.get(Opt.SERVER_ID);
    const ack = await this.exchange(request({
      ...o, type: MessageType.REQUEST, xid: offer.xid, requestedIp: offer.yiaddr,
      serverId: sid ? `${sid[0]}.${sid[1]}.${sid[2]}.${sid[3]}` : undefined,
    }), ms);
    return {offer, ack};
  }

  close(): void { this.sock.close(); }
}

export {messageType, MessageType, Opt};
