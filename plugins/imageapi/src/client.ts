/**
 * A small typed client of the ImageAPI service (the imageset module, the commands, tests), over the sdk's
 * node:http exchange: on Layer0 the agent's first ImageAPI call used to load undici (Node's fetch), about
 * 3 s on a one-CPU VM without KVM, on the way from power-on to the image running.
 */
import {exchange, type Reply} from '@layercake/sdk';
import type {ApiAttach, ApiContainer, ApiInfo, ApiMount, AttachInput, ContainerInput} from './api/models.js';
import {timed, type Debug} from './service/timing.js';

export class ImageApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string) {
    super(message);
    this.name = 'ImageApiError';
  }
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  base?: string;
  /** Per request (default 60 s; a container stop may take its stop timeout). */
  timeoutMs?: number;
  /** A debug log: each request's time goes there (`GET /container: 24 ms`), as the service's own step timings do. */
  debug?: Debug;
}

type Query = Record<string, string | number | boolean | undefined>;

export class ImageApiClient {
  readonly url: string;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly debug: Debug;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.base = options.base ?? '/imageapi/v1';
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.debug = options.debug;
  }

  private request<T>(method: string, path: string, q: Query = {}, body?: unknown, signal?: AbortSignal, timeoutMs = this.timeoutMs): Promise<{status: number; value: T}> {
    return timed(this.debug, `${method} ${path}`, () => this.send<T>(method, path, q, body, signal, timeoutMs));
  }

  private async send<T>(method: string, path: string, q: Query = {}, body?: unknown, signal?: AbortSignal, timeoutMs = this.timeoutMs): Promise<{status: number; value: T}> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const qs = params.size ? `?${params}` : '';
    let response: Reply | undefined;
    // A kept-alive connection the server closed (it restarted) fails before the request is sent: try
    // once more on a new one. Every operation of the API is idempotent, creation included.
    for (let attempt = 1; !response; attempt++) {
      try {
        response = await exchange(new URL(`${this.url}${this.base}${path}${qs}`), {
          method, timeoutMs, signal,
          ...(body === undefined ? {headers: {}} : {body: JSON.stringify(body), headers: {'content-type': 'application/json'}}),
        });
      } catch (error) {
        if (signal?.aborted) throw signal.reason ?? error;
        const cause = (error as {code?: string}).code ?? (error as Error).message;
        if (attempt === 1 && cause === 'ECONNRESET') continue;
        throw new ImageApiError(0, `ImageAPI at ${this.url} is not reachable (${cause === 'ABORT_ERR' ? `no answer within ${timeoutMs / 1000} s` : cause})`);
      }
    }
    const value = response.type.includes('json') && response.body ? JSON.parse(response.body) : response.body;
    if (!response.ok) {
      const e = value as {message?: string; field?: string};
      throw new ImageApiError(response.status, e?.message ?? `${method} ${path}: HTTP ${response.status}`, e?.field);
    }
    return {status: response.status, value: value as T};
  }

  async info(signal?: AbortSignal): Promise<ApiInfo> {
    return (await this.request<ApiInfo>('GET', '/info', {}, undefined, signal)).value;
  }

  /** Waits until the service's table changes past `since` (or `timeoutMs`); returns the generation. */
  async watch(since: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    return (await this.request<{generation: number}>('GET', '/watch', {since, timeout: timeoutMs}, undefined, signal, timeoutMs + 10_000)).value.generation;
  }

  async listContainers(q: {id?: number; name?: string; state?: string} = {}, signal?: AbortSignal): Promise<ApiContainer[]> {
    return (await this.request<ApiContainer[]>('GET', '/container', q, undefined, signal)).value;
  }

  /** With `replace`, a container of the same name is replaced (prepare the new, stop the old, start the new, release the old). */
  async createContainer(spec: ContainerInput, signal?: AbortSignal, options: {replace?: boolean} = {}): Promise<{created: boolean; container: ApiContainer}> {
    const r = await this.request<ApiContainer>('POST', '/container', options.replace ? {replace: true} : {}, spec, signal);
    return {created: r.status === 201, container: r.value};
  }

  async setContainerState(q: {id?: number; name?: string; state: 'running' | 'exited'}, signal?: AbortSignal): Promise<ApiContainer> {
    return (await this.request<ApiContainer>('PATCH', '/container', q, undefined, signal)).value;
  }

  async deleteContainer(q: {id?: number; name?: string; force?: boolean}, signal?: AbortSignal): Promise<ApiContainer> {
    return (await this.request<ApiContainer>('DELETE', '/container', q, undefined, signal)).value;
  }

  async containerLog(q: {id?: number; name?: string; tail?: number}, signal?: AbortSignal): Promise<string> {
    return (await this.request<string>('GET', '/container/log', q, undefined, signal)).value;
  }

  async listAttach(q: {id?: number; kind?: string} = {}): Promise<ApiAttach[]> {
    return (await this.request<ApiAttach[]>('GET', '/attach', q)).value;
  }

  async createAttach(spec: AttachInput): Promise<{created: boolean; attach: ApiAttach}> {
    const r = await this.request<ApiAttach>('POST', '/attach', {}, spec);
    return {created: r.status === 201, attach: r.value};
  }

  async deleteAttach(id: number, force = false): Promise<ApiAttach> {
    return (await this.request<ApiAttach>('DELETE', '/attach', {id, force})).value;
  }

  async listMount(q: {id?: number; kind?: string} = {}): Promise<ApiMount[]> {
    return (await this.request<ApiMount[]>('GET', '/mount', q)).value;
  }

  async createMount(spec: unknown): Promise<{created: boolean; mount: ApiMount}> {
    const r = await this.request<ApiMount>('POST', '/mount', {}, spec);
    return {created: r.status === 201, mount: r.value};
  }

  async deleteMount(id: number, force = false): Promise<ApiMount> {
    return (await this.request<ApiMount>('DELETE', '/mount', {id, force})).value;
  }
}
