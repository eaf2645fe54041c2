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

// ---- Layer0 (plugins/layer0: `layercake layer0 build`); rows in docs/errors.md ----
export const LAYER0_ERRORS = {
  /** An input of the build is not installed (the message names it and its Debian package). */
  INPUT_MISSING: 'LC_ERR_LAYER0_INPUT_MISSING',
  /** A step of the build failed (bundling, depmod, cpio, zstd, an unknown --modules name). */
  BUILD: 'LC_ERR_LAYER0_BUILD',
  /** --authorized-keys (or ~/.ssh) holds something that is not an OpenSSH public key. */
  KEYS: 'LC_ERR_LAYER0_KEYS',
} as const;
