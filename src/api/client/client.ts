/**
 * The typed API client the commands (and plugins' commands) use: one method per route, node:http for
 * requests (./http.ts), a WebSocket for the event stream that reconnects on its own when the daemon restarts.
 * Errors: ApiError for an HTTP error (with the server's code, message, node, URL and hint),
 * DaemonUnreachableError when nothing answers at the address.
 */
import type WebSocket from 'ws';
import {ApiError, DaemonUnreachableError, isNetworkError, networkReason} from './errors.js';
import {exchange, type Reply} from './http.js';
import {
  API_PREFIX, type ApiErrorBody, type ApplyResult, type DeleteResult, type EngineStatus, type EnumerablesResult,
  type EventFilter, type ExtensionInfo, type ExtensionsResult, type GraphResult, type Health, type HistoryResult,
  type JsonValue, type LcEvent, type ModuleInfo, type ModulesResult, type SyncStatusResult, type MutationInfo, type MutationsResult,
  type Node, type NodesResult, type NodeView, type NodeViewsResult, type PathResult, type SetRequest,
  type StreamMessage, type WhyResult,
} from '../types.js';

export interface ApiClientOptions {
  /** The daemon's address: http://127.0.0.1:3141, or the local socket as unix:/run/layercake/api.sock. */
  url: string;
  /** The bearer token for changing operations. */
  token?: string;
  /** Per-request time limit (default 15 s). */
  timeoutMs?: number;
  /** Where the address came from ("--url", "the default"): named when the daemon cannot be reached. */
  source?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

export interface EventHandlers {
  onEvent(event: LcEvent): void;
  /** Called on every (re)connection, after the server's hello: a consumer re-reads state here. */
  onOpen?(hello: Extract<StreamMessage, {kind: 'hello'}>): void;
  /** The connection dropped; it is retried after `delayMs` (when reconnecting is on). */
  onDisconnect?(reason: string, delayMs: number | undefined): void;
}

export interface EventStreamOptions {
  /** Reconnect after the connection drops (default true). */
  reconnect?: boolean;
  /** Longest wait between reconnection attempts (default 5 s). */
  maxDelayMs?: number;
}

/** A live subscription; `close()` ends it for good. */
export interface EventStream {
  close(): void;
  /** Replace the filter on the live connection (and on every reconnection). */
  setFilter(filter: EventFilter): void;
  /** Resolves at the first successful connection; rejects if the first attempt fails and reconnect is off. */
  readonly opened: Promise<void>;
}

const enc = encodeURIComponent;

// ws is imported on the first event stream, not at start: most commands never open one, and loading it
// is a tenth of a command's start-up CPU (docs/testing.md, "How long the unit tier takes").
let webSocketClass: Promise<typeof WebSocket> | undefined;
const loadWebSocket = () => (webSocketClass ??= import('ws').then((m) => m.default));

export class ApiClient {
  readonly url: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly source?: string;
  /** For a unix: address, the socket's path; requests then go to http://localhost through it. */
  private readonly socketPath?: string;

  constructor(options: ApiClientOptions) {
    this.url = options.url.replace(/\/$/, '');
    if (this.url.startsWith('unix:')) this.socketPath = this.url.slice('unix:'.length);
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.source = options.source;
  }

  // ---- nodes ----

  /** Every node, cfg and dsc side by side, parents first, then by name. */
  async listNodes(): Promise<NodeView[]> {
    return (await this.request<NodeViewsResult>('GET', '/nodes')).nodes;
  }

  /** Every node in one view: cfg, dsc, or dsc merged over cfg. */
  async listNodesIn(view: 'cfg' | 'dsc' | 'merged'): Promise<Node[]> {
    return (await this.request<NodesResult>('GET', '/nodes', {query: {view}})).nodes;
  }

  async getNode(idOrName: string): Promise<NodeView> {
    return this.request<NodeView>('GET', `/nodes/${enc(idOrName)}`);
  }

  async getNodeIn(idOrName: string, view: 'cfg' | 'dsc' | 'merged'): Promise<Node> {
    return this.request<Node>('GET', `/nodes/${enc(idOrName)}`, {query: {view}});
  }

  /** Create nodes (all or nothing; a nodename or id that exists already is a conflict). */
  async createNodes(nodes: unknown[]): Promise<Node[]> {
    return (await this.request<NodesResult>('POST', '/nodes', {body: {nodes}})).nodes;
  }

  /** Declarative upsert of many nodes, validated as a whole; `dryRun` returns the diff without writing. */
  async apply(nodes: unknown[], opts: {dryRun?: boolean; prune?: boolean} = {}): Promise<ApplyResult> {
    return this.request<ApplyResult>('POST', '/apply', {body: {nodes}, query: {dryRun: opts.dryRun, prune: opts.prune}});
  }

