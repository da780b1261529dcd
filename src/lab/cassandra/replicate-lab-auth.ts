import { types, type Client } from 'cassandra-driver'
import { ensureKeyspaceReplication } from './ensure-keyspace-replication.js'
import { untilAuthSettles } from './until-auth-settles.js'

const AUTH_KEYSPACE = 'system_auth'

/**
 * Puts one replica of system_auth in every DC. Cassandra creates it as SimpleStrategy RF 1, so each
 * auth row lives in one DC only and auth reads at LOCAL_ONE fail elsewhere: a CREATE KEYSPACE in
 * eu-west looks up the creator's permissions (CassandraAuthorizer.getExistingPermissions) in its own
 * DC and gets "Not enough replicas available ... LOCAL_ONE". The ALTER alone leaves the new replicas
 * empty; reading every auth table at ALL makes read repair copy the rows there, the same result as
 * `nodetool repair system_auth` without needing JMX. Needs every node up; a no-op when already done.
 */
export async function replicateLabAuth(client: Client, dcs: string[]): Promise<void> {
  // A node that has just started may not be NORMAL in every peer's gossip yet: the ALTER is retried until it is.
  if ((await untilAuthSettles(() => ensureKeyspaceReplication(client, AUTH_KEYSPACE, dcs))) === 'unchanged') return
  const tables = (
    await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [AUTH_KEYSPACE], { prepare: true })
  ).rows.map((r) => String(r.get('table_name')))
  // roles first: the default superuser's login is read at QUORUM and must find its row.
  tables.sort((a, b) => Number(b === 'roles') - Number(a === 'roles'))
  for (const table of tables) {
    await untilAuthSettles(() =>
      client.execute(`SELECT * FROM ${AUTH_KEYSPACE}.${table}`, [], { consistency: types.consistencies.all, fetchSize: 1000 }),
    )
  }
}
