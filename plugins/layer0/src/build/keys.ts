/**
 * The head's SSH key, which Layer0's sshd (port 2022) accepts for root: the operator's own key pair
 * (~/.ssh/id_ed25519, id_ecdsa, id_rsa: the ones `layercake exec` offers by default), generated as
 * ~/.ssh/id_ed25519 when there is none. Only public keys go into the config initrd.
 */
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {homedir, hostname, userInfo} from 'node:os';
import {join} from 'node:path';
import {newEd25519KeyPair} from '@layercake/sdk/cli';

export const KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export interface HeadKeys {
  /** authorized_keys text: one public key per line. */
  authorizedKeys: string;
  /** The files the keys came from. */
  sources: string[];
  /** The private key file made by this call, if none existed. */
  generated?: string;
}

/** Checks each line is an OpenSSH public key ("type base64 [comment]"): a private key here would leak. */
export function parseAuthorizedKeys(text: string, source: string): string[] {
  const keys: string[] = [];
  text.split('\n').forEach((line, i) => {
    const l = line.trim();
    if (!l || l.startsWith('#')) return;
    if (!/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+)\s+[A-Za-z0-9+/=]+(\s.*)?$/.test(l)) {
      throw new Error(`${source} line ${i + 1} is not an OpenSSH public key (expected "ssh-ed25519 AAAA... comment")`);
    }
    keys.push(l);
  });
  return keys;
}

/**
 * The keys to authorize: from `file` if given (an authorized_keys file or a .pub), else the head's
 * key pairs in `home`/.ssh, generating an ed25519 pair there if it has none.
 */
export function headKeys(opts: {file?: string; home?: string} = {}): HeadKeys {
  if (opts.file) {
    let text: string;
    try { text = readFileSync(opts.file, 'utf8'); } catch (error) {
      throw new Error(`cannot read the authorized keys file ${opts.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const keys = parseAuthorizedKeys(text, opts.file);
    if (!keys.length) throw new Error(`${opts.file} holds no public key`);
    return {authorizedKeys: keys.join('\n') + '\n', sources: [opts.file]};
  }
  const dir = join(opts.home ?? homedir(), '.ssh');
  const found = KEY_NAMES.map((n) => join(dir, `${n}.pub`)).filter((p) => existsSync(p));
  if (found.length) {
    const keys = found.flatMap((p) => parseAuthorizedKeys(readFileSync(p, 'utf8'), p));
    return {authorizedKeys: keys.join('\n') + '\n', sources: found};
  }
  const key = join(dir, 'id_ed25519');
  if (existsSync(key)) throw new Error(`${key} exists but ${key}.pub does not: recreate it (ssh-keygen -y -f ${key} > ${key}.pub) or give --authorized-keys`);
  const pair = newEd25519KeyPair(`${userInfo().username}@${hostname()} (layercake)`);
  mkdirSync(dir, {recursive: true, mode: 0o700});
  writeFileSync(key, pair.private, {mode: 0o600, flag: 'wx'});
  writeFileSync(`${key}.pub`, pair.public + '\n', {mode: 0o644, flag: 'wx'});
  return {authorizedKeys: pair.public + '\n', sources: [`${key}.pub`], generated: key};
}
