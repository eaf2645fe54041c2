/**
 * `@layercake/sdk`: the plugin contract (module, mutation and extension types), the define helpers, zod,
 * and the helpers the core and the plugins share. Plugins import from this package's entry points only,
 * never from layercake's internals; no core file imports the sdk (it sits on top of every layer,
 * docs/architecture.md). The other entry points: `@layercake/sdk/cli` (commands) and
 * `@layercake/sdk/embed` (running daemons in-process).
 */
export * from '../model/plugin-kit.js';
export type * from '../model/contract.js';
export type {ModulesHookOptions} from '../model/modules-hook.js';
export type {EventFilter, LcEvent, StateChangeEvent, MutationEvent, DiscoveryEvent, LogEvent} from '../model/events.js';
export type {Node, NodeView, JsonValue, JsonObject, PhysState, RunState, Busy, ServiceState} from '../model/node.js';
export type {Ipv4} from '../model/ipv4.js';
export type {ErrorCode, ErrorSpec} from '../model/errors.js';
export type {Requeue, HandlerResult} from '../model/handler-result.js';
export {busyOf, busyValues, describeBusy, type BusyInfo} from '../model/busy.js';
export {exchange, type ExchangeOptions, type Reply} from '../api/client/http.js';
