/**
 * The `ipmi` node extension: how to reach a node's BMC. Settings here are literals, not z.enum:
 * z.enum fields of an extension are the engine's state enumerables, and these are plain settings.
 */
import {defineExtension, z} from '@layercake/sdk';

export const DRIVERS = ['native', 'ipmitool'] as const;
export type DriverName = (typeof DRIVERS)[number];
export const BOOT_DEVICES = ['none', 'pxe', 'disk', 'cdrom', 'bios'] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];

/** Strict: a misspelt key (`pasword`) is an error naming the key it resembles, never silently dropped. */
export const ipmiNodeSchema = z.strictObject({
  /** BMC address: an IP address or a host name. */
  host: z.string().max(253).default(''),
  port: z.number().int().min(1).max(65535).default(623),
  /** IPMI user names are at most 16 bytes. */
  username: z.string().max(16).default(''),
  /** IPMI v2.0 passwords are at most 20 bytes. A secret: never returned by the API, logged or synced. */
  password: z.string().max(20).default(''),
  /**
   * A file holding the password (first line), on the host of the daemon that manages the node;
   * used when `password` is empty. Relative paths are relative to `<stateDir>/ipmi`.
   */
  passwordFile: z.string().default(''),
  /** Only IPMI v2.0 / RMCP+ is spoken (ipmitool's "lanplus"). */
  interface: z.literal(['lanplus']).default('lanplus'),
  /** 3 = RAKP-HMAC-SHA1, HMAC-SHA1-96 integrity, AES-CBC-128 confidentiality; 1 and 2 are weaker subsets. */
  cipherSuite: z.literal([1, 2, 3]).default(3),
  /** The session privilege; power control needs OPERATOR or ADMINISTRATOR. */
  privilege: z.literal(['USER', 'OPERATOR', 'ADMINISTRATOR']).default('ADMINISTRATOR'),
  /** Boot device set (for the next boot only) before every power-on; 'none' leaves the BMC's setting alone. */
  bootdev: z.literal(BOOT_DEVICES).default('none'),
  /** Ask for a UEFI boot (else legacy BIOS) when setting the boot device. */
  efiBoot: z.boolean().default(false),
  /** Use this driver for this node instead of the module's `driver`. */
  driver: z.literal(DRIVERS).optional(),
  /**
   * Allow power-off while the node is SYNC or BUSY (mutation ONtoOFFforced). Without it the engine
   * will not power off a running or busy node: the operator must first bring it down.
   */
  force: z.boolean().default(false),
});

export type IpmiNode = z.infer<typeof ipmiNodeSchema>;

export const ipmiExtension = defineExtension({
  name: 'ipmi',
  description: 'How to reach the node\'s BMC over IPMI v2.0 (RMCP+)',
  schema: ipmiNodeSchema,
  secrets: ['/password'],
});
