/**
 * One IPMI v2.0 / RMCP+ session with one BMC over UDP (node:dgram): session establishment (Get
 * Channel Authentication Capabilities, Open Session, RAKP 1-4, Set Session Privilege Level), IPMI
 * requests inside the session with integrity and confidentiality, retransmission on timeout, and
 * Close Session. Requests are serialized: one exchange is in flight at a time.
 */
import dgram from 'node:dgram';
import {isIP} from 'node:net';
import {randomBytes, randomInt} from 'node:crypto';
import {abortError, bmcLabel, hostNotFound, IpmiError} from '../errors.js';
import {
  AUTH_STATUS, CIPHER_SUITES, Cmd, COMPLETION_CODES, NAME_ONLY_LOOKUP, NetFn, PayloadType, Privilege,
  RMCP_PLUS_STATUS, type CipherSuiteId, type PrivilegeName,
} from './constants.js';
import {decodeResponse, encodeRequest, type IpmiResponse} from './message.js';
import {decodeDatagram, encodeV15, encodeV20, type SessionKeys} from './packet.js';
import {
  additionalKeys, decodeOpenSessionResponse, decodeRakp2, decodeRakp4, encodeOpenSessionRequest, encodeRakp1,
  encodeRakp3, rakp3Code, sessionIntegrityKey, userKey, verifyRakp2, verifyRakp4, type Handshake,
} from './rakp.js';

export interface SessionOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  privilege: PrivilegeName;
  cipherSuite: CipherSuiteId;
  /** How long to wait for each answer before sending again (ms). */
  attemptTimeout: number;
  /** How many times a request is sent again after the first try. */
  retries: number;
}

type Accept<T> = (datagram: Buffer) => T | undefined;

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;
const statusText = (s: number): string => RMCP_PLUS_STATUS[s] ?? `status ${hex(s)}`;
const completionText = (cc: number): string => COMPLETION_CODES[cc] ?? `completion code ${hex(cc)}`;

/** Names of the commands this driver sends, for error messages. */
const COMMAND_NAMES: Record<string, string> = {
  [`${NetFn.APP}:${Cmd.GET_CHANNEL_AUTH_CAPABILITIES}`]: 'Get Channel Authentication Capabilities',
  [`${NetFn.APP}:${Cmd.SET_SESSION_PRIVILEGE_LEVEL}`]: 'Set Session Privilege Level',
  [`${NetFn.APP}:${Cmd.CLOSE_SESSION}`]: 'Close Session',
  [`${NetFn.CHASSIS}:${Cmd.GET_CHASSIS_STATUS}`]: 'Get Chassis Status',
  [`${NetFn.CHASSIS}:${Cmd.CHASSIS_CONTROL}`]: 'Chassis Control',
  [`${NetFn.CHASSIS}:${Cmd.SET_SYSTEM_BOOT_OPTIONS}`]: 'Set System Boot Options',
};
export const commandName = (netFn: number, cmd: number): string => COMMAND_NAMES[`${netFn}:${cmd}`] ?? `command ${hex(netFn)}/${hex(cmd)}`;

export class RmcpPlusSession {
  readonly bmc: string;
  /** When the session last completed an exchange (ms since the epoch); used by the session cache. */
  lastUsed = 0;
  private readonly opts: SessionOptions;
  private socket?: dgram.Socket;
  private waiter?: (datagram: Buffer) => void;
  private failWaiter?: (error: IpmiError) => void;
  private queue: Promise<unknown> = Promise.resolve();
  private state: 'new' | 'open' | 'closed' | 'broken' = 'new';
  private consoleSessionId = 0;
  private bmcSessionId = 0;
  private keys: SessionKeys = {};
  private outSeq = 0;
  private rqSeq = 0;
  private tag = 0;

