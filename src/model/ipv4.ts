/** The core `ipv4` extension: a node's provisioning interface (read by pxe, sync and the templates). */
import {z} from 'zod';
import type {ExtensionSpec} from './contract.js';

/** A dotted-quad IPv4 address (each part 0-255). */
export const ipv4Address = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'expected an IPv4 address such as 10.0.0.5');
const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i, 'expected a MAC address such as 52:54:00:12:34:56')
  .transform((m) => m.toLowerCase());

/** The one schema of the extension (plugins that need more of it narrow it, e.g. pxe: `.required({mac: true, ip: true})`). */
export const ipv4Schema = z.object({
  iface: z.string().default('eth0'),
  mac: mac.optional(),
  ip: ipv4Address.optional(),
  prefix: z.number().int().min(0).max(32).default(24),
  gateway: ipv4Address.optional(),
  dns: z.array(ipv4Address).default([]),
  domain: z.string().optional(),
}).strict();

export type Ipv4 = z.output<typeof ipv4Schema>;

export const ipv4Extension: ExtensionSpec = {
  name: 'ipv4',
  description: 'The provisioning interface: name, MAC and static IPv4 settings',
  schema: ipv4Schema,
};
