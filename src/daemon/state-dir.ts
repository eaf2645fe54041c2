/**
 * The state dir's own small files (`id`, `token`), checked at every start: a damaged one is a clear error
 * naming the file, never a silently new identity or an empty token. docs/store.md lists what each holds.
 */
import {readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {StateDirError, storeIoError} from '../model/errors.js';

interface StateFile {
  name: 'id' | 'token';
  /** Why the value matters, and what deleting the file does. */
  fix: string;
  /** A problem with a value read, or undefined when it is fine. */
  check(value: string): string | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const ID_FILE: StateFile = {
  name: 'id',
  fix: 'write this daemon\'s node id (a UUID) back into it, or delete it to start as a new daemon with a new id (the old own node then stays an ordinary node)',
  check: (value) => (UUID.test(value) ? undefined : 'does not hold a UUID'),
};

export const TOKEN_FILE: StateFile = {
  name: 'token',
  fix: 'delete it to have a new API token made at the next start (clients then need the new one), or write a token of at least 16 characters into it',
  check: (value) => (value.length >= 16 ? undefined : `holds ${value.length} characters, fewer than the 16 a token needs`),
};

/** The value of a state file, or undefined when there is none; a file that is there but unusable is an error. */
export function readStateFile(stateDir: string, file: StateFile): string | undefined {
  const path = join(stateDir, file.name);
  let value: string;
  try {
    value = readFileSync(path, 'utf8').trim();
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') return undefined;
    throw new StateDirError(`cannot read the ${file.name} file ${path}: ${errno ?? (error as Error).message}`, `make it a readable file for the daemon's user, or ${file.fix}`);
  }
  const problem = value === '' ? 'is empty' : file.check(value);
  if (problem) throw new StateDirError(`the ${file.name} file ${path} ${problem}`, file.fix);
  return value;
}

/** Creates a state file (mode 0600) with a new value, and returns the value. */
export function createStateFile(stateDir: string, file: StateFile, value: string): string {
  try {
    writeFileSync(join(stateDir, file.name), value + '\n', {mode: 0o600, flag: 'wx'});
  } catch (error) {
    throw storeIoError(error, join(stateDir, file.name), 'create');
  }
  return value;
}
