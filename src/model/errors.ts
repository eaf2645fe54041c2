/** Errors that reach an operator: one line naming what was wrong and where, and what to do next. */
export interface ErrorDetail {
  node?: string;
  url?: string;
  value?: unknown;
  expected?: string;
  hint?: string;
}

export class LayercakeError extends Error {
  constructor(message: string, readonly code: string, readonly status: number, readonly detail: ErrorDetail = {}) {
    super(message);
    this.name = new.target.name;
  }

  toJSON() {
    return {code: this.code, message: this.message, ...this.detail};
  }
}

export class ValidationError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'INVALID', 400, detail);
  }
}

export class NotFoundError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'NOT_FOUND', 404, detail);
  }
}

export class ConflictError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'CONFLICT', 409, detail);
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
    super(`the state store is out of disk space (${errno} writing ${file}): the write was refused and nothing was changed`, 'LC_ERR_STORE_FULL', 507, {
      hint: `free space on the file system that holds ${file} (df -h ${file}), then retry; reads keep working meanwhile`,
    });
  }
}

/** Any other failure to read or write a file of the store or the state dir. */
export class StoreIoError extends LayercakeError {
  constructor(readonly file: string, message: string, hint = `check the file system and the permissions of ${file} (${SEE_STORE_DOC})`) {
    super(message, 'LC_ERR_STORE_IO', 500, {hint});
  }
}

/** A store file whose bytes are not what was written: the daemon refuses to start rather than lose or invent data. */
export class StoreDamagedError extends LayercakeError {
  /** stateDir: the state dir the file belongs to, named in the commands of the hint (none for a backup file). */
  constructor(readonly file: string, readonly offset: number, readonly problem: string, stateDir = 'DIR') {
    super(`the state store is damaged: ${file} at byte ${offset}: ${problem}`, 'LC_ERR_STORE_DAMAGED', 500, {
      hint: `nothing was changed; \`layercake store check --state-dir ${stateDir}\` reports the damage; restore a backup with \`layercake store restore BACKUP --state-dir ${stateDir} --force\` (${SEE_STORE_DOC})`,
    });
  }
}

/** A file of the state dir (the dir itself, `id`, `token`) that cannot be used as it is. */
export class StateDirError extends LayercakeError {
  constructor(message: string, hint: string) {
    super(message, 'LC_ERR_STATE_DIR', 500, {hint});
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

// ---- API trust (issue 14, points 4-8): codes of the API's gate; the integrator folds them into the catalogue ----

/** A body, node or field over its documented size (HTTP 413). */
export class TooLargeError extends LayercakeError {
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message, 'LC_ERR_API_TOO_LARGE', 413, detail);
  }
}

export const API_TRUST_CODES = {
  /** The API's Unix socket path is taken by a live daemon or by a file that is not a socket. */
  socketInUse: 'LC_ERR_API_SOCKET_IN_USE',
  /** A request from a web page of another origin (403). */
  foreignOrigin: 'LC_ERR_API_FOREIGN_ORIGIN',
  /** A Host header that names neither this machine nor a configured name (403: DNS rebinding). */
  badHost: 'LC_ERR_API_BAD_HOST',
  /** A change sent without Content-Type: application/json (415). */
  mediaType: 'LC_ERR_API_MEDIA_TYPE',
  /** JSON nested deeper than the API accepts (400). */
  tooDeep: 'LC_ERR_API_TOO_DEEP',
} as const;
