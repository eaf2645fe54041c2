/**
 * The module configuration (`modules.ipmi` in the daemon config file). Mutation timeouts are not
 * here: the daemon's own per-module settings set them (`modules.ipmi.mutations.OFFtoON.timeout: 30s`).
 */
import {durationSchema, z} from '@layercake/sdk';
import {DRIVERS} from './extension.js';

export const ipmiConfigSchema = z.object({
  /** The driver for nodes that do not name one: the TypeScript RMCP+ client, or ipmitool. */
  driver: z.literal(DRIVERS).default('native'),
  /** How many BMC requests may be in flight at once, over all BMCs (mutations, polling, commands). */
  concurrency: z.number().int().min(1).max(10_000).default(50),
  /** How long to wait for each answer from a BMC before asking again. */
  attemptTimeout: durationSchema('1s'),
  /** How many times a request is sent again after the first try. */
  retries: z.number().int().min(0).max(10).default(2),
  /** After a power command, how often to read the power state until it shows the new state. */
  verifyInterval: durationSchema('500ms'),
  /**
   * How long the chassis may take to show the new power state after a command before the mutation
   * fails with that reason. Keep it below the mutation's timeout (10 s by default; the engine's
   * `modules.ipmi.mutations.<name>.timeout` setting changes it) or the timeout's reason wins.
   */
  settleTimeout: durationSchema('8s'),
  /** How often to read every node's power state, to notice changes made behind the engine's back; 0 disables. */
  pollInterval: durationSchema('30s'),
  /** Circuit breaker: after `failures` failed requests in a row a BMC is not asked for `cooldown`. */
  breaker: z.object({
    failures: z.number().int().min(1).default(3),
    cooldown: durationSchema('30s'),
  }).prefault({}),
  /** Native driver: how long an unused session is kept open for reuse; 0 opens a session per request. */
  sessionIdle: durationSchema('20s'),
  /** The ipmitool driver's program. */
  ipmitool: z.string().default('ipmitool'),
});

export type IpmiConfig = z.infer<typeof ipmiConfigSchema>;
export type IpmiConfigInput = z.input<typeof ipmiConfigSchema>;
