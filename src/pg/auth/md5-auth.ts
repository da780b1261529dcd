import { createHash, timingSafeEqual } from 'node:crypto'
import { authenticationFailed, type ClientAuthFailure } from './auth-failure.js'

// PostgreSQL's md5 password method (AuthenticationMD5Password): the client answers the 4-byte salt with
// "md5" + md5(md5(password + user) + salt), hex. The stored form is "md5" + md5(password + user).
// md5 applies no SASLprep: the password's bytes (UTF-8) are hashed as they are.

export const MD5_SALT_LENGTH = 4

/** What the proxy holds for an md5 user: PostgreSQL's stored hash, or the plaintext password. */
export type Md5Secret = { readonly md5Hash: string } | { readonly password: string }

const MD5_HASH = /^md5[0-9a-f]{32}$/

/** PostgreSQL's stored md5 form (pg_authid.rolpassword): "md5" + 32 lowercase hex digits. */
export function isMd5PasswordHash(text: string): boolean {
  return MD5_HASH.test(text)
}

/** "md5" + md5(password + user), as CREATE ROLE … PASSWORD stores it under password_encryption = md5. */
export function md5PasswordHash(password: string, user: string): string {
  return `md5${md5Hex(Buffer.from(password + user, 'utf8'))}`
}

/** The PasswordMessage text a client sends for this secret and salt (without the trailing NUL). */
export function md5SaltedResponse(secret: Md5Secret, user: string, salt: Uint8Array): string {
  if (salt.length !== MD5_SALT_LENGTH) throw new RangeError(`grey: an md5 salt has ${MD5_SALT_LENGTH} bytes, got ${salt.length}`)
  const stored = storedHash(secret, user)
  return `md5${md5Hex(Buffer.concat([Buffer.from(stored.slice(3), 'latin1'), salt]))}`
}

export interface Md5ResponseCheck {
  readonly secret: Md5Secret
  readonly user: string
  /** The salt this connection's AuthenticationMD5Password carried (random per connection). */
  readonly salt: Uint8Array
  /** The client's PasswordMessage content, without the trailing NUL. */
  readonly response: string | Uint8Array
  /** The user does not exist or may not log in: run the same check, then fail the same way (PostgreSQL: doomed). */
  readonly doomed?: boolean
}

export type Md5ResponseResult = { readonly ok: true } | { readonly ok: false; readonly failure: ClientAuthFailure }

/** Checks a client's md5 answer; wrong password and unknown user give the same 28P01 failure. */
export function verifyMd5Response(check: Md5ResponseCheck): Md5ResponseResult {
  const expected = Buffer.from(md5SaltedResponse(check.secret, check.user, check.salt), 'latin1')
  const response = typeof check.response === 'string' ? Buffer.from(check.response, 'utf8') : Buffer.from(check.response)
  // Compare equal-length buffers in constant time; a length mismatch is public and fails outright.
  const matches = response.length === expected.length && timingSafeEqual(response, expected)
  if (matches && check.doomed !== true) return { ok: true }
  const logDetail = check.doomed === true ? 'md5 exchange for a user without a usable password (mock)' : 'md5 response does not match'
  return { ok: false, failure: authenticationFailed(check.user, logDetail) }
}

function storedHash(secret: Md5Secret, user: string): string {
  if ('password' in secret) return md5PasswordHash(secret.password, user)
  if (!isMd5PasswordHash(secret.md5Hash)) throw new RangeError('grey: an md5 password hash is "md5" followed by 32 lowercase hex digits')
  return secret.md5Hash
}

function md5Hex(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex')
}
