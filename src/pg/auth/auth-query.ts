import pg from 'pg'
import type { ClientAuthMethod } from './auth-method.js'
import { parseScramVerifier, ScramVerifierParseError } from './scram-verifier.js'

/**
 * A stored secret as PostgreSQL keeps it in pg_authid.rolpassword, as a way to authenticate a client:
 * a SCRAM verifier or an md5 hash. Anything else (no row, NULL, a plain-text or unparsable secret)
 * is null, and the client's password exchange fails like an unknown user's.
 */
export function storedSecretMethod(secret: string | null | undefined): ClientAuthMethod | null {
  if (!secret) return null
  if (secret.startsWith('SCRAM-SHA-256$')) {
    const verifier = parseScramVerifier(secret)
    return verifier instanceof ScramVerifierParseError ? null : { method: 'scram-sha-256', verifier }
  }
  if (/^md5[0-9a-f]{32}$/.test(secret)) return { method: 'md5', md5Hash: secret }
  return null
}

/**
 * Looks up client users on the primary with proxy.auth.auth_query (pgbouncer's auth_query): the user
 * name is $1 and the last column of the first row is the stored secret. node-postgres runs it; a
 * small pool of its own keeps lookups off the clients' server connections.
 */
export class AuthQuery {
  private readonly pool: pg.Pool

  constructor(
    private readonly query: string,
    connection: { host: string; port: number; user: string; password: string; database: string; connectTimeoutMs: number },
  ) {
    this.pool = new pg.Pool({
      host: connection.host,
      port: connection.port,
      user: connection.user,
      password: connection.password,
      database: connection.database,
      connectionTimeoutMillis: connection.connectTimeoutMs,
      application_name: 'grey auth_query',
      max: 2,
      idleTimeoutMillis: 30_000,
    })
    this.pool.on('error', () => undefined)
  }

  async lookup(user: string): Promise<ClientAuthMethod | null> {
    const result = await this.pool.query<unknown[]>({ text: this.query, values: [user], rowMode: 'array' })
    const row = result.rows[0]
    const secret = row?.[row.length - 1]
    return storedSecretMethod(typeof secret === 'string' ? secret : null)
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}
