/**
 * The core `power` extension: the cfg values `power off` set aside. Values that cannot hold while a node
 * is off (runState SYNC, imageset.state ACTIVE, ...: the engine's knowability rule) are reset to their
 * zero when it is powered off, so the cfg stays reachable; their previous values are kept here, in the
 * stored cfg (so they survive a daemon restart), and `power on` puts them back and removes the extension.
 */
import {z} from 'zod';
import type {ExtensionSpec} from './contract.js';

export const powerExtension: ExtensionSpec = {
  name: 'power',
  description: 'Set by power off: the cfg values it reset (URL → value), which power on puts back',
  schema: z.object({
    resume: z.record(z.string().startsWith('/'), z.string()).default({}),
  }).strict(),
};

export interface PowerExtension {
  resume: Record<string, string>;
}
