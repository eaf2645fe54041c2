/**
 * What a plugin may use at run time besides the contract's types: the define helpers, zod, and the one
 * copy of each helper the core and the plugins share. It is the root entry point `@layercake/sdk`, and the
 * `sdk` the `layercake:modules` hook hands a plain JavaScript plugin (modules-hook.ts). It lives on the
 * ground floor so that the daemon can hand it over without importing the sdk package, which sits on top.
 */
export {z} from 'zod';
export {defineModule, defineExtension} from './contract.js';
export {PHYS_STATES, RUN_STATES, BUSY_STATES, SERVICE_STATES} from './node.js';
export {parseDuration, formatDuration} from './duration.js';
export {durationSchema} from './duration-schema.js';
export {canonical, canonicalDigest} from './canonical.js';
export {ipv4Schema, ipv4Address} from './ipv4.js';
// What a mutation handler may answer besides done and failed (docs/plugin-authoring.md, "Handlers").
export {requeue, requeueAfter, TerminalError, isRequeue, isTerminal} from './handler-result.js';
export {ERRORS, errorSpec} from './errors.js';
