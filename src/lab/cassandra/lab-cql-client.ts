import { auth, Client, type ClientOptions } from 'cassandra-driver'

export interface CqlCredentials {
  username: string
  password: string
}

/** Cassandra's default superuser, created on first start: only to create the lab's own role (its login is read at QUORUM). */
export const CASSANDRA_DEFAULT_USER: CqlCredentials = { username: 'cassandra', password: 'cassandra' }
/** The lab's role (created by prepareLabKeyspace): read at LOCAL_ONE, so a DC cut off from the others still logs it in. */
export const LAB_CQL_USER = 'grey_lab'
export const LAB_CQL_PASSWORD = 'grey-lab-cql-password'

/**
 * A cassandra-driver client for the lab: one contact point (`host:port`), pinned to its DC, logged in
 * as the lab's role unless told otherwise. The caller connects and shuts it down.
 */
export function labCqlClient(
  contactPoint: string,
  localDc: string,
  options: Partial<ClientOptions> = {},
  credentials: CqlCredentials = { username: LAB_CQL_USER, password: LAB_CQL_PASSWORD },
): Client {
  return new Client({
    contactPoints: [contactPoint],
    localDataCenter: localDc,
    authProvider: new auth.PlainTextAuthProvider(credentials.username, credentials.password),
    socketOptions: { connectTimeout: 5000, readTimeout: 15000 },
    ...options,
  })
}
