/**
 * Secrets (the fields extensions list in `secrets`, e.g. BMC passwords) never leave the daemon through
 * the API: nodes, diffs, history entries and events all pass through here.
 */
import type {LcEvent} from '../../model/events.js';
import type {JsonValue, Node} from '../../model/node.js';
import type {Registry} from '../../model/registry.js';
import {getAt, setAt, toPointer} from '../../model/url.js';

export const SECRET = '(secret)';

/** Every secret's full pointer, e.g. `/extensions/ipmi/password`. */
export function secretPointers(registry: Registry): string[] {
  return registry.extensions().flatMap((e) => e.secrets.map((s) => `/extensions/${e.name}${toPointer(s.startsWith('/') ? s : `/${s}`)}`));
}

/** A value at `url` with any secret at or below it replaced. */
export function redactValue(secrets: readonly string[], url: string, value: JsonValue | undefined, registry: Registry): JsonValue | undefined {
  if (value === undefined || secrets.length === 0) return value;
  if (url === '' && value && typeof value === 'object' && !Array.isArray(value)) return registry.redact(value as unknown as Node) as unknown as JsonValue;
  if (secrets.some((s) => url === s || url.startsWith(s + '/'))) return SECRET;
  const inside = secrets.filter((s) => s.startsWith(url + '/'));
  if (inside.length === 0 || typeof value !== 'object' || value === null) return value;
  const copy = structuredClone(value) as Record<string, unknown>;
  for (const s of inside) {
    const rest = s.slice(url.length);
    if (getAt(copy, rest) !== undefined) setAt(copy, rest, SECRET);
  }
  return copy as JsonValue;
}

export class Redactor {
  private secrets: string[];

  constructor(private readonly registry: Registry) {
    this.secrets = secretPointers(registry);
  }

  node(node: Node): Node {
    return this.secrets.length ? this.registry.redact(node) : node;
  }

  change<T extends {url: string; value?: JsonValue; previous?: JsonValue}>(change: T): T {
    if (!this.secrets.length) return change;
    return {...change, value: redactValue(this.secrets, change.url, change.value, this.registry), previous: redactValue(this.secrets, change.url, change.previous, this.registry)};
  }

  /**
   * For writes: a secret sent back as the "(secret)" placeholder (a node read from the API and written
   * again, e.g. `node list --type cfg --json` applied back) keeps the stored value instead of replacing it.
   */
  restore(input: unknown, existing: Node | undefined): unknown {
    if (!this.secrets.length || !input || typeof input !== 'object' || Array.isArray(input)) return input;
    let copy: Record<string, unknown> | undefined;
    for (const pointer of this.secrets) {
      if (getAt(input, pointer) !== SECRET) continue;
      copy ??= structuredClone(input) as Record<string, unknown>;
      setAt(copy, pointer, existing ? getAt(existing, pointer) : undefined);
    }
    return copy ?? input;
  }

  /** Whether `pointer` is a secret (for URL assignments). */
  isSecret(pointer: string): boolean {
    return this.secrets.includes(pointer);
  }

  event(event: LcEvent): LcEvent {
    if (!this.secrets.length || !('url' in event)) return event;
    if (event.type === 'DISCOVERY') return {...event, value: redactValue(this.secrets, event.url, event.value, this.registry) as JsonValue};
    return this.change(event);
  }
}