  constructor(opts: SessionOptions) {
    this.opts = opts;
    this.bmc = bmcLabel(opts.host, opts.port);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Establishes the session. Throws an IpmiError ('unreachable', 'auth', 'protocol', 'aborted'). */
  open(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      if (this.state !== 'new') throw new IpmiError('protocol', this.bmc, `session with BMC ${this.bmc} cannot be opened twice`);
      try {
        await this.connect();
        await this.handshake(signal);
        this.state = 'open';
        this.lastUsed = Date.now();
      } catch (error) {
        this.state = 'broken';
        this.dispose();
        throw error;
      }
    });
  }

  /**
   * Sends one IPMI request inside the session and returns the response (whatever its completion
   * code). A timeout or an unreadable answer marks the session broken: the caller opens a new one.
   */
  request(netFn: number, cmd: number, data: Buffer = Buffer.alloc(0), signal?: AbortSignal): Promise<IpmiResponse> {
    return this.serial(async () => {
      if (this.state !== 'open') throw new IpmiError('protocol', this.bmc, `session with BMC ${this.bmc} is not open`);
      try {
        const response = await this.ipmiExchange(netFn, cmd, data, signal);
        this.lastUsed = Date.now();
        return response;
      } catch (error) {
        if (!(error instanceof IpmiError && error.kind === 'aborted')) this.state = 'broken';
        throw error;
      }
    });
  }

  /** Like request(), but a completion code other than 0 is an IpmiError of kind 'command'. */
  async command(netFn: number, cmd: number, data?: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const response = await this.request(netFn, cmd, data, signal);
    if (response.completionCode !== 0) {
      const kind = response.completionCode === 0xd4 ? 'auth' : 'command';
      throw new IpmiError(kind, this.bmc, `BMC ${this.bmc}: ${commandName(netFn, cmd)} failed: ${completionText(response.completionCode)} (${hex(response.completionCode)})`);
    }
    return response.data;
  }

  /** Closes the session on the BMC (best effort, one try) and releases the socket. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.state === 'open') {
        this.state = 'closed';
        const id = Buffer.alloc(4);
        id.writeUInt32LE(this.bmcSessionId >>> 0);
        try {
          await this.ipmiExchange(NetFn.APP, Cmd.CLOSE_SESSION, id, AbortSignal.timeout(this.opts.attemptTimeout), 0);
        } catch {
          // the BMC forgets the session after its own idle timeout anyway
        }
      }
      this.state = this.state === 'new' ? 'closed' : this.state;
      this.dispose();
    }).catch(() => undefined);
  }

  // ---- transport ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async connect(): Promise<void> {
    const family = isIP(this.opts.host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket(family);
    this.socket = socket;
    socket.on('message', (datagram) => this.waiter?.(datagram));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A connected UDP socket reports ICMP "port unreachable" as ECONNREFUSED: nothing listens there.
      const why = error.code === 'ECONNREFUSED' ? 'port unreachable (nothing listens there)' : error.message;
      this.failWaiter?.(new IpmiError('unreachable', this.bmc, `BMC ${this.bmc} did not answer: ${why}`, {cause: error}));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new IpmiError('unreachable', this.bmc, `BMC ${this.bmc} cannot be reached: ${error.message}`, {cause: error}));
      socket.once('error', onError);
      // A host name that does not resolve comes to the callback (not as an 'error' event).
      socket.connect(this.opts.port, this.opts.host, (error?: NodeJS.ErrnoException) => {
        socket.off('error', onError);
        if (!error) resolve();
        else if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') reject(hostNotFound(this.bmc, this.opts.host, error.code));
        else onError(error);
      });
    });
  }

  private dispose(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (socket) try { socket.close(); } catch {}
  }

  /**
   * Sends a datagram (built afresh for each try, so every try has its own session sequence number
   * and IV) until `accept` recognizes an answer, the tries run out or the signal aborts.
   */
  private exchange<T>(build: () => Buffer, accept: Accept<T>, what: string, signal?: AbortSignal, retries = this.opts.retries): Promise<T> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new IpmiError('protocol', this.bmc, `session with BMC ${this.bmc} has no socket`));
    if (signal?.aborted) return Promise.reject(abortError(this.bmc, signal));
    return new Promise<T>((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        this.failWaiter = undefined;
        fn();
      };
      const onAbort = (): void => finish(() => reject(abortError(this.bmc, signal!)));
      const send = (): void => {
        tries++;
        socket.send(build());
        timer = setTimeout(() => {
          if (tries <= retries) send();
          else finish(() => reject(new IpmiError('unreachable', this.bmc,
            `BMC ${this.bmc} did not answer ${what} (${tries} tries, ${this.opts.attemptTimeout} ms each)`)));
        }, this.opts.attemptTimeout);
      };
      this.waiter = (datagram) => {
        let result: T | undefined;
        try {
          result = accept(datagram);
        } catch (error) {
          finish(() => reject(error instanceof IpmiError ? error
            : new IpmiError('protocol', this.bmc, `BMC ${this.bmc} sent a bad answer to ${what}: ${(error as Error).message}`, {cause: error})));
          return;
        }
        if (result !== undefined) finish(() => resolve(result));
      };
      this.failWaiter = (error) => finish(() => reject(error));
      signal?.addEventListener('abort', onAbort, {once: true});
      send();
    });
  }

  private nextRqSeq(): number {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    return this.rqSeq;
  }

  private nextOutSeq(): number {
    this.outSeq = this.outSeq >= 0xffffffff ? 1 : this.outSeq + 1;
    return this.outSeq;
  }

  private ipmiExchange(netFn: number, cmd: number, data: Buffer, signal?: AbortSignal, retries?: number): Promise<IpmiResponse> {
    const rqSeq = this.nextRqSeq();
    const message = encodeRequest({netFn, cmd, rqSeq, data});
    const build = (): Buffer => encodeV20({payloadType: PayloadType.IPMI, sessionId: this.bmcSessionId, sequence: this.nextOutSeq(), payload: message}, this.keys);
    const accept: Accept<IpmiResponse> = (datagram) => {
      const d = decodeDatagram(datagram, this.keys);
      if (!d || d.version !== '2.0' || d.payloadType !== PayloadType.IPMI || d.sessionId !== this.consoleSessionId) return undefined;
      if (this.keys.integrity && !d.authenticated) return undefined; // unauthenticated packets are not trusted in this session
      const r = decodeResponse(d.payload);
      return r && r.netFn === netFn + 1 && r.cmd === cmd && r.rqSeq === rqSeq ? r : undefined;
    };
    return this.exchange(build, accept, commandName(netFn, cmd), signal, retries);
  }

  // ---- session establishment ----

  private async handshake(signal?: AbortSignal): Promise<void> {
    const {username, password, privilege, cipherSuite} = this.opts;
    const bmc = this.bmc;
    const level = Privilege[privilege];

    // 1. Get Channel Authentication Capabilities (v1.5 framing): does it speak IPMI v2.0 at all?
    const capsSeq = this.nextRqSeq();
    const capsReq = encodeV15(encodeRequest({netFn: NetFn.APP, cmd: Cmd.GET_CHANNEL_AUTH_CAPABILITIES, rqSeq: capsSeq, data: Buffer.from([0x8e, level])}));
    const caps = await this.exchange(() => capsReq, (datagram) => {
      const d = decodeDatagram(datagram);
      if (!d) return undefined;
      const r = decodeResponse(d.version === '1.5' ? d.message : d.payload);
      return r && r.cmd === Cmd.GET_CHANNEL_AUTH_CAPABILITIES && r.rqSeq === capsSeq ? r : undefined;
    }, 'Get Channel Authentication Capabilities', signal);
    if (caps.completionCode !== 0) throw new IpmiError('protocol', bmc, `BMC ${bmc} refused Get Channel Authentication Capabilities: ${completionText(caps.completionCode)}`);
    if (caps.data.length < 4 || !(caps.data[1] & 0x80) || !(caps.data[3] & 0x02)) {
      throw new IpmiError('protocol', bmc, `BMC ${bmc} does not support IPMI v2.0 (RMCP+, interface lanplus)`);
    }

    // 2. Open Session.
    const suite = CIPHER_SUITES[cipherSuite];
    this.consoleSessionId = randomInt(1, 0xffffffff);
    const openTag = this.nextTag();
    const openReq = encodeV20({payloadType: PayloadType.OPEN_SESSION_REQUEST, sessionId: 0, sequence: 0,
      payload: encodeOpenSessionRequest(openTag, level, this.consoleSessionId, cipherSuite)});
    const open = await this.exchange(() => openReq, (datagram) => {
      const d = decodeDatagram(datagram);
      if (!d || d.version !== '2.0' || d.payloadType !== PayloadType.OPEN_SESSION_RESPONSE) return undefined;
      const r = decodeOpenSessionResponse(d.payload);
      return r && r.tag === openTag && (r.consoleSessionId === this.consoleSessionId || r.status !== 0) ? r : undefined;
    }, 'Open Session', signal);
    if (open.status !== 0) {
      if (open.status === 0x11 || (open.status >= 0x04 && open.status <= 0x07) || open.status === 0x10) {
        throw new IpmiError('protocol', bmc, `BMC ${bmc} does not offer cipher suite ${cipherSuite}: ${statusText(open.status)}`);
      }
      throw new IpmiError(AUTH_STATUS.has(open.status) ? 'auth' : 'protocol', bmc, `BMC ${bmc} refused to open a session: ${statusText(open.status)}`);
    }
    if (open.auth !== suite.auth || open.integrity !== suite.integrity || open.confidentiality !== suite.confidentiality) {
      throw new IpmiError('protocol', bmc, `BMC ${bmc} answered Open Session with other algorithms than cipher suite ${cipherSuite}`);
    }
    this.bmcSessionId = open.bmcSessionId;

    // 3. RAKP 1 / RAKP 2: the BMC proves it knows the user's key.
    const h: Handshake = {
      consoleSessionId: this.consoleSessionId,
      bmcSessionId: this.bmcSessionId,
      consoleRandom: randomBytes(16),
      bmcRandom: Buffer.alloc(0),
      bmcGuid: Buffer.alloc(0),
      user: {role: level | NAME_ONLY_LOOKUP, username: Buffer.from(username, 'utf8')},
      kuid: userKey(password),
    };
    const rakp1Tag = this.nextTag();
    const rakp1 = encodeV20({payloadType: PayloadType.RAKP1, sessionId: 0, sequence: 0,
      payload: encodeRakp1(rakp1Tag, this.bmcSessionId, h.consoleRandom, h.user)});
    const rakp2 = await this.exchange(() => rakp1, (datagram) => {
      const d = decodeDatagram(datagram);
      if (!d || d.version !== '2.0' || d.payloadType !== PayloadType.RAKP2) return undefined;
      const r = decodeRakp2(d.payload);
      return r && r.tag === rakp1Tag && r.consoleSessionId === this.consoleSessionId ? r : undefined;
    }, 'RAKP 1', signal);
    const who = `user "${username}"`;
    if (rakp2.status !== 0) {
      const detail = rakp2.status === 0x0d ? 'unknown user name' : statusText(rakp2.status);
      throw new IpmiError(AUTH_STATUS.has(rakp2.status) ? 'auth' : 'protocol', bmc, `BMC ${bmc} rejected the credentials of ${who}: ${detail}`);
    }
    h.bmcRandom = rakp2.bmcRandom;
    h.bmcGuid = rakp2.bmcGuid;
    if (!verifyRakp2(h, rakp2.keyExchangeCode)) {
      // Tell the BMC (RAKP 3 with an error status) so it can drop the half-open session at once.
      this.socket?.send(encodeV20({payloadType: PayloadType.RAKP3, sessionId: 0, sequence: 0,
        payload: encodeRakp3(this.nextTag(), 0x0f, this.bmcSessionId, Buffer.alloc(0))}));
      throw new IpmiError('auth', bmc, `BMC ${bmc} rejected the credentials of ${who}: wrong password (RAKP 2 key exchange code does not match)`);
    }

    // 4. RAKP 3 / RAKP 4: we prove we know it; both sides derive the session keys.
    const rakp3Tag = this.nextTag();
    const rakp3 = encodeV20({payloadType: PayloadType.RAKP3, sessionId: 0, sequence: 0,
      payload: encodeRakp3(rakp3Tag, 0, this.bmcSessionId, rakp3Code(h))});
    const rakp4 = await this.exchange(() => rakp3, (datagram) => {
      const d = decodeDatagram(datagram);
      if (!d || d.version !== '2.0' || d.payloadType !== PayloadType.RAKP4) return undefined;
      const r = decodeRakp4(d.payload);
      return r && r.tag === rakp3Tag && r.consoleSessionId === this.consoleSessionId ? r : undefined;
    }, 'RAKP 3', signal);
    if (rakp4.status !== 0) {
      throw new IpmiError(AUTH_STATUS.has(rakp4.status) ? 'auth' : 'protocol', bmc, `BMC ${bmc} rejected the credentials of ${who}: ${statusText(rakp4.status)}`);
    }
    const sik = sessionIntegrityKey(h);
    if (!verifyRakp4(h, sik, rakp4.integrityCheck)) {
      throw new IpmiError('protocol', bmc, `BMC ${bmc} sent a RAKP 4 integrity check value that does not match (BMC key Kg set?)`);
    }
    const {k1, k2} = additionalKeys(sik);
    this.keys = {
      integrity: suite.integrity ? k1 : undefined,
      confidentiality: suite.confidentiality ? k2.subarray(0, 16) : undefined,
    };
    this.outSeq = 0;

    // 5. Sessions start at User level; raise to the privilege the node's extension asks for.
    const priv = await this.ipmiExchange(NetFn.APP, Cmd.SET_SESSION_PRIVILEGE_LEVEL, Buffer.from([level]), signal);
    if (priv.completionCode !== 0) {
      const limit = priv.completionCode === 0x80 || priv.completionCode === 0x81 || priv.completionCode === 0xd4;
      throw new IpmiError(limit ? 'auth' : 'protocol', bmc,
        `BMC ${bmc} rejected the credentials of ${who}: privilege ${privilege} not allowed (${limit ? 'above the user\'s limit' : completionText(priv.completionCode)})`);
    }
  }

  private nextTag(): number {
    this.tag = (this.tag + 1) & 0xff;
    return this.tag;
  }
}
