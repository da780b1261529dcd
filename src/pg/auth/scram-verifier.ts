import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { scramPasswordBytes } from './saslprep.js'
import { SCRAM_KEY_LENGTH, decodeBase64Strict, hmacSha256, sha256 } from './scram-syntax.js'

/** PostgreSQL's defaults (SCRAM_SHA_256_DEFAULT_ITERATIONS, SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_DEFAULT_ITERATIONS = 4096
export const SCRAM_DEFAULT_SALT_LENGTH = 16
const MAX_ITERATIONS = 2 ** 31 - 1

/**
 * What PostgreSQL stores in pg_authid.rolpassword for a SCRAM-SHA-256 role:
 * `SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>`. It proves a client's password
 * without holding it, and it cannot log in anywhere by itself.
 */
export interface ScramVerifier {
  readonly iterations: number
  readonly salt: Buffer
  /** H(ClientKey) */
  readonly storedKey: Buffer
  /** HMAC(SaltedPassword, "Server Key") */
  readonly serverKey: Buffer
}

/** The client-side keys of a password for one salt and iteration count (RFC 5802 §3). */
export interface ScramKeys {
  readonly salt: Buffer
  readonly iterations: number
  readonly clientKey: Buffer
  readonly serverKey: Buffer
}

/** A rolpassword / configured verifier that is not in PostgreSQL's SCRAM-SHA-256 format. */
export class ScramVerifierParseError extends Error {
  override readonly name = 'ScramVerifierParseError'

  constructor(problem: string) {
    super(
      `grey: malformed SCRAM verifier (${problem}); expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> ` +
        'as in pg_authid.rolpassword',
    )
  }
}

const VERIFIER = /^SCRAM-SHA-256\$([0-9]+):([^$:]+)\$([^$:]+):([^$:]+)$/

/** Parses PostgreSQL's verifier text (parse_scram_secret); base64 must be canonical and both keys 32 bytes. */
export function parseScramVerifier(text: string): ScramVerifier | ScramVerifierParseError {
  const m = VERIFIER.exec(text)
  if (!m) return new ScramVerifierParseError('not of the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>')
  const [, iterationsText, saltText, storedKeyText, serverKeyText] = m as unknown as [string, string, string, string, string]
  const iterations = Number(iterationsText)
  if (iterationsText.startsWith('0') || iterations > MAX_ITERATIONS) {
    return new ScramVerifierParseError(`iteration count ${iterationsText} is not an integer from 1 to ${MAX_ITERATIONS}`)
  }
  const salt = decodeBase64Strict(saltText)
  if (!salt || salt.length === 0) return new ScramVerifierParseError('the salt is not base64')
  const storedKey = decodeBase64Strict(storedKeyText)
  const serverKey = decodeBase64Strict(serverKeyText)
  if (storedKey?.length !== SCRAM_KEY_LENGTH || serverKey?.length !== SCRAM_KEY_LENGTH) {
    return new ScramVerifierParseError(`StoredKey and ServerKey must be ${SCRAM_KEY_LENGTH} bytes in base64`)
  }
  return { iterations, salt, storedKey, serverKey }
}

export function formatScramVerifier(verifier: ScramVerifier): string {
  const b64 = (bytes: Buffer): string => bytes.toString('base64')
  return `SCRAM-SHA-256$${verifier.iterations}:${b64(verifier.salt)}$${b64(verifier.storedKey)}:${b64(verifier.serverKey)}`
}

export interface MakeScramVerifierOptions {
  /** Default 4096, PostgreSQL's default. */
  readonly iterations?: number
  /** Default: 16 random bytes, like PostgreSQL. Inject it for reproducible verifiers. */
  readonly salt?: Uint8Array
}

/**
 * A verifier for a password, byte-identical to PostgreSQL's scram_build_secret() for the same salt and
 * iteration count. The password goes through PostgreSQL's SASLprep, or is used raw when that fails
 * (see saslprep.ts). PBKDF2 runs synchronously: build verifiers when loading configuration, not per connection.
 */
export function makeScramVerifier(password: string | Uint8Array, options: MakeScramVerifierOptions = {}): ScramVerifier {
  const keys = deriveScramKeys(
    password,
    options.salt ?? randomBytes(SCRAM_DEFAULT_SALT_LENGTH),
    options.iterations ?? SCRAM_DEFAULT_ITERATIONS,
  )
  return { iterations: keys.iterations, salt: keys.salt, storedKey: sha256(keys.clientKey), serverKey: keys.serverKey }
}

/** SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, i); ClientKey and ServerKey from it. */
export function deriveScramKeys(password: string | Uint8Array, salt: Uint8Array, iterations: number): ScramKeys {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`grey: SCRAM iteration count must be an integer from 1 to ${MAX_ITERATIONS}, got ${iterations}`)
  }
  if (salt.length === 0) throw new RangeError('grey: a SCRAM salt must not be empty')
  const saltedPassword = pbkdf2Sync(scramPasswordBytes(password), salt, iterations, SCRAM_KEY_LENGTH, 'sha256')
  return {
    salt: Buffer.from(salt),
    iterations,
    clientKey: hmacSha256(saltedPassword, 'Client Key'),
    serverKey: hmacSha256(saltedPassword, 'Server Key'),
  }
}

/**
 * A stand-in verifier for a user that does not exist (or may not log in this way), so that the exchange
 * looks the same as for a real user (PostgreSQL: mock_scram_secret). The salt is a keyed hash of the user
 * name: the same unknown user always sees the same salt, as a real one would. Every Grey instance must
 * share `mockAuthSecret` (from the shared config) or two regions would show different salts for the same
 * unknown name. `iterations` should be the count most real verifiers use.
 */
export function mockScramVerifier(username: string, mockAuthSecret: Uint8Array, iterations = SCRAM_DEFAULT_ITERATIONS): ScramVerifier {
  if (mockAuthSecret.length < 16) throw new RangeError('grey: the mock authentication secret must have at least 16 bytes')
  const derive = (label: string): Buffer => hmacSha256(mockAuthSecret, `grey scram mock ${label}\0${username}`)
  return {
    iterations,
    salt: derive('salt').subarray(0, SCRAM_DEFAULT_SALT_LENGTH),
    storedKey: derive('stored key'),
    serverKey: derive('server key'),
  }
}
