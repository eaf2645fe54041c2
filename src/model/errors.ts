/**
 * Errors that reach an operator: one line naming what was wrong and where, and what to do next.
 *
 * ERRORS is the one catalogue of every code the API and the CLI produce (plugins' included): its HTTP
 * status (for codes the API answers with), the CLI's exit code, what it means and what to do next.
 * docs/errors.md is generated from it (`node scripts/errors-doc.js`; a test checks they agree).
 * Codes are `LC_ERR_<AREA>_<WHAT>` and never change once published: scripts match on them.
 */
export interface ErrorSpec {
  /** The HTTP status of an API answer with this code (absent: the CLI alone produces it). */
  status?: number;
  /** The CLI's exit code: 2 bad input (usage, syntax, validation), 130 interrupted, 1 anything else. */
  exit: 1 | 2 | 130;
  /** One line: what happened. */
  meaning: string;
  /** What to do next (the CLI's default "Try this:" line). */
  next: string;
}

const nothingChanged = 'nothing was changed';

export const ERRORS = {
  // Requests and input (API and CLI)
  LC_ERR_INPUT_INVALID: {status: 400, exit: 2, meaning: 'a body, query or value does not validate (unknown field or extension, wrong enum, bad type)', next: `fix the input and try again; ${nothingChanged} (layercake extensions lists the fields and enum values)`},
  LC_ERR_NODE_UNKNOWN: {status: 404, exit: 1, meaning: 'no such node (every unknown name of the request is listed)', next: 'list the nodes with `layercake node list`'},
  LC_ERR_NODE_CONFLICT: {status: 409, exit: 1, meaning: 'a duplicate id or nodename, or deleting the daemon\'s own node', next: `${nothingChanged}; ids and nodenames must be unique (layercake node list shows the nodes there are)`},
  LC_ERR_CFG_UNREACHABLE: {status: 409, exit: 2, meaning: 'a cfg the engine can never converge to (e.g. runState SYNC with physState POWER_OFF)', next: `${nothingChanged}; set values that can hold together (the message names them), e.g. physState=POWER_OFF runState=UNKNOWN`},
  // The API itself
  LC_ERR_API_BAD_JSON: {status: 400, exit: 2, meaning: 'the request body is not valid JSON', next: 'send a JSON body (see docs/api.md for the request shapes)'},
  LC_ERR_API_NO_ROUTE: {status: 404, exit: 1, meaning: 'no such API route', next: 'see docs/api.md for the routes (client and daemon versions may differ)'},
  LC_ERR_API_UNAUTHORIZED: {status: 401, exit: 1, meaning: 'a change without the API token, or with a wrong one', next: 'pass the daemon\'s token with --token or LAYERCAKE_TOKEN (it is in <stateDir>/token), or use the local socket'},
  LC_ERR_API_FOREIGN_ORIGIN: {status: 403, exit: 1, meaning: 'a request from a web page of another origin (cross-site)', next: 'call the API from the CLI or a script, not from a web page of another site (docs/api.md, "Cross-site requests")'},
  LC_ERR_API_BAD_HOST: {status: 403, exit: 1, meaning: 'a Host header that names neither this machine nor a configured name (DNS rebinding)', next: 'reach a loopback API as localhost, 127.0.0.1 or [::1], or add the name to api.allowedHosts'},
  LC_ERR_API_SOCKET_IN_USE: {exit: 1, meaning: 'the API\'s Unix socket path is taken by a live daemon or by a file that is not a socket', next: 'stop the other daemon, remove the file, or set api.socket to another path (`none` disables the socket)'},
  LC_ERR_API_TOO_LARGE: {status: 413, exit: 2, meaning: 'a body, node or field over its documented size limit (the message names the limit)', next: `${nothingChanged}; send less, or raise the limit (api.bodyLimit, api.maxNodeBytes) in the daemon's config`},
  LC_ERR_API_TOO_DEEP: {status: 400, exit: 2, meaning: 'a body nested deeper than the documented depth', next: `${nothingChanged}; flatten the value (see docs/api.md for the limits)`},
  LC_ERR_API_MEDIA_TYPE: {status: 415, exit: 2, meaning: 'a change whose body is not application/json', next: 'send Content-Type: application/json'},
  LC_ERR_API_UNREACHABLE: {exit: 1, meaning: 'the CLI cannot reach the daemon', next: 'start one with `layercake daemon` (or `npm start` for the demo cluster), or point --url / LAYERCAKE_URL at a running daemon'},
  LC_ERR_INTERNAL: {status: 500, exit: 1, meaning: 'a bug: something failed that has no code of its own', next: 'run again with DEBUG=* for details; the daemon log has the daemon\'s side'},
  // The store
  LC_ERR_STORE_FULL: {status: 507, exit: 1, meaning: 'the state directory\'s disk is full: the write was refused and nothing was changed', next: 'free space on the state directory\'s file system, then retry; reads keep working'},
  LC_ERR_STORE_IO: {status: 500, exit: 1, meaning: 'a file of the store or the state dir could not be read or written (the file and errno are named); nothing was changed', next: 'check the file system and the permissions of the file named (docs/store.md, "Troubleshooting")'},
  LC_ERR_STATE_DIR: {exit: 1, meaning: 'the state dir, or its id or token file, cannot be used as it is (the message names the file)', next: 'do as the message says: the fix depends on the file (docs/store.md lists what each holds)'},
  LC_ERR_STORE_DAMAGED: {exit: 1, meaning: 'the store is damaged (the message names the file and the offset); the daemon refuses to start', next: 'run `layercake store check` to see what is wrong, then restore from `layercake store backup` (docs/store.md)'},
  LC_ERR_STORE_NOT_EMPTY: {exit: 1, meaning: '`store restore` into a state dir that holds a store or another daemon\'s id', next: 'stop the daemon and pass --force (the old store is moved aside), or restore into an empty state dir'},
  LC_ERR_FILE_EXISTS: {exit: 1, meaning: 'the file to write exists (e.g. `store backup FILE`)', next: 'name another file, or pass --force to overwrite it'},
  LC_ERR_DISK_FULL: {status: 507, exit: 1, meaning: 'a file could not be written: no space left on its device (ENOSPC)', next: 'free space on the file system the message names, then retry'},
  // Configuration
  LC_ERR_CONFIG_MISSING: {exit: 1, meaning: 'the named config file does not exist', next: 'check the --config path or LAYERCAKE_CONFIG, or run `layercake init` to write one'},
  LC_ERR_CONFIG_PARSE: {exit: 1, meaning: 'the config file is not valid YAML or JSON', next: 'fix the file\'s syntax (YAML or JSON)'},
  LC_ERR_CONFIG_INVALID: {exit: 2, meaning: 'a config setting has a wrong value (the message names it)', next: 'see docs/cli.md for the settings (layercake daemon --print-config shows the effective ones)'},
  LC_ERR_CONFIG_URL: {exit: 2, meaning: '--url (or LAYERCAKE_URL, or the config\'s url) is not an API address', next: 'give --url as http://HOST:PORT, HOST:PORT or unix:/path/to/api.sock'},
  LC_ERR_SYNC_CONFIG: {exit: 2, meaning: 'a sync setting has a wrong value (intervals, retries, addresses; the message names it)', next: 'fix the sync.* setting in the config file (docs/sync-protocol.md lists them and their bounds)'},
  LC_ERR_PLUGIN_CONFLICT: {exit: 1, meaning: 'two plugins contribute a module of the same name', next: 'uninstall one of them (layercake plugins)'},
  LC_ERR_INIT_EXISTS: {exit: 1, meaning: '`layercake init` would overwrite files that exist', next: 'pass --force to overwrite, or --dir to write elsewhere'},
  // Listening (daemon, demo)
  LC_ERR_LISTEN_EADDRINUSE: {exit: 1, meaning: 'the address to listen on is in use', next: 'another process (another daemon or demo?) listens there: stop it, or choose another --listen HOST:PORT (127.0.0.1:0 picks a free port)'},
  LC_ERR_LISTEN_EACCES: {exit: 1, meaning: 'no permission to listen on that port', next: 'ports below 1024 need root (or CAP_NET_BIND_SERVICE); choose another port or run as root'},
  LC_ERR_LISTEN_EADDRNOTAVAIL: {exit: 1, meaning: 'the address to listen on is not on this machine', next: 'choose one of this machine\'s addresses (or 0.0.0.0) for --listen'},
  // The command line
  LC_ERR_USAGE: {exit: 2, meaning: 'a command used wrongly (bad flag value, missing argument, conflicting flags)', next: 'see `layercake COMMAND --help` for the arguments, flags and examples'},
  LC_ERR_UNKNOWN_COMMAND: {exit: 2, meaning: 'no such command', next: 'see `layercake --help` for the commands (a plugin\'s commands need the plugin installed)'},
  LC_ERR_UNKNOWN_FLAG: {exit: 2, meaning: 'a flag (or an extra argument) the command does not take', next: 'see `layercake COMMAND --help` for its flags'},
  LC_ERR_CONFIRM: {exit: 2, meaning: 'a dangerous action (power off, reboot, delete) was refused off a terminal without confirmation', next: 'pass --yes to confirm when not on a terminal'},
  LC_ERR_CANCELLED: {exit: 1, meaning: 'the operator answered no', next: nothingChanged},
  LC_ERR_INTERRUPTED: {exit: 130, meaning: 'the operator pressed Ctrl-C at a prompt', next: nothingChanged},
  LC_ERR_INPUT: {exit: 2, meaning: '-f - reads stdin, but stdin is a terminal', next: 'pipe a file in (cat cluster.yaml | layercake apply -f -) or give a path'},
  LC_ERR_INPUT_READ: {exit: 2, meaning: 'the input file cannot be read', next: 'check the path (or use -f - to read stdin)'},
  LC_ERR_INPUT_SYNTAX: {exit: 2, meaning: 'the input file is not valid YAML or JSON', next: `fix the file; ${nothingChanged}`},
  LC_ERR_INPUT_EMPTY: {exit: 2, meaning: 'the input file holds no nodes', next: 'write a list of nodes, e.g. "- nodename: n01"'},
  LC_ERR_INPUT_SHAPE: {exit: 2, meaning: 'the input is not a list of nodes (or holds more nodes than the command takes)', next: 'write a list of nodes, e.g. "- nodename: n01" (or {nodes: [...]})'},
  LC_ERR_INPUT_DUPLICATE: {exit: 2, meaning: 'the input names the same node (id or nodename) twice', next: `keep one entry per node; ${nothingChanged}`},
  LC_ERR_ASSIGNMENT: {exit: 2, meaning: 'a URL=value (or URL:=json) assignment that does not parse', next: 'write URL=value (a string) or URL:=json, e.g. physState=POWER_ON or ipv4.prefix:=24'},
  LC_ERR_HOSTLIST: {exit: 2, meaning: 'a node set (hostlist) that does not parse', next: 'write node sets like n[01-16],gpu[1-4] (ranges and lists inside brackets)'},
  LC_ERR_TARGETS: {exit: 2, meaning: 'no nodes to act on, or both NODES and --all', next: 'name the nodes (a hostlist such as n[01-04],gpu1, or ids) or pass --all'},
  // Convergence
  LC_ERR_NOT_CONVERGED: {exit: 1, meaning: 'nodes did not reach their cfg before --wait gave up, or the engine gave up on them', next: 'layercake node why NODE explains each one'},
  LC_ERR_POWER_CYCLE: {exit: 1, meaning: 'a power cycle did not complete (a node did not power off)', next: 'see layercake node why NODE; the nodes are left with cfg physState POWER_OFF'},
  LC_ERR_EXEC_NOWHERE: {exit: 1, meaning: '`exec` ran the command on no node (none answered, or none had an agent)', next: 'check the nodes are up (layercake node list) and their agent runs (layercake node why NODE)'},
  // Plugins
  LC_ERR_IMAGE_UNKNOWN: {exit: 2, meaning: '`image roll` names an image that does not exist where the node can get it', next: `${nothingChanged}; check the image's name and source (layercake image status NODES shows what the nodes have)`},
  LC_ERR_IMAGE_NOT_IN_CATALOGUE: {exit: 2, meaning: 'a NAME:VERSION names no image of the parent\'s catalogue (image roll, image rm)', next: `${nothingChanged}; \`layercake image list\` lists the images, \`layercake image build\` adds one`},
  LC_ERR_IMAGE_EXISTS: {exit: 2, meaning: '`image build` names a NAME:VERSION the catalogue has already', next: `${nothingChanged}; pick another version, or give --force to replace it`},
  LC_ERR_IMAGE_SOURCE: {exit: 2, meaning: '`image build` cannot read its source: not a directory, a tarball, an OCI image layout or a docker-archive, or it does not exist', next: `${nothingChanged}; give a directory, a .tar[.gz|.xz|.zst], an OCI layout directory (with oci-layout) or a docker save archive`},
  LC_ERR_IMAGE_BUILD: {exit: 1, meaning: '`image build` failed in a tool (tar, umoci, skopeo, mksquashfs) or the kernel modules are missing', next: `${nothingChanged} in the catalogue; the message names the tool and its error (install squashfs-tools, umoci, skopeo; --no-modules skips the modules)`},
  LC_ERR_IMAGE_IN_USE: {exit: 1, meaning: '`image rm` names an image that nodes\' cfg still uses', next: `${nothingChanged}; roll those nodes to another image first, or give --force`},
  LC_ERR_IMAGE_SERVER: {exit: 2, meaning: 'the URL nodes fetch catalogue images from is unknown (no pxe server address)', next: 'set modules.pxe.serverIp (or modules.pxe.interface) in the config file, or give --image-server http://HOST:PORT'},
  LC_ERR_ROLL_FAILED: {exit: 1, meaning: 'a batch of a staged `image roll` failed, or could not start within --timeout (too many nodes out of service): the roll stopped', next: 'fix the cause the message names (layercake image status NODES, layercake node why NODE), then `layercake image roll --resume`'},
  LC_ERR_ROLL_NONE: {exit: 2, meaning: '`image roll --resume` or `--abandon` with no unfinished staged roll', next: `${nothingChanged}; start a staged roll with \`layercake image roll NODES --image NAME=SPEC --batch N\``},
  LC_ERR_ROLL_UNFINISHED: {exit: 2, meaning: 'a new staged roll while the last one is unfinished (one staged roll at a time)', next: `${nothingChanged}; \`layercake image roll --resume\` continues the last roll, \`--abandon\` forgets it`},
  LC_ERR_IPMI_HOST: {exit: 2, meaning: 'a BMC host name that does not resolve (ipmi.host)', next: 'give the BMC\'s IP address or a name this machine resolves (check /etc/hosts or DNS): layercake node set NODE ipmi.host=ADDRESS'},
  LC_ERR_LAYER0_INPUT_MISSING: {exit: 1, meaning: 'an input of `layer0 build` is not installed (the message names it and its Debian package)', next: 'install the Debian packages the message names (`layercake layer0 build --check` lists every input)'},
  LC_ERR_LAYER0_BUILD: {exit: 1, meaning: 'a step of `layer0 build` failed (bundling, depmod, cpio, zstd, an unknown --modules name)', next: 'read the step\'s error above; docs/layer0.md, "Building", says what each step needs'},
  LC_ERR_LAYER0_KEYS: {exit: 2, meaning: '--authorized-keys (or ~/.ssh) holds something that is not an OpenSSH public key', next: 'give --authorized-keys a file of OpenSSH public keys (one per line, e.g. ~/.ssh/id_ed25519.pub)'},
  LC_ERR_VM_UNAVAILABLE: {exit: 1, meaning: '`demo --vms` cannot run VMs here (not root, or qemu-system-x86, openipmi, ipmitool or ipxe-qemu missing: the message names them)', next: 'run as root and install the Debian packages the message names (docs/vms.md)'},
  LC_ERR_VM_LAB: {exit: 1, meaning: 'the VM lab failed to start or run (a BMC, qemu, the namespace or the daemon: the message says which)', next: 'read the message and the VM\'s console log (layercake console NODE); docs/vms.md, "Troubleshooting"'},
  LC_ERR_VM_NO_DEMO: {exit: 1, meaning: '`console` found no running VM demo, or no VM of that name in it', next: 'start one with `sudo layercake demo --vms 2`; `layercake node list` names its nodes'},
  LC_ERR_PXE_NODE: {exit: 1, meaning: 'the node lacks what a PXE boot needs (its ipv4 extension)', next: 'set the node\'s ipv4 extension: layercake node set NODE ipv4.mac=... ipv4.ip=...'},
  LC_ERR_PXE_FILE: {exit: 1, meaning: 'a boot file the PXE template names is missing or unreadable', next: 'check the pxe plugin\'s bootroot (docs/pxe.md)'},
  LC_ERR_PXE_TEMPLATE: {exit: 1, meaning: 'the iPXE template does not render', next: 'fix the template (docs/pxe.md lists the variables)'},
} as const satisfies Record<`LC_ERR_${string}`, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function errorSpec(code: string): ErrorSpec | undefined {
  return (ERRORS as Record<string, ErrorSpec>)[code];
}

