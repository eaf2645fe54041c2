import type {z} from '@layercake/sdk';

/**
 * An error with its HTTP status: 400 bad request (with the field at fault), 404 not found, 409 conflict
 * (exists differently, in use, busy), 501 not available on this node, 500 operation failed.
 */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): {code: number; message: string; field?: string} {
    return {code: this.status, message: this.message, ...(this.field ? {field: this.field} : {})};
  }
}

export const badRequest = (field: string, message: string) => new ApiError(400, `${field}: ${message}`, field);
export const notFound = (message: string) => new ApiError(404, message);
export const conflict = (message: string, field?: string) => new ApiError(409, message, field);
export const notAvailable = (message: string) => new ApiError(501, message);
export const failed = (message: string) => new ApiError(500, message);

type Issue = z.core.$ZodIssue;

/** The deepest issue (unions report their branches' issues nested): the one that names the field best. */
function deepest(issue: Issue, base: PropertyKey[] = []): {path: PropertyKey[]; issue: Issue} {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length) {
    let best: {path: PropertyKey[]; issue: Issue} | undefined;
    for (const branch of issue.errors) {
      for (const inner of branch) {
        const candidate = deepest(inner, path);
        if (!best || candidate.path.length > best.path.length) best = candidate;
      }
    }
    if (best) return best;
  }
  return {path, issue};
}

/** `mount.overlay.lower[0].attach.fs_type` from a zod path. */
export function fieldName(path: PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** A zod failure as a 400 naming the field at fault. */
export function fromZod(error: z.ZodError, prefix = ''): ApiError {
  const {path, issue} = deepest(error.issues[0]);
  let field = fieldName(path) || prefix || 'body';
  if (prefix && path.length) field = `${prefix}.${field}`;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    field = field === 'body' ? issue.keys[0] : `${field}.${issue.keys[0]}`;
    message = `unknown field (known fields are listed in /openapi.json)`;
  }
  return badRequest(field, message);
}
