/**
 * The ImageAPI models (request bodies and responses). Field names follow the original ImageAPI 0.2.0
 * (snake_case: device_file, fs_type, mount_options) so its documented examples still read right.
 *
 * A nested attachment or mount is either a reference to an existing object (`{"id": 3}`) or a full spec
 * (created on demand, owned by its parent and collected with it). Read-only fields (id, refs, device_file,
 * mountpoint, logfile, ...) are accepted in a body and ignored, so a GET result can be posted back.
 */
import {z} from '@layercake/sdk';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const ATTACH_KINDS = ['loopback', 'local', 'rbd', 'iscsi', 'http'] as const;
export const MOUNT_KINDS = ['attach', 'bind', 'nfs', 'overlay'] as const;
export const CONTAINER_STATES = ['created', 'running', 'stopping', 'exited', 'dead'] as const;
export type AttachKind = (typeof ATTACH_KINDS)[number];
export type MountKind = (typeof MOUNT_KINDS)[number];
export type ContainerState = (typeof CONTAINER_STATES)[number];

const id = z.number().int().positive();
const absolute = z.string().min(1).refine((p) => p.startsWith('/'), 'must be an absolute path');
const relativeOrAbsolute = z.string().min(1).refine((p) => !p.split('/').includes('..'), 'must not contain ".."');
const mountOption = z.string().min(1).regex(/^[^,\s]+$/, 'one option per entry, without commas or spaces');
const readOnly = {id: id.optional(), refs: z.number().optional(), users: z.array(z.string()).optional()};

// ---- attachments ----

export const attachLoopback = z.object({
  get mount() {
    return mountRef.optional().describe('with base "mount": the mount the file is in (a reference or a spec)');
  },
  path: relativeOrAbsolute.describe('the image file; absolute with base "root", relative to the mount with base "mount"'),
  base: z.enum(['root', 'mount']).default('root'),
  read_only: z.boolean().default(true),
}).strict();

export const attachLocal = z.object({path: absolute.describe('a block device')}).strict();

export const rbdOptions = z.object({
  name: z.string().min(1).default('admin').describe('the cephx user (client.<name>)'),
  secret: z.string().min(1).optional().describe('the cephx key; write-only: never returned or stored'),
  keyfile: absolute.optional().describe('a file on this node holding the cephx key (instead of secret)'),
  namespace: z.string().min(1).optional(),
  ro: z.boolean().default(true),
  exclusive: z.boolean().optional(),
  lock_on_read: z.boolean().optional(),
  notrim: z.boolean().optional(),
  queue_depth: z.number().int().positive().optional(),
  alloc_size: z.number().int().positive().optional(),
}).strict();

export const attachRbd = z.object({
  monitors: z.array(z.string().min(1)).min(1).describe('monitor addresses (host or host:port)'),
  pool: z.string().min(1),
  image: z.string().min(1),
  snapshot: z.string().min(1).optional(),
  device_id: z.number().optional(),
  options: rbdOptions.default({name: 'admin', ro: true}),
}).strict();

