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

// ---- Layer0 (plugins/layer0: `layercake layer0 build`); rows in docs/errors.md ----
export const LAYER0_ERRORS = {
  /** An input of the build is not installed (the message names it and its Debian package). */
  INPUT_MISSING: 'LC_ERR_LAYER0_INPUT_MISSING',
  /** A step of the build failed (bundling, depmod, cpio, zstd, an unknown --modules name). */
  BUILD: 'LC_ERR_LAYER0_BUILD',
  /** --authorized-keys (or ~/.ssh) holds something that is not an OpenSSH public key. */
  KEYS: 'LC_ERR_LAYER0_KEYS',
} as const;
