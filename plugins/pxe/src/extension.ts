/**
 * The `pxe` extension (per node) and the shape of the core `ipv4` extension this plugin reads.
 */
import {defineExtension, ipv4Schema as coreIpv4Schema, z} from '@layercake/sdk';

export const PXE_STATES = ['NONE', 'WAIT', 'INIT'] as const;
export const BOOT_METHODS = ['pxe', 'ipxe', 'http'] as const;

/** What the DHCP server last did for a node (discovered, shown by `layercake pxe leases`). */
export const leaseSchema = z.strictObject({
  ip: z.string(),
  mac: z.string(),
  /** OFFER, ACK, NAK, DECLINE, RELEASE, INFORM, PROXY (proxyDHCP answer). */
  event: z.string(),
  /** Milliseconds since the epoch. */
  time: z.number(),
  /** The boot file handed out ('' for none). */
  bootfile: z.string(),
  /** Client architecture (option 93) and class: e.g. 'bios', 'uefi', 'arm64'; 'ipxe' when the client is iPXE. */
  client: z.string(),
  /** Lease expiry (ms since the epoch; 0 for none). */
  expires: z.number(),
  /** The relay agent the request came through ('' when direct). */
  relay: z.string(),
});

export type Lease = z.infer<typeof leaseSchema>;

export const pxeExtensionSchema = z.strictObject({
  /** NONE: not booting; WAIT: registered with the servers, waiting for the node's DHCP; INIT: the node got its lease. */
  state: z.enum(PXE_STATES).default('NONE'),
  /** pxe: firmware PXE + pxelinux over TFTP; ipxe: chain to iPXE, then the per-node script over HTTP; http: UEFI HTTP boot. */
  method: z.enum(BOOT_METHODS).default('ipxe'),
  /** Overrides the boot file handed to this node's firmware (a name under its TFTP directory, or a URL). */
  bootfile: z.string().optional(),
  /** Overrides the iPXE script name for this node. */
  script: z.string().optional(),
  /** Extra template variables for this node (`{{.Name}}` in its templates). */
  vars: z.record(z.string(), z.string()).optional(),
  /** The last DHCP exchange with the node (discovered; ignored in cfg). */
  lease: leaseSchema.optional(),
});

export type PxeExtension = z.infer<typeof pxeExtensionSchema>;

export const pxeExtension = defineExtension({
  name: 'pxe',
  description: 'Network boot: boot state, boot method and per-node boot overrides',
  schema: pxeExtensionSchema,
});

/**
 * The core `ipv4` extension (registered by the core, read here): its one schema, narrowed to what a
 * network boot needs (a MAC and an address), so a missing or malformed value gives a clear error.
 */
export const ipv4Schema = coreIpv4Schema.required({mac: true, ip: true});

export type Ipv4 = z.output<typeof ipv4Schema>;
