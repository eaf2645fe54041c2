/**
 * The API's local channel: a Unix socket whose file permissions are the access control (the Docker
 * convention). The daemon creates it 0660, owned by the operators' group `layercake` when that group
 * exists; who can open the file may change state without a token. See docs/api.md, "Who may change state".
 */
import {chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync} from 'node:fs';
import {connect, type Server} from 'node:net';
import {dirname, join} from 'node:path';
import {API_TRUST_CODES} from '../model/errors.js';

/** The group whose members may use the local socket and read the token file. */
export const OPERATORS_GROUP = 'layercake';

/**
 * Where the socket is when no one says otherwise: LAYERCAKE_SOCKET, else `/run/layercake/api.sock` for
 * root, else `$XDG_RUNTIME_DIR/layercake/api.sock` (undefined when a non-root user has no runtime dir).
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string | undefined {
  if (env.LAYERCAKE_SOCKET) return env.LAYERCAKE_SOCKET;
  if (uid === 0) return '/run/layercake/api.sock';
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'layercake', 'api.sock') : undefined;
}

/** The gid of a group named in /etc/group, or undefined. */
export function groupId(name = OPERATORS_GROUP): number | undefined {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [group, , gid] = line.split(':');
      if (group === name && /^\d+$/.test(gid ?? '')) return Number(gid);
    }
  } catch {
    // No /etc/group: no operators' group.
  }
  return undefined;
}

/**
 * Give a file to the operators' group (when it exists) with `mode`. Returns a warning when the group
 * exists but this user may not hand the file to it (a non-root daemon outside the group).
 */
export function shareWithOperators(path: string, mode: number): string | undefined {
  const gid = groupId();
  let warning: string | undefined;
  if (gid !== undefined) {
    try {
      chownSync(path, -1, gid);
    } catch (error) {
      warning = `cannot give ${path} to group ${OPERATORS_GROUP}: ${(error as NodeJS.ErrnoException).code}`;
    }
  }
  chmodSync(path, mode);
  return warning;
}

/** Whether a daemon answers on the socket at `path` (a connection succeeds). */
export function socketLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Make `path` free for a new socket: a socket file no one answers on (a daemon that died) is removed; a
 * live one, or a file that is not a socket, is an error naming it.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    mkdirSync(dirname(path), {recursive: true, mode: 0o755});
    return;
  }
  if (!stat.isSocket()) throw Object.assign(new Error(`${path} exists and is not a socket: remove it, or set api.socket to another path (or none)`), {code: API_TRUST_CODES.socketInUse});
  if (await socketLive(path)) throw Object.assign(new Error(`another daemon listens on ${path}: stop it, or set api.socket to another path (or none)`), {code: API_TRUST_CODES.socketInUse});
  unlinkSync(path);
}

/** Listen on `path` (claimed first), the socket made 0660 for the operators' group. */
export async function listenOnSocket(server: Server, path: string): Promise<string | undefined> {
  await claimSocketPath(path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return shareWithOperators(path, 0o660);
}