  /** Update one node: the body merges into it, or with `replace` becomes it (omitted fields take defaults). */
  async updateNode(idOrName: string, node: unknown, opts: {replace?: boolean} = {}): Promise<Node> {
    return this.request<Node>('PUT', `/nodes/${enc(idOrName)}`, {body: node, query: {replace: opts.replace}});
  }

  /** Assign URL values on several nodes, all or nothing; returns the diff. */
  async setValues(request: SetRequest, opts: {dryRun?: boolean} = {}): Promise<ApplyResult> {
    return this.request<ApplyResult>('PATCH', '/nodes', {body: request, query: {dryRun: opts.dryRun}});
  }

  async deleteNodes(idsOrNames: string[]): Promise<Node[]> {
    return (await this.request<DeleteResult>('DELETE', '/nodes', {body: {nodes: idsOrNames}})).deleted;
  }

  /** Report discovered values by hand (what modules normally do); for tests and repairs. */
  async discover(idOrName: string, values: Record<string, JsonValue>): Promise<Node> {
    return this.request<Node>('PATCH', `/nodes/${enc(idOrName)}/dsc`, {body: {set: values}});
  }

  async path(idOrName: string): Promise<PathResult> {
    return this.request<PathResult>('GET', `/nodes/${enc(idOrName)}/path`);
  }

  async why(idOrName: string): Promise<WhyResult> {
    return this.request<WhyResult>('GET', `/nodes/${enc(idOrName)}/why`);
  }

  async history(idOrName: string): Promise<HistoryResult> {
    return this.request<HistoryResult>('GET', `/nodes/${enc(idOrName)}/history`);
  }

  /** Release a node the engine holds after too many failures. */
  async retry(idOrName: string): Promise<WhyResult> {
    return this.request<WhyResult>('POST', `/nodes/${enc(idOrName)}/retry`);
  }

  // ---- graph, engine, registry ----

  async graph(opts: {node?: string} = {}): Promise<GraphResult> {
    return this.request<GraphResult>('GET', opts.node ? `/nodes/${enc(opts.node)}/graph` : '/graph');
  }

  /** The graph as Graphviz DOT text. */
  async graphDot(opts: {node?: string} = {}): Promise<string> {
    return this.request<string>('GET', opts.node ? `/nodes/${enc(opts.node)}/graph` : '/graph', {query: {format: 'dot'}, text: true});
  }

  async engineStatus(): Promise<EngineStatus> {
    return this.request<EngineStatus>('GET', '/engine');
  }

  async freeze(): Promise<EngineStatus> {
    return this.request<EngineStatus>('POST', '/engine/freeze');
  }

  async thaw(): Promise<EngineStatus> {
    return this.request<EngineStatus>('POST', '/engine/thaw');
  }

  async mutations(): Promise<MutationInfo[]> {
    return (await this.request<MutationsResult>('GET', '/mutations')).mutations;
  }

  async extensions(): Promise<ExtensionInfo[]> {
    return (await this.request<ExtensionsResult>('GET', '/extensions')).extensions;
  }

  async enumerables(): Promise<Record<string, readonly string[]>> {
    return (await this.request<EnumerablesResult>('GET', '/enumerables')).enumerables;
  }

  /**
   * The enums of the values the engine drives (those some mutation changes): what decides whether a node
   * has converged. Other enum fields (a boot method, an image's source kind) are settings, not states.
   */
  async stateEnumerables(): Promise<Record<string, readonly string[]>> {
    const [enums, mutations] = await Promise.all([this.enumerables(), this.mutations()]);
    const mutated = [...new Set(mutations.flatMap((m) => Object.keys(m.mutates)))];
    const matches = (pattern: string, url: string) => {
      const p = pattern.split('/'), u = url.split('/');
      return p.length === u.length && p.every((seg, i) => seg === '*' || seg === u[i]);
    };
    return Object.fromEntries(Object.entries(enums).filter(([pattern]) => mutated.some((url) => matches(pattern, url))));
  }

  async syncStatus(): Promise<SyncStatusResult> {
    return this.request<SyncStatusResult>('GET', '/sync');
  }

  async modules(): Promise<ModuleInfo[]> {
    return (await this.request<ModulesResult>('GET', '/modules')).modules;
  }

  // ---- operations ----

  async health(): Promise<Health> {
    return this.request<Health>('GET', '/healthz', {raw: true});
  }

  /** Prometheus text. */
  async metrics(): Promise<string> {
    return this.request<string>('GET', '/metrics', {raw: true, text: true});
  }

  /** A backup of the store: one checksummed snapshot record at one sequence number (docs/store.md). */
  async storeBackup(): Promise<Buffer> {
    return Buffer.from(await this.request<string>('GET', '/store/backup', {text: true}), 'utf8');
  }

  // ---- event stream ----

