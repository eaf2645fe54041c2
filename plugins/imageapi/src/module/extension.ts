/**
 * The `imageset` extension: the images a node runs on top of Layer0 (cfg: what the operator wants), and
 * per image what is true (dsc: state, last error, retries, the container). The engine-visible enum is
 * `imageset.state`; the per-image detail is for people (`layercake image status`) and for the module.
 */
import {defineExtension, z} from '@layercake/sdk';

/** The set state, in the original's order: the set is as bad as its worst image. */
export const IMAGESET_STATES = ['UNKNOWN', 'IDLE', 'ACTIVE', 'UPDATE', 'ERROR', 'FATAL'] as const;
export type ImageSetState = (typeof IMAGESET_STATES)[number];

export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** A catalogue reference: NAME:VERSION (both letters, digits, ".", "-", "_"). */
export const CATALOGUE_REF = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}:[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const absolute = z.string().min(1).refine((p) => p.startsWith('/'), 'must be an absolute path');

/** Where an image comes from. */
export const imageSource = z.object({
  kind: z.enum(['file', 'block', 'dir', 'nfs', 'rbd', 'iscsi', 'http']).describe('file: an image file on a loop device; block: a local block device; dir: a directory (bind mount); nfs: an export; rbd, iscsi: network block devices; http: an image of the parent\'s catalogue, fetched into RAM and checksummed'),
  path: z.string().min(1).optional().describe('file, block, dir: the path on the node; nfs: the export'),
  fsType: z.string().regex(/^[a-z0-9._-]+$/).default('squashfs').describe('file, block, rbd, iscsi: the file system in it'),
  options: z.array(z.string().regex(/^[^,\s]+$/)).default([]).describe('extra mount options'),
  host: z.string().min(1).optional().describe('nfs, iscsi: the server'),
  nfsVersion: z.enum(['3', '4', '4.0', '4.1', '4.2']).optional(),
  monitors: z.array(z.string().min(1)).optional().describe('rbd: monitor addresses'),
  pool: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
  snapshot: z.string().min(1).optional(),
  user: z.string().min(1).optional().describe('rbd: the cephx user (default admin)'),
  secret: z.string().min(1).optional().describe('rbd: the cephx key (a secret: never returned by the API)'),
  keyfile: z.string().min(1).optional().describe('rbd: a key file on the node, instead of secret'),
  target: z.string().min(1).optional().describe('iscsi: the target IQN'),
  port: z.number().int().min(1).max(65535).optional(),
  lun: z.number().int().min(0).optional(),
  url: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL').optional().describe('http: where the image is served'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional().describe('http: the image\'s SHA-256 (checked before it is attached)'),
  size: z.number().int().positive().optional().describe('http: the image\'s size in bytes (checked against the node\'s free RAM before fetching)'),
  ref: z.string().regex(CATALOGUE_REF, 'a catalogue reference NAME:VERSION').optional().describe('http: the catalogue entry it was resolved from (for people; the node uses url, sha256 and size)'),
}).strict().superRefine((s, ctx) => {
  const need = (field: keyof typeof s, why: string) => {
    if (s[field] === undefined) ctx.addIssue({code: 'custom', path: [field], message: `is required for a ${s.kind} source (${why})`});
  };
  if (s.kind === 'file' || s.kind === 'block' || s.kind === 'dir') {
    need('path', 'the path on the node');
    if (s.path !== undefined && !s.path.startsWith('/')) ctx.addIssue({code: 'custom', path: ['path'], message: 'must be an absolute path'});
  }
  if (s.kind === 'nfs') {
    need('host', 'the NFS server');
    need('path', 'the export');
  }
  if (s.kind === 'rbd') {
    need('monitors', 'the ceph monitors');
    need('pool', 'the pool');
    need('image', 'the image');
    if (s.secret === undefined && s.keyfile === undefined) ctx.addIssue({code: 'custom', path: ['secret'], message: 'give the cephx key (secret) or a keyfile on the node'});
  }
  if (s.kind === 'iscsi') {
    need('host', 'the portal');
    need('target', 'the target IQN');
  }
  if (s.kind === 'http') {
    need('url', 'where the image is served');
    need('sha256', 'the checksum the fetched image must have');
    need('size', 'the image size in bytes');
  }
});

/** How the image is mounted: by default read-only under a RAM overlay, so the image itself never changes. */
export const imageMount = z.object({
  overlay: z.boolean().default(true).describe('a writable overlay on top of the (read-only) image'),
  upper: z.enum(['tmpfs', 'dir']).default('tmpfs').describe('tmpfs: changes live in RAM and go with the container; dir: they are kept in upperPath'),
  upperPath: absolute.optional(),
  size: z.string().regex(/^\d+[kmgKMG%]?$/).optional().describe('the tmpfs size, e.g. 512m'),
}).strict().superRefine((m, ctx) => {
  if (m.upper === 'dir' && !m.upperPath) ctx.addIssue({code: 'custom', path: ['upperPath'], message: 'is required with upper "dir"'});
});

export const imageContainer = z.object({
  command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('the init: a command line or an argument list (e.g. /sbin/init)'),
  systemd: z.boolean().default(false),
  state: z.enum(['running', 'exited']).default('running').describe('running: keep it running; exited: keep the image defined but stopped'),
  hostname: z.string().min(1).max(64).optional().describe('its host name (default: the image name)'),
}).strict();

/** The per-image state; dsc only (cfg leaves it at its zero). */
export const IMAGE_STATES = IMAGESET_STATES;

export const image = z.object({
  source: imageSource,
  mount: imageMount.default({overlay: true, upper: 'tmpfs'}),
  container: imageContainer,
  // ---- dsc: what is true ----
  state: z.enum(IMAGE_STATES).default('UNKNOWN'),
  lastError: z.string().default(''),
  retries: z.number().int().min(0).default(0),
  /** The ImageAPI container (0: none) and its state there (''/created/running/stopping/exited/dead). */
  containerId: z.number().int().min(0).default(0),
  containerState: z.string().default(''),
  /** A digest of the spec that runs now (compare with the cfg's to see a pending roll). */
  applied: z.string().default(''),
  since: z.string().default('').describe('when the image entered its state (ISO 8601)'),
}).strict();

export type Image = z.output<typeof image>;
export type ImageSpec = Pick<Image, 'source' | 'mount' | 'container'>;

export const imagesetExtension = defineExtension({
  name: 'imageset',
  description: 'Layer1 images run as containers on the node (cfg: what should run; dsc: what runs, with per-image state and last error)',
  schema: z.object({
    state: z.enum(IMAGESET_STATES).default('UNKNOWN').describe('IDLE: nothing of ours running; ACTIVE: every image as configured; UPDATE: a roll is pending; ERROR: an image failed (retried); FATAL: gave up'),
    images: z.record(z.string().regex(IMAGE_NAME, 'an image name: letters, digits, ".", "-", "_"'), image).default({}),
  }).strict(),
  secrets: ['/images/*/source/secret'],
});
