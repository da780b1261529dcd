import { timingSafeEqual } from 'node:crypto'
import type { ClientAuthMethod } from './auth-method.js'
import { md5PasswordHash } from './md5-auth.js'
import { sha256 } from './scram-syntax.js'
import { deriveScramKeys } from './scram-verifier.js'

/**
 * Checks a password sent in clear (CQL's SASL PLAIN, inside the client's connection) against a configured
 * user: recomputes StoredKey from a SCRAM verifier, or the md5 hash. Trust accepts any password (the caller
 * checks loopback). PBKDF2 runs once per log-in, as PostgreSQL's own password check does.
 */
export function verifyPlainPassword(method: ClientAuthMethod, user: string, password: string): boolean {
  switch (method.method) {
    case 'trust':
      return true
    case 'scram-sha-256': {
      const { verifier } = method
      const keys = deriveScramKeys(password, verifier.salt, verifier.iterations)
      return timingSafeEqual(sha256(keys.clientKey), verifier.storedKey)
    }
    case 'md5': {
      const expected = 'md5Hash' in method ? method.md5Hash : md5PasswordHash(method.password, user)
      const got = md5PasswordHash(password, user)
      return got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected))
    }
  }
}
