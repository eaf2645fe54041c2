/**
 * DHCP server for booting nodes (RFC 2131, options RFC 2132, PXE options RFC 4578, relay RFC 3046).
 *
 * It answers only the MACs of registered (booting) nodes and is silent to everything else, so it is safe
 * on a network whose other hosts are served by another DHCP server. Addresses are static: a node always
 * gets the address of its `ipv4` extension. In `proxy` mode it assigns no address at all and answers
 * PXE clients with boot information only (proxyDHCP), on port 67 and on the PXE boot-server port 4011.
 *
 * Sockets. One socket bound to 0.0.0.0:<port> hears broadcasts. Replies to clients without an address
 * are broadcast; Linux sends a limited broadcast out of the interface that owns the socket's source
 * address, so when the server address is local a second socket bound to <serverIp>:<port> sends them:
 * that is how a multi-homed head node answers on the served interface only (node:dgram has no
 * SO_BINDTODEVICE). Replies to relays go to giaddr.
 */
import dgram from 'node:dgram';
import type {AddressInfo} from 'node:net';
import type {Logger} from '@layercake/sdk';
import type {BootNode} from '../bootnode.js';
import type {BootChoice, ClientInfo} from '../boot.js';
import type {Lease} from '../extension.js';
import {prefixToMask} from '../net.js';
import {
  BOOTREPLY, BOOTREQUEST, clientArch, clientMac, decode, encode, isIpxe, MalformedPacket, MessageType, messageType, Opt,
  optByte, optionIp, optionString, optIp, optString, optU32, type DhcpMessage,
} from './packet.js';

export interface DhcpServerOptions {
  mode: 'server' | 'proxy';
  port: number;
  clientPort: number;
  /** 0: no proxyDHCP boot-server socket. Used only in proxy mode. */
  proxyPort: number;
  bindAddress: string;
  broadcastAddress: string;
  relayReplyPort: number;
  leaseTime: number;
  serverIp: string;
  lookup(mac: string): BootNode | undefined;
  choose(node: BootNode, client: ClientInfo): BootChoice;
  log: Logger;
  /** Every exchange with a known node. */
  onLease?(node: BootNode, lease: Lease): void;
  /** The node has accepted its boot lease (ACK to its REQUEST, or in proxy mode its REQUEST was seen). */
  onBooted?(node: BootNode): void;
  /** In proxy mode: the address another server gave the node. */
  onAddress?(node: BootNode, ip: string): void;
}

const ZERO = '0.0.0.0';

export class DhcpServer {
  private main: dgram.Socket | undefined;
  private sender: dgram.Socket | undefined;
  private proxy: dgram.Socket | undefined;
  /** Counters, for tests, benchmarks and logs. */
  readonly stats = {received: 0, ignored: 0, unknown: 0, offers: 0, acks: 0, naks: 0, malformed: 0};
  private lastUnknownLog = 0;

  constructor(private readonly opts: DhcpServerOptions) {}

  get address(): AddressInfo {
    if (!this.main) throw new Error('DHCP server is not started');
    return this.main.address();
  }

  get proxyAddress(): AddressInfo | undefined { return this.proxy?.address(); }

