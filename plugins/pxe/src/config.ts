/**
 * The pxe module's configuration (daemon config file, `modules.pxe`). Every field has a default, so an
 * empty section serves DHCP on :67, TFTP on :69 and HTTP on :8069 from `<stateDir>/pxe/tftp`.
 */
import {z} from '@layercake/sdk';

const ipv4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'expected an IPv4 address');
const port = z.number().int().min(0).max(65535);

/** Boot files for the firmware PXE clients, by client architecture (DHCP option 93). */
const bootFiles = z.object({
  /** Legacy BIOS PXE (arch 0). */
  bios: z.string().min(1),
  /** UEFI x86-64 (arch 7 and 9) and IA32 (6). */
  uefi: z.string().min(1),
  /** UEFI ARM64 (arch 11). */
  arm64: z.string().min(1),
});

export const pxeConfigSchema = z.object({
  /**
   * The interface to serve (a multi-homed head node serves one interface). Its first IPv4 address is the
   * server address unless `serverIp` is set. Empty: the server address comes from `serverIp`, else from
   * this daemon's own `ipv4` extension.
   */
  interface: z.string().default(''),
  /** The address clients reach the servers at: DHCP server id, next-server, TFTP/HTTP host, ParentIP. */
  serverIp: z.union([z.literal(''), ipv4]).default(''),
  /** Address the sockets bind to. '' binds DHCP to 0.0.0.0 (needed to hear broadcasts) and TFTP/HTTP to 0.0.0.0. */
  bindAddress: z.union([z.literal(''), ipv4]).default(''),
  /** `server`: we assign the node's address. `proxy`: another DHCP server owns addresses; we add only the boot information. */
  mode: z.enum(['server', 'proxy']).default('server'),
  dhcp: z.object({
    enabled: z.boolean().default(true),
    port: port.default(67),
    /** Where replies to clients without a relay go (68 on a real network). */
    clientPort: port.default(68),
    /** proxyDHCP boot-server port (PXE clients send their boot REQUEST here). 0 disables it. */
    proxyPort: port.default(4011),
    /** Lease time in seconds: long enough to cover the download of the largest image. */
    leaseTime: z.number().int().min(60).default(86_400),
    /**
     * Where a reply to a relay agent (giaddr set) goes: 0 means the source port of the relayed request
     * (67 for a real relay; the loopback port of a simulated one).
     */
    relayReplyPort: port.default(0),
    /** Broadcast address used for replies to clients that have no address yet. */
    broadcastAddress: ipv4.default('255.255.255.255'),
  }).prefault({}),
  tftp: z.object({
    enabled: z.boolean().default(true),
    port: port.default(69),
    /** TFTP root; '' means `<stateDir>/pxe/tftp`. Files are served from `<root>/<arch>/<platform>/<file>`. */
    root: z.string().default(''),
    /** First retransmission timeout (ms) unless the client negotiates `timeout`; doubled on every retry. */
    retransmitMs: z.number().int().min(10).default(1000),
    /** Retransmissions of one window before the transfer is abandoned. */
    retries: z.number().int().min(1).default(6),
    /** Largest block size we accept (RFC 2348 allows 65464; keep under the path MTU unless clients know better). */
    maxBlksize: z.number().int().min(8).max(65464).default(65464),
    /** Largest window we accept (RFC 7440). */
    maxWindowsize: z.number().int().min(1).max(65535).default(64),
    /** Bytes of file content kept in memory across transfers (boot storms read the same kernel/initrd). */
    cacheBytes: z.number().int().min(0).default(512 * 1024 * 1024),
    /**
     * Microseconds a lockstep transfer busy-polls for the next ACK before its thread sleeps, only while
     * fewer transfers run than there are CPUs, and adaptively (0: never). Saves a wake-up per block.
     */
    busyPollUs: z.number().int().min(0).max(1000).default(50),
  }).prefault({}),
  http: z.object({
    enabled: z.boolean().default(true),
    port: port.default(8069),
    /** The Layer1 image catalogue served at /images/<sha256>.squashfs to the nodes ('' = `<stateDir>/images`). */
    imagesDir: z.string().default(''),
  }).prefault({}),
  /** Boot file handed out per boot method and client architecture. */
  bootFiles: z.object({
    pxe: bootFiles.default({bios: 'pxelinux.0', uefi: 'syslinux.efi', arm64: 'grubaa64.efi'}),
    ipxe: bootFiles.default({bios: 'undionly.kpxe', uefi: 'ipxe.efi', arm64: 'ipxe-arm64.efi'}),
    /** The per-node iPXE script (rendered from `<name>.tpl`) given to iPXE clients over HTTP (or TFTP if HTTP is off). */
    ipxeScript: z.string().min(1).default('boot.ipxe'),
    /** UEFI HTTP boot (method `http`): the file handed to HTTPClient firmware. */
    httpBoot: z.string().min(1).default('ipxe.efi'),
  }).prefault({}),
  /** The parent URL templates expose as ParentURL (e.g. the sync endpoint); '' means `http://<ParentIP>:3141`. */
  parentUrl: z.string().default(''),
});

export type PxeConfig = z.infer<typeof pxeConfigSchema>;

/** Parses a possibly partial config (fills every default). */
export function pxeConfig(input: unknown = {}): PxeConfig {
  return pxeConfigSchema.parse(input ?? {});
}