export const attachIscsi = z.object({
  target: z.string().min(1).describe('the target IQN'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(3260),
  lun: z.number().int().min(0).max(16383).default(0),
  initiator: z.string().min(1).optional().describe('the initiator IQN (default: the node\'s /etc/iscsi/initiatorname.iscsi)'),
}).strict();

/** An image fetched over HTTP into RAM, checked against its sha256, then attached read-only on a loop device. */
export const attachHttp = z.object({
  url: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL').describe('where the image is served (the parent\'s pxe HTTP server: /images/<sha256>.squashfs)'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').describe('the image\'s SHA-256, checked before anything is attached'),
  size: z.number().int().positive().describe('the image\'s size in bytes, checked against the node\'s MemAvailable before fetching'),
}).strict();

export const attach = z.object({
  ...readOnly,
  kind: z.enum(ATTACH_KINDS).optional(),
  device_file: z.string().optional(),
  loopback: attachLoopback.optional(),
  local: attachLocal.optional(),
  rbd: attachRbd.optional(),
  iscsi: attachIscsi.optional(),
  http: attachHttp.optional(),
}).strict().describe('An attachment: a block device made available on this node');

// ---- mounts ----

export const mountAttach = z.object({
  get attach() {
    return attachRef.describe('the attachment to mount (a reference or a spec)');
  },
  fs_type: z.string().min(1).regex(/^[a-z0-9._-]+$/, 'a file system type such as squashfs, ext4, xfs'),
  mount_options: z.array(mountOption).default([]),
}).strict();

export const mountBind = z.object({
  get mount() {
    return mountRef.optional().describe('with base "mount": the mount the path is in');
  },
  path: relativeOrAbsolute,
  base: z.enum(['root', 'mount']).default('root'),
  recursive: z.boolean().default(false),
  ro: z.boolean().default(false),
}).strict();

export const mountNfs = z.object({
  host: z.string().min(1),
  path: absolute.describe('the export'),
  ro: z.boolean().default(false),
  version: z.enum(['3', '4', '4.0', '4.1', '4.2']).default('4.2'),
  options: z.array(mountOption).default([]),
}).strict();

export const overlayUpper = z.object({
  kind: z.enum(['tmpfs', 'dir']).default('tmpfs').describe('tmpfs: a fresh RAM layer per mount, gone with it; dir: a directory that keeps the changes'),
  size: z.string().regex(/^\d+[kmgKMG%]?$/, 'a tmpfs size such as 512m or 50%').optional(),
  path: absolute.optional().describe('with kind "dir": the directory holding upper/ and work/'),
}).strict();

export const mountOverlay = z.object({
  get lower() {
    return z.array(mountRef).min(1).describe('the lower layers, uppermost first');
  },
  upper: overlayUpper.default({kind: 'tmpfs'}),
  upperdir: z.string().optional(),
  workdir: z.string().optional(),
}).strict();

export const mount = z.object({
  ...readOnly,
  kind: z.enum(MOUNT_KINDS).optional(),
  mountpoint: z.string().optional(),
  attach: mountAttach.optional(),
  bind: mountBind.optional(),
  nfs: mountNfs.optional(),
  overlay: mountOverlay.optional(),
}).strict().describe('A mount: a file system mounted under the service\'s mounts directory');

/** A nested mount: a reference (`{id}`) or a spec. */
export const mountRef = mount;
/** A nested attachment: a reference (`{id}`) or a spec. */
export const attachRef = attach;

// ---- containers ----

export const exitStatus = z.object({
  code: z.number().nullable(),
  signal: z.string().nullable(),
  at: z.string(),
  note: z.string().optional(),
});

export const container = z.object({
  ...readOnly,
  name: z.string().regex(NAME_PATTERN, 'letters, digits, ".", "-" and "_" (up to 63, starting with a letter or digit)'),
  get mount() {
    return mountRef.describe('the root file system of the container (a reference or a spec)');
  },
  command: z.union([z.string().min(1), z.array(z.string()).min(1)]).describe('the init: a command line (split like a shell, no expansion) or an argument list'),
  systemd: z.boolean().default(false).describe('the init is systemd: extra tmpfs mounts, and stop sends SIGRTMIN+3 instead of SIGKILL'),
  state: z.enum(CONTAINER_STATES).default('created').describe('at creation: created (default) or running'),
  hostname: z.string().regex(HOSTNAME, 'a host name').optional().describe('its own host name (default: its name)'),
  annotations: z.record(z.string().min(1).max(128), z.string().max(1024)).default({}).describe('free-form labels, returned as given'),
  logfile: z.string().optional(),
  pid: z.number().optional(),
  init_pid: z.number().optional(),
  started_at: z.string().optional(),
  exit: exitStatus.nullable().optional(),
}).strict().describe('A container: an init run in its own mount, PID, IPC and UTS namespaces, chrooted into a mount');

export type AttachInput = z.input<typeof attach>;
export type AttachBody = z.output<typeof attach>;
export type MountBody = z.output<typeof mount>;
export type ContainerBody = z.output<typeof container>;
export type ContainerInput = z.input<typeof container>;
export type RbdOptions = z.output<typeof rbdOptions>;

// ---- queries ----

const boolParam = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])]).transform((v) => v === true || v === 'true' || v === '1' || v === '');
const idParam = z.coerce.number().int().positive();

export const attachQuery = z.object({id: idParam.optional(), kind: z.enum(ATTACH_KINDS).optional()}).strict();
export const mountQuery = z.object({id: idParam.optional(), kind: z.enum(MOUNT_KINDS).optional()}).strict();
export const containerQuery = z.object({id: idParam.optional(), name: z.string().regex(NAME_PATTERN).optional(), state: z.enum(CONTAINER_STATES).optional()}).strict();
export const deleteQuery = z.object({id: idParam, force: boolParam.default(false)}).strict();
export const containerCreateQuery = z.object({replace: boolParam.default(false)}).strict();
export const containerDeleteQuery = z.object({id: idParam.optional(), name: z.string().regex(NAME_PATTERN).optional(), force: boolParam.default(false)}).strict();
export const containerPatchQuery = z.object({
  id: idParam.optional(),
  name: z.string().regex(NAME_PATTERN).optional(),
  state: z.enum(['running', 'exited', 'paused']),
}).strict();
export const logQuery = z.object({id: idParam.optional(), name: z.string().regex(NAME_PATTERN).optional(), tail: z.coerce.number().int().min(1).max(100_000).default(100)}).strict();
export const watchQuery = z.object({since: z.coerce.number().int().min(0).default(0), timeout: z.coerce.number().int().min(0).max(120_000).default(25_000)}).strict();

// ---- responses ----

export interface ApiAttach {
  id: number;
  kind: AttachKind;
  device_file: string;
  refs: number;
  users: string[];
  loopback?: Record<string, unknown>;
  local?: Record<string, unknown>;
  rbd?: Record<string, unknown>;
  iscsi?: Record<string, unknown>;
}

export interface ApiMount {
  id: number;
  kind: MountKind;
  mountpoint: string;
  refs: number;
  users: string[];
  attach?: Record<string, unknown>;
  bind?: Record<string, unknown>;
  nfs?: Record<string, unknown>;
  overlay?: Record<string, unknown>;
}

export interface ApiExit {
  code: number | null;
  signal: string | null;
  at: string;
  note?: string;
}

export interface ApiContainer {
  id: number;
  name: string;
  state: ContainerState;
  command: string[];
  systemd: boolean;
  hostname: string;
  annotations: Record<string, string>;
  mount: ApiMount;
  logfile: string;
  pid: number | null;
  init_pid: number | null;
  started_at: string | null;
  exit: ApiExit | null;
  /** Why the container is dead, when the service knows more than the exit status. */
  error?: string;
}

export interface ApiInfo {
  version: string;
  api: string;
  simulate: boolean;
  state_dir: string;
  generation: number;
  drivers: Record<string, {available: boolean; reason?: string}>;
}