  private async bind(port: number, address: string): Promise<dgram.Socket> {
    const sock = dgram.createSocket({type: 'udp4', reuseAddr: true});
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({port, address}, () => { sock.off('error', reject); resolve(); });
    });
    sock.setBroadcast(true);
    // A boot storm sends a thousand DISCOVERs at once: ask for a deep queue (the kernel caps it at rmem_max).
    try { sock.setRecvBufferSize(4 * 1024 * 1024); } catch { /* keep the default */ }
    sock.on('error', (e) => this.opts.log.error({err: e.message}, 'DHCP socket error'));
    return sock;
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.main = await this.bind(o.port, o.bindAddress || ZERO);
    this.main.on('message', (m, r) => this.onMessage(m, r, false));
    if (!o.bindAddress && o.serverIp && o.serverIp !== ZERO) {
      // Send (and receive unicasts) from the server address, so broadcasts leave the served interface.
      try {
        this.sender = await this.bind(this.main.address().port, o.serverIp);
        this.sender.on('message', (m, r) => this.onMessage(m, r, false));
      } catch (e) {
        o.log.debug({serverIp: o.serverIp, err: (e as Error).message}, 'server address is not local; replies leave by the routing table');
      }
    }
    if (o.mode === 'proxy' && o.proxyPort) {
      this.proxy = await this.bind(o.proxyPort, o.bindAddress || ZERO);
      this.proxy.on('message', (m, r) => this.onMessage(m, r, true));
    }
  }

  async close(): Promise<void> {
    for (const s of [this.main, this.sender, this.proxy]) {
      if (s) await new Promise<void>((r) => s.close(() => r()));
    }
    this.main = this.sender = this.proxy = undefined;
  }

  private onMessage(buf: Buffer, rinfo: dgram.RemoteInfo, viaProxyPort: boolean): void {
    this.stats.received++;
    let m: DhcpMessage;
    try { m = decode(buf); } catch (e) {
      if (!(e instanceof MalformedPacket)) throw e;
      this.stats.malformed++;
      return;
    }
    const type = messageType(m);
    const mac = clientMac(m);
    if (m.op !== BOOTREQUEST || type === undefined || !mac) { this.stats.ignored++; return; }
    const node = this.opts.lookup(mac);
    if (!node) {
      // Silence: this may be someone else's host on a shared network.
      this.stats.unknown++;
      const now = Date.now();
      if (now - this.lastUnknownLog > 10_000) {
        this.lastUnknownLog = now;
        this.opts.log.debug({mac, type: MessageType[type]}, 'DHCP from a MAC that is not booting here; not answered');
      }
      return;
    }
    try {
      if (this.opts.mode === 'proxy') this.proxyMessage(node, m, type, rinfo, viaProxyPort);
      else this.serverMessage(node, m, type, rinfo);
    } catch (e) {
      this.opts.log.error({node: node.nodename, err: (e as Error).message}, 'DHCP reply failed');
    }
  }

  private client(m: DhcpMessage): ClientInfo {
    return {arch: clientArch(m), ipxe: isIpxe(m), vendorClass: optionString(m, Opt.VENDOR_CLASS) ?? ''};
  }

  private serverId(m: DhcpMessage): string | undefined { return optionIp(m, Opt.SERVER_ID); }

  private serverMessage(node: BootNode, m: DhcpMessage, type: MessageType, rinfo: dgram.RemoteInfo): void {
    const ip = node.ipv4.ip;
    const sid = this.serverId(m);
    switch (type) {
      case MessageType.DISCOVER:
        return this.answer(node, m, rinfo, MessageType.OFFER, ip);
      case MessageType.REQUEST: {
        if (sid && sid !== this.opts.serverIp) {
          this.opts.log.warn({node: node.nodename, server: sid}, 'node chose another DHCP server\'s offer (another DHCP server answers it on this network)');
          return;
        }
        const requested = optionIp(m, Opt.REQUESTED_IP);
        const wanted = requested ?? (m.ciaddr !== ZERO ? m.ciaddr : undefined);
        if (!wanted) return;
        if (wanted !== ip) return this.nak(node, m, rinfo, `requested ${wanted}, configured ${ip}`);
        this.answer(node, m, rinfo, MessageType.ACK, ip);
        this.opts.onBooted?.(node);
        return;
      }
      case MessageType.DECLINE:
        if (sid && sid !== this.opts.serverIp) return;
        this.opts.log.error({node: node.nodename, ip}, `node declined ${ip}: the address is already in use on the network (conflict with the configured static address)`);
        return this.record(node, m, rinfo, 'DECLINE', ip, '', 0);
      case MessageType.RELEASE:
        if (sid && sid !== this.opts.serverIp) return;
        this.opts.log.info({node: node.nodename, ip: m.ciaddr}, 'node released its lease');
        return this.record(node, m, rinfo, 'RELEASE', m.ciaddr, '', 0);
      case MessageType.INFORM:
        return this.answer(node, m, rinfo, MessageType.ACK, ZERO, true);
      default:
        this.stats.ignored++;
    }
  }

  private proxyMessage(node: BootNode, m: DhcpMessage, type: MessageType, rinfo: dgram.RemoteInfo, viaProxyPort: boolean): void {
    const vendor = optionString(m, Opt.VENDOR_CLASS) ?? '';
    if (!vendor.startsWith('PXEClient') && !vendor.startsWith('HTTPClient')) return; // only PXE firmware and iPXE ask for boot info
    const sid = this.serverId(m);
    if (!viaProxyPort) {
      if (type === MessageType.DISCOVER) return this.answer(node, m, rinfo, MessageType.OFFER, ZERO, false, true);
      if (type === MessageType.REQUEST) {
        const ip = optionIp(m, Opt.REQUESTED_IP) ?? (m.ciaddr !== ZERO ? m.ciaddr : undefined);
        if (ip) this.opts.onAddress?.(node, ip);
        if (sid === this.opts.serverIp) this.answer(node, m, rinfo, MessageType.ACK, ZERO, false, true);
        else this.record(node, m, rinfo, 'PROXY', ip ?? '', '', 0);
        this.opts.onBooted?.(node);
      }
      return;
    }
    // PXE boot-server request on port 4011 (the client has an address by now): answer it directly.
    if (type === MessageType.REQUEST || type === MessageType.INFORM) {
      if (m.ciaddr !== ZERO) this.opts.onAddress?.(node, m.ciaddr);
      this.answer(node, m, rinfo, MessageType.ACK, ZERO, false, true, {address: rinfo.address, port: rinfo.port});
      this.opts.onBooted?.(node);
    }
  }

  private record(node: BootNode, m: DhcpMessage, _rinfo: dgram.RemoteInfo, event: string, ip: string, bootfile: string, lease: number, client = ''): void {
    this.opts.onLease?.(node, {
      ip, mac: node.ipv4.mac, event, time: Date.now(), bootfile, client,
      expires: lease ? Date.now() + lease * 1000 : 0, relay: m.giaddr === ZERO ? '' : m.giaddr,
    });
  }

  private reply(m: DhcpMessage, type: MessageType): DhcpMessage {
    return {
      op: BOOTREPLY, htype: m.htype, hlen: m.hlen, hops: 0, xid: m.xid, secs: 0, flags: m.flags,
      ciaddr: m.ciaddr, yiaddr: ZERO, siaddr: ZERO, giaddr: m.giaddr, chaddr: m.chaddr, sname: '', file: '',
      options: new Map([[Opt.MESSAGE_TYPE, optByte(type)], [Opt.SERVER_ID, optIp(this.opts.serverIp)]]),
    };
  }

  private answer(node: BootNode, m: DhcpMessage, rinfo: dgram.RemoteInfo, type: MessageType, yiaddr: string,
    inform = false, proxy = false, direct?: {address: string; port: number}): void {
    const client = this.client(m);
    const boot = this.opts.choose(node, client);
    const r = this.reply(m, type);
    const o = r.options;
    r.yiaddr = yiaddr;
    r.siaddr = this.opts.serverIp;
    const http = /^https?:\/\//.test(boot.file);
    r.file = Buffer.byteLength(boot.file) <= 127 ? boot.file : '';
    const v = node.ipv4;
    if (!proxy) {
      if (!inform) {
        o.set(Opt.LEASE_TIME, optU32(this.opts.leaseTime));
        o.set(Opt.RENEWAL_T1, optU32(Math.floor(this.opts.leaseTime / 2)));
        o.set(Opt.REBINDING_T2, optU32(Math.floor((this.opts.leaseTime * 7) / 8)));
      }
      o.set(Opt.SUBNET_MASK, optIp(prefixToMask(v.prefix)));
      if (v.gateway) o.set(Opt.ROUTER, optIp(v.gateway));
      if (v.dns?.length) o.set(Opt.DNS, optIp(...v.dns));
      if (node.nodename) o.set(Opt.HOSTNAME, optString(node.nodename));
      if (v.domain) o.set(Opt.DOMAIN, optString(v.domain));
    }
    if (boot.vendorClass) o.set(Opt.VENDOR_CLASS, optString(boot.vendorClass));
    if (proxy && boot.vendorClass === 'PXEClient') {
      // PXE vendor options: PXE_DISCOVERY_CONTROL = 8 (download the boot file named here; no boot-server menu).
      o.set(Opt.VENDOR_SPECIFIC, Buffer.from([6, 1, 8, 255]));
    }
    if (!http) o.set(Opt.TFTP_SERVER, optString(this.opts.serverIp));
    o.set(Opt.BOOTFILE, optString(boot.file));
    const uuid = m.options.get(Opt.CLIENT_UUID);
    if (proxy && uuid) o.set(Opt.CLIENT_UUID, uuid);
    const agent = m.options.get(82);
    if (agent) o.set(82, agent); // RFC 3046: echo the relay agent information
    if (type === MessageType.OFFER) this.stats.offers++;
    else this.stats.acks++;
    this.send(r, m, rinfo, direct);
    const event = proxy ? 'PROXY' : inform ? 'INFORM' : MessageType[type];
    this.record(node, m, rinfo, event, proxy ? '' : inform ? m.ciaddr : yiaddr, boot.file, proxy || inform ? 0 : this.opts.leaseTime, boot.client);
  }

  private nak(node: BootNode, m: DhcpMessage, rinfo: dgram.RemoteInfo, why: string): void {
    const r = this.reply(m, MessageType.NAK);
    r.ciaddr = ZERO;
    if (m.giaddr !== ZERO) r.flags |= 0x8000; // RFC 2131 §4.3.2: a relayed NAK is broadcast by the relay
    this.stats.naks++;
    this.opts.log.warn({node: node.nodename, why}, 'DHCP NAK');
    this.send(r, m, rinfo);
    this.record(node, m, rinfo, 'NAK', '', '', 0);
  }

  /** RFC 2131 §4.1 destination rules, except that a client without an address gets a broadcast (no ARP from here). */
  private send(r: DhcpMessage, m: DhcpMessage, rinfo: dgram.RemoteInfo, direct?: {address: string; port: number}): void {
    const buf = encode(r);
    // A boot-server answer comes from the boot-server port: PXE clients (iPXE among them) drop it otherwise.
    const sock = (direct ? this.proxy : undefined) ?? this.sender ?? this.main;
    if (!sock) return;
    const type = r.options.get(Opt.MESSAGE_TYPE)![0];
    let address: string, port: number;
    if (direct) ({address, port} = direct);
    else if (m.giaddr !== ZERO) { address = m.giaddr; port = this.opts.relayReplyPort || rinfo.port; }
    else if (type !== MessageType.NAK && m.ciaddr !== ZERO) { address = m.ciaddr; port = this.opts.clientPort; }
    else { address = this.opts.broadcastAddress; port = this.opts.clientPort; }
    sock.send(buf, port, address);
  }
}
