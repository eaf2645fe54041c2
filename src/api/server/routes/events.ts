/**
 * The event stream: a WebSocket at /api/v1/events. The query chooses what to receive
 * (`types=STATE_CHANGE,MUTATION`, `nodes=n01,<id>`, `urls=/physState,pxe.*`); the client may replace its
 * filter at any time by sending `{"subscribe": {types, nodes, urls}}`. The first message is a hello; each
 * event follows as `{"kind": "event", "event": {...}}`, in order, secrets redacted. A client that cannot
 * keep up (more than 8 MiB unsent) is disconnected rather than buffered without bound; it reconnects and
 * re-reads the state.
 */
import type {FastifyInstance} from 'fastify';
import type {WebSocket} from 'ws';
import type {EventFilter, EventType, LcEvent} from '../../../model/events.js';
import {ValidationError} from '../../../model/errors.js';
import {toPointer} from '../../../model/url.js';
import type {ApiDaemon} from '../daemon-port.js';
import type {Redactor} from '../redact.js';
import type {StreamMessage} from '../../types.js';
import {resolveAll} from './nodes.js';

const EVENT_TYPES: readonly EventType[] = ['STATE_CHANGE', 'MUTATION', 'DISCOVERY', 'LOG'];
const MAX_BUFFERED = 8 * 1024 * 1024;

const list = (value: unknown): string[] | undefined => {
  if (value === undefined) return undefined;
  const items = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean);
  return items.length ? items : undefined;
};

/** Validate and normalize a filter: event types known, nodes resolved to ids, URLs as pointer patterns. */
export function parseFilter(daemon: ApiDaemon, input: {types?: unknown; nodes?: unknown; urls?: unknown}): EventFilter {
  const filter: EventFilter = {};
  const types = list(input.types);
  if (types) {
    const bad = types.filter((t) => !EVENT_TYPES.includes(t as EventType));
    if (bad.length) throw new ValidationError(`unknown event type ${bad.join(', ')} (known: ${EVENT_TYPES.join(', ')})`, {value: bad[0], expected: EVENT_TYPES.join('|')});
    filter.types = types as EventType[];
  }
  const nodes = list(input.nodes);
  if (nodes) filter.nodes = resolveAll(daemon, nodes).map((v) => v.cfg.id);
  const urls = list(input.urls);
  if (urls) filter.urls = urls.map((u) => toPointer(u));
  return filter;
}

export function registerEventRoutes(app: FastifyInstance, daemon: ApiDaemon, redact: Redactor, version: string): void {
  app.get<{Querystring: Record<string, string>}>('/events', {websocket: true}, (socket: WebSocket, req) => {
    let unsubscribe: (() => void) | undefined;
    const send = (message: StreamMessage) => {
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > MAX_BUFFERED) {
        socket.close(1013, 'client too slow: reconnect and re-read the state');
        unsubscribe?.();
        return;
      }
      socket.send(JSON.stringify(message));
    };
    const subscribe = (filter: EventFilter) => {
      unsubscribe?.();
      unsubscribe = daemon.store.events.subscribe(filter, (event: LcEvent) => send({kind: 'event', event: redact.event(event)}));
    };
    let filter: EventFilter;
    try {
      filter = parseFilter(daemon, req.query);
    } catch (error) {
      send({kind: 'error', error: {code: 'LC_ERR_INPUT_INVALID', message: (error as Error).message}});
      socket.close(1008, (error as Error).message.slice(0, 120));
      return;
    }
    subscribe(filter);
    send({kind: 'hello', id: daemon.selfId, version, filter});
    socket.on('message', (data) => {
      try {
        const command = JSON.parse(String(data)) as {subscribe?: EventFilter};
        if (!command || typeof command.subscribe !== 'object') throw new ValidationError('expected {"subscribe": {types, nodes, urls}}');
        filter = parseFilter(daemon, command.subscribe);
        subscribe(filter);
        send({kind: 'subscribed', filter});
      } catch (error) {
        send({kind: 'error', error: {code: 'LC_ERR_INPUT_INVALID', message: (error as Error).message}});
      }
    });
    socket.on('close', () => unsubscribe?.());
    socket.on('error', () => unsubscribe?.());
  });
}
