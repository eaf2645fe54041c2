/**
 * The event bus: synchronous, in order, with per-subscriber filters. A subscriber that throws is logged
 * and never stops delivery to the others; an unsubscribed listener receives nothing more.
 */
import type {EventFilter, EventInput, LcEvent} from '../model/events.js';
import {matchPattern} from '../model/url.js';

type Listener = (event: LcEvent) => void;

interface Subscription {
  filter: EventFilter;
  listener: Listener;
  active: boolean;
}

export function matches(filter: EventFilter, event: LcEvent): boolean {
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.nodes && !filter.nodes.includes(event.nodeId)) return false;
  if (filter.urls && 'url' in event) return filter.urls.some((p) => matchPattern(p, event.url));
  return true;
}

export class EventBus {
  private subs: Subscription[] = [];
  private seq = 0;

  constructor(private readonly onListenerError: (error: unknown) => void = (e) => console.error(e)) {}

  subscribe(filter: EventFilter, listener: Listener): () => void {
    const sub = {filter, listener, active: true};
    this.subs = [...this.subs, sub];
    return () => {
      sub.active = false;
      this.subs = this.subs.filter((s) => s !== sub);
    };
  }

  emit(input: EventInput): LcEvent {
    const event = input as LcEvent; // callers pass a fresh object: stamp it rather than copy it
    event.seq = ++this.seq;
    event.time = Date.now();
    for (const sub of this.subs) {
      if (!sub.active || !matches(sub.filter, event)) continue;
      try {
        sub.listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
    return event;
  }

  get lastSeq(): number {
    return this.seq;
  }
}
