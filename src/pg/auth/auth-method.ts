import { isIPv4, isIPv6 } from 'node:net'
import { hmacSha256 } from './scram-syntax.js'
import { SCRAM_DEFAULT_ITERATIONS, mockScramVerifier, type ScramVerifier } from './scram-verifier.js'
import type { Md5Secret } from './md5-auth.js'

/** How a configured client user proves who it is. Config loading (src/config) builds these. */
export type ClientAuthMethod =
  | { readonly method: 'scram-sha-256'; readonly verifier: ScramVerifier }
  | { readonly method: 'md5'; readonly md5Hash: string }
  | { readonly method: 'md5'; readonly password: string }
  /** No password, and only for a peer on the loopback interface. */
  | { readonly method: 'trust' }

export interface ClientAuthConfig {
  /** Users by exact name (PostgreSQL user names are case-sensitive). An auth_query result is a one-entry map. */
  readonly users: ReadonlyMap<string, ClientAuthMethod>
  /** Keys mock salts for unknown users; at least 16 bytes, the same on every Grey instance. */
  readonly mockAuthSecret: Uint8Array
  /** The method an unknown user is challenged with (PostgreSQL: password_encryption). Default scram-sha-256. */
  readonly unknownUserMethod?: 'scram-sha-256' | 'md5'
  /** Iteration count of mock SCRAM verifiers; make it the one real verifiers use. Default 4096. */
  readonly mockIterations?: number
}

/** The exchange to run with a client; `reason` is for the debug log. */
export type ClientAuthDecision =
  | { readonly method: 'trust'; readonly reason: string }
  | { readonly method: 'scram-sha-256'; readonly verifier: ScramVerifier; readonly doomed: boolean; readonly reason: string }
  | { readonly method: 'md5'; readonly secret: Md5Secret; readonly doomed: boolean; readonly reason: string }

/**
 * Picks the authentication exchange for a client. A user that is unknown, or configured for trust but
 * connecting from off the host, gets a normal-looking password exchange that is doomed to fail with the
 * same 28P01 error as a wrong password, so that a client cannot probe which users exist.
 */
export function chooseAuth(user: string, config: ClientAuthConfig, peerIsLoopback: boolean): ClientAuthDecision {
  const configured = config.users.get(user)
  if (configured === undefined) return doomed(user, config, 'no such user')
  switch (configured.method) {
    case 'trust':
      if (peerIsLoopback) return { method: 'trust', reason: 'trust configured and the peer is loopback' }
      return doomed(user, config, 'trust is configured but the peer is not loopback')
    case 'scram-sha-256':
      return { method: 'scram-sha-256', verifier: configured.verifier, doomed: false, reason: 'scram-sha-256 verifier configured' }
    case 'md5':
      return {
        method: 'md5',
        secret: 'md5Hash' in configured ? { md5Hash: configured.md5Hash } : { password: configured.password },
        doomed: false,
        reason: 'md5 configured',
      }
  }
}

function doomed(user: string, config: ClientAuthConfig, why: string): ClientAuthDecision {
  const reason = `${why}: the password exchange will fail`
  if (config.unknownUserMethod === 'md5') {
    const md5Hash = `md5${hmacSha256(config.mockAuthSecret, `grey md5 mock\0${user}`).toString('hex').slice(0, 32)}`
    return { method: 'md5', secret: { md5Hash }, doomed: true, reason }
  }
  const verifier = mockScramVerifier(user, config.mockAuthSecret, config.mockIterations ?? SCRAM_DEFAULT_ITERATIONS)
  return { method: 'scram-sha-256', verifier, doomed: true, reason }
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x addresses. A Unix-socket peer has no address: the caller decides. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address
  if (isIPv4(v4)) return v4.startsWith('127.')
  return isIPv6(address) && /^(0{0,4}:){2,7}0{0,3}1$|^::1$/i.test(address)
}
