import { setTimeout as sleep } from 'node:timers/promises'
import type { Client } from 'cassandra-driver'
import { ensureKeyspaceReplication } from './ensure-keyspace-replication.js'
import { CASSANDRA_DEFAULT_USER, LAB_CQL_PASSWORD, LAB_CQL_USER, labCqlClient } from './lab-cql-client.js'
import { replicateLabAuth } from './replicate-lab-auth.js'
import { untilAuthSettles } from './until-auth-settles.js'

export const LAB_KEYSPACE = 'grey_lab'
export const LAB_TABLE = 'kv'

const SCHEMA_AGREEMENT_TIMEOUT_MS = 60_000

/** The contact node and every peer it knows report one schema version (what nodetool describecluster shows). */
async function schemaAgrees(client: Client): Promise<boolean> {
  const local = (await client.execute('SELECT schema_version FROM system.local')).first()?.get('schema_version') as unknown
  const peers = (await client.execute('SELECT schema_version FROM system.peers')).rows.map((r) => r.get('schema_version') as unknown)
  return local !== undefined && local !== null && new Set([local, ...peers].map(String)).size === 1
}

/** Runs one step; a failure names the step, since the driver's error does not say which statement failed. */
async function step<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action()
  } catch (err) {
    throw new Error(`grey lab: ${what} failed: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Readies the lab cluster for Grey, idempotently: system_auth replicated to every DC (see
 * replicateLabAuth), keyspace grey_lab with one replica in each of `dcs`, table
 * grey_lab.kv (k text primary key, v text); then waits until every node has the same schema.
 * Run it once every node of `dcs` is up. `contactPoint` is `host:port` of a node in `localDc`.
 */
export async function prepareLabKeyspace(contactPoint: string, localDc: string, dcs: string[]): Promise<void> {
  const client = labCqlClient(contactPoint, localDc, {}, CASSANDRA_DEFAULT_USER)
  try {
    await step(`connecting to ${contactPoint} (${localDc})`, () => client.connect())
    await step(`replicating system_auth to ${dcs.join(', ')}`, () => replicateLabAuth(client, dcs))
    await step(`creating role ${LAB_CQL_USER}`, () =>
      untilAuthSettles(() =>
        client.execute(
          `CREATE ROLE IF NOT EXISTS ${LAB_CQL_USER} WITH PASSWORD = '${LAB_CQL_PASSWORD}' AND SUPERUSER = true AND LOGIN = true`,
        ),
      ),
    )
    await step(`creating keyspace ${LAB_KEYSPACE}`, () => untilAuthSettles(() => ensureKeyspaceReplication(client, LAB_KEYSPACE, dcs)))
    await step(`creating table ${LAB_KEYSPACE}.${LAB_TABLE}`, () =>
      untilAuthSettles(() => client.execute(`CREATE TABLE IF NOT EXISTS ${LAB_KEYSPACE}.${LAB_TABLE} (k text PRIMARY KEY, v text)`)),
    )
    const deadline = Date.now() + SCHEMA_AGREEMENT_TIMEOUT_MS
    while (!(await step('checking schema agreement', () => schemaAgrees(client)))) {
      if (Date.now() >= deadline) {
        throw new Error(
          `grey lab: Cassandra nodes did not agree on the schema within ${SCHEMA_AGREEMENT_TIMEOUT_MS} ms after creating ${LAB_KEYSPACE}`,
        )
      }
      await sleep(500)
    }
  } finally {
    await client.shutdown()
  }
}