  /**
   * Subscribe to the event stream. Events arrive in order; after a reconnection `onOpen` runs again
   * (events in between are not replayed, so consumers re-read the state they show).
   */
  events(filter: EventFilter, handlers: EventHandlers, options: EventStreamOptions = {}): EventStream {
    const reconnect = options.reconnect ?? true;
    const maxDelay = options.maxDelayMs ?? 5000;
    let current = filter;
    let socket: WebSocket | undefined;
    let closed = false;
    let attempt = 0;
    let timer: NodeJS.Timeout | undefined;
    let settleOpened: {resolve(): void; reject(e: Error): void};
    const opened = new Promise<void>((resolve, reject) => {
      settleOpened = {resolve, reject};
    });
    opened.catch(() => {}); // the caller may not await it; a rejection is also reported to onDisconnect

    const address = (this.socketPath ? `ws+unix:${this.socketPath}:` : this.url.replace(/^http/, 'ws')) + API_PREFIX + '/events?' + filterQuery(filter);
    const connect = () => {
      void loadWebSocket().then((WebSocketClass) => {
        if (!closed) open(WebSocketClass);
      }, (error: Error) => {
        settleOpened.reject(error);
        handlers.onDisconnect?.(error.message, undefined);
      });
    };
    const open = (WebSocketClass: typeof WebSocket) => {
      const ws = new WebSocketClass(address, {headers: this.token ? {authorization: `Bearer ${this.token}`} : {}, handshakeTimeout: this.timeoutMs});
      socket = ws;
      let helloSeen = false;
      ws.on('message', (data) => {
        let msg: StreamMessage;
        try {
          msg = JSON.parse(String(data)) as StreamMessage;
        } catch {
          return;
        }
        if (msg.kind === 'hello') {
          helloSeen = true;
          attempt = 0;
          if (current !== filter) ws.send(JSON.stringify({subscribe: current}));
          settleOpened.resolve();
          handlers.onOpen?.(msg);
        } else if (msg.kind === 'event') {
          handlers.onEvent(msg.event);
        } else if (msg.kind === 'error' && !helloSeen) {
          // A filter the server refuses (an unknown node, say) will not get better by reconnecting.
          closed = true;
          settleOpened.reject(new ApiError(400, msg.error));
          handlers.onDisconnect?.(msg.error.message, undefined);
        }
      });
      let reason = 'connection closed';
      ws.on('error', (error) => {
        reason = networkReason(error, this.timeoutMs);
      });
      ws.on('close', () => {
        if (socket === ws) socket = undefined;
        if (closed) return;
        if (!reconnect) {
          if (!helloSeen) settleOpened.reject(new DaemonUnreachableError(this.url, reason, this.source));
          handlers.onDisconnect?.(reason, undefined);
          return;
        }
        const delay = Math.min(maxDelay, 250 * 2 ** attempt++);
        handlers.onDisconnect?.(reason, delay);
        timer = setTimeout(connect, delay);
      });
    };
    connect();
    return {
      opened,
      close: () => {
        closed = true;
        if (timer) clearTimeout(timer);
        socket?.close();
        socket?.terminate();
        settleOpened.reject(new Error('event stream closed'));
      },
      setFilter: (next) => {
        current = next;
        if (socket && socket.readyState === socket.OPEN) socket.send(JSON.stringify({subscribe: next}));
      },
    };
  }

  // ---- transport ----

  private async request<T>(
    method: string,
    path: string,
    opts: {body?: unknown; query?: Query; raw?: boolean; text?: boolean} = {},
  ): Promise<T> {
    const url = new URL((opts.raw ? '' : API_PREFIX) + path, this.socketPath ? 'http://localhost/' : this.url + '/');
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== false) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {accept: opts.text ? 'text/plain' : 'application/json'};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    // A change is always JSON, `{}` when it has nothing to say (the daemon refuses anything else: CSRF).
    const body = opts.body ?? (method === 'GET' ? undefined : {});
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Reply;
    try {
      response = await exchange(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        socketPath: this.socketPath, timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      if (isNetworkError(error)) throw new DaemonUnreachableError(this.url, networkReason(error, this.timeoutMs), this.source);
      throw error;
    }
    const text = response.body;
    if (!response.ok) {
      let body: ApiErrorBody | undefined;
      try {
        body = JSON.parse(text) as ApiErrorBody;
      } catch {
        // Not our API (a proxy, another server on the port): report what came back.
      }
      if (body?.error?.message) throw new ApiError(response.status, body.error);
      throw new ApiError(response.status, {
        code: `HTTP_${response.status}`,
        message: `${method} ${url.pathname} answered ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
        hint: `is ${this.url} a layercake daemon?`,
      });
    }
    if (opts.text) return text as T;
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

function filterQuery(filter: EventFilter): string {
  const q = new URLSearchParams();
  if (filter.types?.length) q.set('types', filter.types.join(','));
  if (filter.nodes?.length) q.set('nodes', filter.nodes.join(','));
  if (filter.urls?.length) q.set('urls', filter.urls.join(','));
  return q.toString();
}
