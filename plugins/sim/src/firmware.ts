/**
 * The simulated machine's firmware: an iPXE-like client that gets its lease through a (simulated) relay
 * agent on loopback, then fetches its boot script over HTTP and reads the kernel command line.
 * It speaks real DHCP to the pxe plugin's server; only the wire (loopback + giaddr) is simulated.
 */
import {createSocket, type Socket} from 'node:dgram';
import * as http from 'node:http';
import {randomInt} from 'node:crypto';
import {dhcp} from '@layercake/plugin-pxe';

export interface Lease {
  ip: string;
  server: string;
  bootfile: string;
}

export interface BootTarget {
  /** The pxe plugin's DHCP server (host:port on loopback). */
  dhcpHost: string;
  dhcpPort: number;
  /** Per DHCP message: how long to wait for the first answer (doubled on each retry), and how many tries. */
  timeoutMs: number;
  tries: number;
}

/** DISCOVER → OFFER → REQUEST → ACK through a relay at 127.0.0.1, as iPXE (user class "iPXE"). */
export async function dhcpLease(mac: string, target: BootTarget, signal: AbortSignal): Promise<Lease> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  try {
    const xid = randomInt(2 ** 31);
    const offer = await exchange(socket, request(mac, xid, dhcp.MessageType.DISCOVER), xid, dhcp.MessageType.OFFER, target, signal);
    const server = dhcp.optionIp(offer, dhcp.Opt.SERVER_ID) ?? '';
    const ack = await exchange(socket, request(mac, xid, dhcp.MessageType.REQUEST, offer.yiaddr, server), xid, dhcp.MessageType.ACK, target, signal);
    return {ip: ack.yiaddr, server, bootfile: dhcp.optionString(ack, dhcp.Opt.BOOTFILE) ?? ack.file};
  } finally {
    socket.close();
  }
}

function request(mac: string, xid: number, type: dhcp.MessageType, ip?: string, server?: string): Buffer {
  const options = new Map<number, Buffer>([
    [dhcp.Opt.MESSAGE_TYPE, dhcp.optByte(type)],
    [dhcp.Opt.CLIENT_ARCH, Buffer.from([0, 7])], // x86-64 UEFI
    [dhcp.Opt.VENDOR_CLASS, dhcp.optString('PXEClient:Arch:00007:UNDI:003016')],
    [dhcp.Opt.USER_CLASS, dhcp.optString('iPXE')],
  ]);
  if (ip) options.set(dhcp.Opt.REQUESTED_IP, dhcp.optIp(ip));
  if (server) options.set(dhcp.Opt.SERVER_ID, dhcp.optIp(server));
  return dhcp.encode({
    op: dhcp.BOOTREQUEST, htype: 1, hlen: 6, hops: 1, xid, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0', giaddr: '127.0.0.1', chaddr: Buffer.from(mac.split(':').map((h) => parseInt(h, 16))), sname: '', file: '', options,
  });
}

/** Sends a message and waits for the reply of the wanted type, retransmitting on silence. */
function exchange(socket: Socket, packet: Buffer, xid: number, want: dhcp.MessageType, target: BootTarget, signal: AbortSignal): Promise<dhcp.DhcpMessage> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (error?: Error, reply?: dhcp.DhcpMessage) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(reply!);
    };
    const onAbort = () => done(new Error('powered off during DHCP'));
    const onMessage = (buf: Buffer) => {
      let m: dhcp.DhcpMessage;
      try {
        m = dhcp.decode(buf);
      } catch {
        return;
      }
      if (m.xid !== xid) return;
      const type = dhcp.messageType(m);
      if (type === dhcp.MessageType.NAK) done(new Error(`DHCP NAK: ${dhcp.optionString(m, dhcp.Opt.MESSAGE) ?? 'refused'}`));
      else if (type === want) done(undefined, m);
    };
    const send = () => {
      if (tries++ >= target.tries) return done(new Error(`no DHCP ${dhcp.MessageType[want]} after ${target.tries} tries`));
      socket.send(packet, target.dhcpPort, target.dhcpHost);
      // As PXE firmware does (RFC 2131 §4.1): double the wait each time, randomized, so that a boot storm
      // spreads out instead of retransmitting in lockstep.
      timer = setTimeout(send, target.timeoutMs * 2 ** (tries - 1) * (0.5 + Math.random()));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, {once: true});
    socket.on('message', onMessage);
    send();
  });
}

/** The kernel command line of a boot script: every `layercake.<key>=<value>` it carries. */
export function kernelArgs(script: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const m of script.matchAll(/\blayercake\.([a-z]+)=(\S+)/g)) args[m[1]] = m[2];
  return args;
}

/** iPXE waits this long for an HTTP server before the boot fails. */
const HTTP_TIMEOUT_MS = 30_000;

/**
 * Fetches the boot script the lease names, from the machine's own address (the boot servers answer only
 * the addresses of booting nodes; on loopback every 127.x.y.z is this host, so each machine has its own).
 */
export function bootScript(lease: Lease, signal: AbortSignal): Promise<string> {
  if (!/^http:\/\//.test(lease.bootfile)) return Promise.reject(new Error(`the simulated firmware boots over HTTP, but DHCP gave it "${lease.bootfile}"`));
  return new Promise((resolve, reject) => {
    const timeout = AbortSignal.timeout(HTTP_TIMEOUT_MS);
    const req = http.get(lease.bootfile, {localAddress: lease.ip, signal: AbortSignal.any([signal, timeout])}, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`boot script ${lease.bootfile}: HTTP ${res.statusCode} ${text.trim()}`))));
      res.on('error', reject);
    });
    req.on('error', (error) => reject(timeout.aborted ? new Error(`boot script ${lease.bootfile}: no answer within ${HTTP_TIMEOUT_MS / 1000} s`) : error));
  });
}
