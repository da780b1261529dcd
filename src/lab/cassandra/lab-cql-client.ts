import { auth, Client, type ClientOptions } from 'cassandra-driver'

/** The lab's CQL login: Cassandra's default superuser, created on first start (PasswordAuthenticator). */
export const LAB_CQL_USER = 'cassandra'
export const LAB_CQL_PASSWORD = 'cassandra'

/**
 * A cassandra-driver client for the lab: one contact point (`host:port`), pinned to its DC, logged in
 * as the default superuser. The caller connects and shuts it down.
 */
export function labCqlClient(contactPoint: string, localDc: string, options: Partial<ClientOptions> = {}): Client {
  return new Client({
    contactPoints: [contactPoint],
    localDataCenter: localDc,
    authProvider: new auth.PlainTextAuthProvider(LAB_CQL_USER, LAB_CQL_PASSWORD),
    socketOptions: { connectTimeout: 5000, readTimeout: 15000 },
    ...options,
  })
}
