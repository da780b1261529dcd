import type { Client } from 'cassandra-driver'

export type ReplicationChange = 'created' | 'altered' | 'unchanged'

const NTS_CLASS = 'org.apache.cassandra.locator.NetworkTopologyStrategy'

/**
 * Makes `keyspace` replicate with NetworkTopologyStrategy, one replica in each of `dcs`: creates it
 * when missing, alters it when its replication differs, and says which it did.
 */
export async function ensureKeyspaceReplication(client: Client, keyspace: string, dcs: string[]): Promise<ReplicationChange> {
  if (dcs.length === 0) throw new Error(`grey lab: keyspace ${keyspace} needs at least one datacenter`)
  const replication = `{'class': 'NetworkTopologyStrategy', ${dcs.map((dc) => `'${dc.replace(/'/g, "''")}': 1`).join(', ')}}`
  const row = (
    await client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace], { prepare: true })
  ).first()
  if (row === null) {
    await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replication}`)
    return 'created'
  }
  const current = row.get('replication') as Record<string, string>
  const wanted: Record<string, string> = { class: NTS_CLASS, ...Object.fromEntries(dcs.map((dc) => [dc, '1'])) }
  const same = Object.keys(current).length === Object.keys(wanted).length && Object.entries(wanted).every(([k, v]) => current[k] === v)
  if (same) return 'unchanged'
  await client.execute(`ALTER KEYSPACE ${keyspace} WITH replication = ${replication}`)
  return 'altered'
}
