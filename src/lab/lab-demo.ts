import pg from 'pg'
import { types } from 'cassandra-driver'
import { endpointText, type LabPlan } from './lab-plan.js'
import { labCqlClient } from './cassandra/cassandra-node.js'
import { sleep } from './lab-process.js'

export interface VisibilityResult {
  region: string
  role: string
  /** ms from the write's commit until a reader in that region saw it; null when not seen in time. */
  visibleAfterMs: number | null
}

const pgClient = (plan: LabPlan, host: string, port: number): pg.Client =>
  new pg.Client({ host, port, user: plan.pgUser, password: plan.pgPassword, database: plan.pgDatabase })

/** Polls until `seen()` holds; returns the ms elapsed since `sinceMs`, or null after `timeoutMs`. */
async function timeUntil(seen: () => Promise<boolean>, sinceMs: number, timeoutMs: number): Promise<number | null> {
  while (Date.now() - sinceMs < timeoutMs) {
    // An error (the table itself has not replicated yet) is "not yet".
    if (await seen().catch(() => false)) return Date.now() - sinceMs
    await sleep(2)
  }
  return null
}

/**
 * A row written on the primary, and how long until each region's own PostgreSQL serves it: the
 * replication delay through the WAN emulator (the sync standby is ahead of the commit's return).
 */
export async function pgWriteVisibility(plan: LabPlan, timeoutMs = 10_000): Promise<{ syncCommitMs: number; regions: VisibilityResult[] }> {
  const primary = plan.regions.find((r) => r.pgRole === 'primary')
  if (!primary) throw new Error('the lab has no primary')
  const readers = plan.regions.map((r) => ({ region: r, client: pgClient(plan, r.pg.host, r.pg.port) }))
  const writer = pgClient(plan, primary.pg.host, primary.pg.port)
  await Promise.all([writer.connect(), ...readers.map((r) => r.client.connect())])
  try {
    await writer.query(
      'CREATE TABLE IF NOT EXISTS grey_lab_demo (id bigserial PRIMARY KEY, note text, written_at timestamptz DEFAULT now())',
    )
    const s0 = Date.now()
    await writer.query("INSERT INTO grey_lab_demo (note) VALUES ('synchronous commit')")
    const syncCommitMs = Date.now() - s0
    // A local commit returns at once, so what follows is the replication delay alone.
    await writer.query('SET synchronous_commit = local')
    const t0 = Date.now()
    const { rows } = await writer.query<{ id: string }>("INSERT INTO grey_lab_demo (note) VALUES ('hello from us-east') RETURNING id")
    const id = rows[0]?.id
    const regions = await Promise.all(
      readers.map(async ({ region, client }) => ({
        region: region.name,
        role: region.pgRole,
        visibleAfterMs: await timeUntil(
          async () => (await client.query('SELECT 1 FROM grey_lab_demo WHERE id = $1', [id])).rowCount === 1,
          t0,
          timeoutMs,
        ),
      })),
    )
    return { syncCommitMs, regions }
  } finally {
    await Promise.all([writer.end(), ...readers.map((r) => r.client.end())])
  }
}

/** The same for Cassandra: a LOCAL_ONE write in the first DC, LOCAL_ONE reads in each DC. */
export async function cqlWriteVisibility(plan: LabPlan, timeoutMs = 10_000): Promise<VisibilityResult[]> {
  const clients = plan.regions.map((r) => ({ region: r, client: labCqlClient(endpointText(r.cassandra.listen), r.name) }))
  await Promise.all(clients.map((c) => c.client.connect()))
  try {
    const writer = clients[0]
    if (!writer) return []
    const key = `demo-${Date.now()}`
    const opts = { prepare: true, consistency: types.consistencies.localOne }
    // Prepare first: preparing goes to every node, across the WAN, and is not what we measure.
    await writer.client.execute('INSERT INTO grey_lab.kv (k, v) VALUES (?, ?)', [`${key}-warm-up`, ''], opts)
    await Promise.all(clients.map(({ client }) => client.execute('SELECT v FROM grey_lab.kv WHERE k = ?', [key], opts)))
    const t0 = Date.now()
    await writer.client.execute('INSERT INTO grey_lab.kv (k, v) VALUES (?, ?)', [key, 'hello from us-east'], opts)
    return await Promise.all(
      clients.map(async ({ region, client }) => ({
        region: region.name,
        role: `dc ${region.name}`,
        visibleAfterMs: await timeUntil(
          async () => (await client.execute('SELECT v FROM grey_lab.kv WHERE k = ?', [key], opts)).rowLength === 1,
          t0,
          timeoutMs,
        ),
      })),
    )
  } finally {
    await Promise.all(clients.map((c) => c.client.shutdown()))
  }
}

export interface RoutedStatement {
  statement: string
  /** The region whose PostgreSQL ran it, told by the server's port. */
  ranIn: string
  role: string
  ms: number
}

/** Statements sent through one region's Grey, and where each one ran. */
export async function greyRoutingDemo(plan: LabPlan, regionName: string): Promise<RoutedStatement[]> {
  const region = plan.regions.find((r) => r.name === regionName)
  if (!region) throw new Error(`no region ${regionName}`)
  const client = pgClient(plan, region.grey.pg.host, region.grey.pg.port)
  await client.connect()
  const byPort = new Map(plan.regions.map((r) => [r.pg.port, r]))
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS grey_lab_demo (id bigserial PRIMARY KEY, note text, written_at timestamptz DEFAULT now())',
    )
    const statements = [
      'SELECT count(*), inet_server_port() AS port FROM grey_lab_demo',
      `INSERT INTO grey_lab_demo (note) VALUES ('through the ${regionName} Grey') RETURNING inet_server_port() AS port`,
      '/* grey: consistency=strong */ SELECT count(*), inet_server_port() AS port FROM grey_lab_demo',
    ]
    const out: RoutedStatement[] = []
    for (const statement of statements) {
      const t0 = Date.now()
      const { rows } = await client.query<{ port: number }>(statement)
      const ms = Date.now() - t0
      const ran = byPort.get(Number(rows[0]?.port))
      out.push({ statement, ranIn: ran?.name ?? '?', role: ran?.pgRole ?? '?', ms })
    }
    return out
  } finally {
    await client.end()
  }
}
