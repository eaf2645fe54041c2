/**
 * SSH key pairs for `layercake exec` and Layer0's sshd (the head's key). ssh2 is loaded on first use: this
 * module is part of `@layercake/sdk/cli`, whose importers mostly never make a key (ssh2 adds ~20 ms to a
 * command's start).
 */
import {createRequire} from 'node:module';

const ssh2 = (): typeof import('ssh2') => createRequire(import.meta.url)('ssh2');

/**
 * A new ed25519 key pair in OpenSSH's formats (private key, `authorized_keys` line). ssh2 1.17's
 * generator writes a malformed pair about once in 300 (a public key whose first byte is zero loses it:
 * 31 bytes, which ssh2, OpenSSH and dropbear all refuse), so a pair is kept only once it parses back.
 */
export function newEd25519KeyPair(comment?: string): {private: string; public: string} {
  const {utils} = ssh2();
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', comment === undefined ? {} : {comment});
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return {private: pair.private, public: pair.public.trim()};
  }
  throw new Error('could not generate a well-formed ed25519 key pair in 20 attempts');
}
