/**
 * The core module `busy`: a node's busy flag, as the original's `freebusy`. A scheduler's prolog marks
 * the node BUSY (`layercake busy` on the node), its epilog FREE (`layercake free`); while BUSY the image
 * set's mutations (rolls) and power-off wait (their `excludes`). The module declares /busy discoverable,
 * so that those excludes test what the node reports (dsc), and the `busy` extension: why, since when and
 * until when. A BUSY that carries an `until` (`layercake busy --for 8h`) is set FREE by the parent once
 * that time has passed: a prolog whose epilog never runs (the node lost the job, slurmd died) does not
 * hold the node forever. See docs/layer1.md, "Busy and free".
 */
import {z} from 'zod';
import {defineExtension, defineModule, type ModuleContext, type ModuleSpec} from '../model/contract.js';
import {busyOf, busyValues} from '../model/busy.js';

const busyExtension = defineExtension({
  name: 'busy',
  description: 'Why the node is BUSY (set on the node by `layercake busy`): the reason, since when, and until when (ISO times; empty: no expiry)',
  schema: z.strictObject({
    reason: z.string().max(200, 'a busy reason is at most 200 characters').default(''),
    since: z.string().default(''),
    until: z.string().default(''),
  }),
});

/** Sets FREE every BUSY node whose `until` has passed; re-arms one timer for the next expiry. */
function expireBusy(ctx: ModuleContext): void {
  let timer: NodeJS.Timeout | undefined;
  const sweep = () => {
    clearTimeout(timer);
    const now = Date.now();
    let next = Infinity;
    for (const view of ctx.nodes.list()) {
      const info = busyOf(view);
      const until = info.busy && info.until ? Date.parse(info.until) : NaN;
      if (Number.isNaN(until)) continue;
      if (until > now) next = Math.min(next, until);
      else {
        ctx.log.warn({node: view.cfg.nodename || view.cfg.id}, `BUSY since ${info.since}${info.reason ? ` (${info.reason})` : ''} expired at ${info.until}: the node is FREE again (no \`layercake free\` came)`);
        try {
          for (const [url, value] of Object.entries(busyValues(false))) ctx.discover(view.cfg.id, url, value);
        } catch (error) {
          ctx.fail(error as Error); // a bug: the module restarts, and sweeps again
          return;
        }
      }
    }
    // setTimeout takes at most 2^31-1 ms (about 24.8 days); a later expiry is checked again then.
    if (next !== Infinity) timer = setTimeout(sweep, Math.min(next - now, 2 ** 31 - 1));
  };
  const off = ctx.subscribe({types: ['STATE_CHANGE']}, (e) => {
    if (e.type === 'STATE_CHANGE' && e.view === 'dsc' && (e.url === '/busy' || e.url?.startsWith('/extensions/busy') || e.op === 'CREATE')) sweep();
  });
  ctx.signal.addEventListener('abort', () => {
    clearTimeout(timer);
    off();
  });
  sweep();
}

export const busyModule: ModuleSpec = defineModule({
  name: 'busy',
  description: 'A node\'s busy flag (layercake busy|free on the node): BUSY holds image rolls and power-off; a BUSY with an expiry turns FREE when it passes',
  extensions: [busyExtension],
  discoverables: ['/busy', '/extensions/busy/reason', '/extensions/busy/since', '/extensions/busy/until'],
  start(ctx) {
    expireBusy(ctx);
  },
}) as ModuleSpec;