export interface ErrorDetail {
  node?: string;
  url?: string;
  value?: unknown;
  expected?: string;
  hint?: string;
}

export class LayercakeError extends Error {
  readonly status: number;

  constructor(message: string, readonly code: ErrorCode, readonly detail: ErrorDetail = {}) {
    super(message);
    this.name = new.target.name;
    this.status = (ERRORS[code] as ErrorSpec).status ?? 500;
  }

  toJSON() {
    return {code: this.code, message: this.message, ...this.detail};
  }
}

export class ValidationError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'LC_ERR_INPUT_INVALID', detail);
  }
}

export class NotFoundError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'LC_ERR_NODE_UNKNOWN', detail);
  }
}

export class ConflictError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'LC_ERR_NODE_CONFLICT', detail);
  }
}

/** `node n01: /physState: expected one of POWER_OFF, POWER_ON, got "ON"` */
export function describe(where: {node?: string; url?: string}, problem: string): string {
  return [where.node && `node ${where.node}`, where.url, problem].filter(Boolean).join(': ');
}

// ---- the state store and the state dir (issue 14, points 1-3; docs/store.md) ----

const SEE_STORE_DOC = 'docs/store.md, "Troubleshooting"';

/** A write the disk had no room for (ENOSPC, EDQUOT): nothing changed, reads keep working. HTTP 507. */
export class StoreFullError extends LayercakeError {
  constructor(readonly file: string, errno: string) {
    super(`the state store is out of disk space (${errno} writing ${file}): the write was refused and nothing was changed`, 'LC_ERR_STORE_FULL', {
      hint: `free space on the file system that holds ${file} (df -h ${file}), then retry; reads keep working meanwhile`,
    });
  }
}

/** Any other failure to read or write a file of the store or the state dir. */
export class StoreIoError extends LayercakeError {
  constructor(readonly file: string, message: string, hint = `check the file system and the permissions of ${file} (${SEE_STORE_DOC})`) {
    super(message, 'LC_ERR_STORE_IO', {hint});
  }
}

/** A store file whose bytes are not what was written: the daemon refuses to start rather than lose or invent data. */
export class StoreDamagedError extends LayercakeError {
  /** stateDir: the state dir the file belongs to, named in the commands of the hint (none for a backup file). */
  constructor(readonly file: string, readonly offset: number, readonly problem: string, stateDir = 'DIR') {
    super(`the state store is damaged: ${file} at byte ${offset}: ${problem}`, 'LC_ERR_STORE_DAMAGED', {
      hint: `nothing was changed; \`layercake store check --state-dir ${stateDir}\` reports the damage; restore a backup with \`layercake store restore BACKUP --state-dir ${stateDir} --force\` (${SEE_STORE_DOC})`,
    });
  }
}

/** A file of the state dir (the dir itself, `id`, `token`) that cannot be used as it is. */
export class StateDirError extends LayercakeError {
  constructor(message: string, hint: string) {
    super(message, 'LC_ERR_STATE_DIR', {hint});
  }
}

/** The error for a failed file operation of the store: disk full is its own error, anything else names the file and errno. */
export function storeIoError(cause: unknown, file: string, action: string): LayercakeError {
  if (cause instanceof LayercakeError) return cause;
  const errno = (cause as NodeJS.ErrnoException)?.code ?? 'EIO';
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return new StoreFullError(file, errno);
  if (errno === 'EEXIST' || errno === 'ENOTDIR') return new StateDirError(`${file} is not a directory (or a path leading to it is a file): cannot ${action}`, `move the file aside or choose another --state-dir`);
  return new StoreIoError(file, `cannot ${action} ${file}: ${errno}: ${(cause as Error)?.message ?? String(cause)}`);
}

// ---- the API's gate (docs/api.md, "Limits") ----

/** A body, node or field over its documented size (HTTP 413). */
export class TooLargeError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'LC_ERR_API_TOO_LARGE', detail);
  }
}
