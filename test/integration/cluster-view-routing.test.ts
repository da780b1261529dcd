// The front ends route by the replicated cluster state, not by the config they started with: an eu-west Grey (a
// one-voter Raft member, in this process) is told through its admin API that the PostgreSQL primary is now eu-west,
// then that the primary region is ap-south, and its next statements go there — real PostgreSQL and Cassandra answer.
import t from 'tap'
import cassandra from 'cassandra-driver'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { callAdmin, type AdminTarget } from '../../src/cli/cluster-command.js'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { freePort } from '../fixtures/free-port.js'
import { ensureTestLab, metricValue, pgConnect, type LabJson } from '../fixtures/test-lab.js'

const { types } = cassandra
const lab: LabJson = await ensureTestLab({ cassandra: true })
const raftPort = await freePort()
const grey = await greyInProcess(
  'eu-west',
  {
    GREY_CONSENSUS__RAFT__PEERS: `[{id: view-eu-west, address: "127.0.0.1:${raftPort}", region: eu-west}]`,
    GREY_CONSENSUS__RAFT__NODE_ID: 'view-eu-west',
    GREY_CONSENSUS__RAFT__LISTEN: `127.0.0.1:${raftPort}`,
    GREY_CONSENSUS__RAFT__DATA_DIR: mkdtempSync(join(tmpdir(), 'grey-view-routing-')),
    GREY_ROUTING__RULES: '[{match: {table: rule_orders}, consistency: strong}]',
    // A primary the log names but nobody promoted: statements for it wait this long for it to leave recovery.
    GREY_FAILOVER__FAILOVER_HOLD: '300ms',
  },
  { cql: true },
)
const admin: AdminTarget = { url: grey.admin, token: lab.admin.token }
const client: pg.Client = await pgConnect(lab, grey.pg)
const cql = new cassandra.Client({
  contactPoints: [grey.cql],
  localDataCenter: 'eu-west',
  credentials: { username: lab.pg.user, password: lab.pg.password },
})
await cql.connect()
t.teardown(async () => {
  await client.end()
  await cql.shutdown()
  await grey.stop()
})

async function propose(path: string, body: Record<string, unknown>): Promise<void> {
  for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const reply = await callAdmin(admin, 'POST', path, body).catch((err: unknown) => err)
    if (!(reply instanceof Error)) return
    // A one-voter member elects itself within an election timeout of starting.
    if (Date.now() > deadline || !/no leader/.test(reply.message)) throw reply
  }
}

async function inRecovery(sql: string): Promise<boolean> {
  return (await client.query<{ r: boolean }>(sql)).rows[0]!.r
}

t.test('PostgreSQL: writes and strong reads follow the primary the Raft log names', async (t) => {
  const strong = '/* grey: consistency=strong */ SELECT pg_is_in_recovery() AS r'
  t.equal(await inRecovery(strong), false, 'at first: the configured primary, us-east')
  t.equal(await inRecovery('SELECT pg_is_in_recovery() AS r'), true, 'reads: the local eu-west standby')

  await propose('/cluster/pg-primary', { region: 'eu-west', expected_epoch: 0 })
  // The log names a node that nobody promoted: statements for the primary wait failover_hold for it to leave recovery,
  // then fail with a sentence — never a silent reroute, and never a write sent to a standby.
  const notPromoted = { code: '57P03', message: /the new PostgreSQL primary in eu-west \(failover epoch 1\) has not left recovery/ }
  await t.rejects(client.query(strong), notPromoted, 'strong reads wait for eu-west, then say why')
  await t.rejects(client.query('CREATE TABLE routed_to_eu (x int)'), notPromoted, 'writes too')

  await propose('/cluster/pg-primary', { region: 'us-east', expected_epoch: 1 })
  t.equal(await inRecovery(strong), false, 'back on us-east with epoch 2')
  const status = (await callAdmin(admin, 'GET', '/cluster/status')).cluster as { pg_primary: { region: string; epoch: number } }
  t.same(status.pg_primary, { region: 'us-east', epoch: 2 })
})

t.test('CQL: strong requests go to the DC of the primary region the Raft log names', async (t) => {
  const strongTo = async (region: string): Promise<number> =>
    metricValue(await grey.metrics(), routed('cql', 'read', region === 'eu-west' ? 'local' : 'remote', region, 'strong in primary dc'))
  const read = (): Promise<unknown> =>
    cql.execute(`SELECT v FROM ${lab.cassandra.keyspace}.kv WHERE k = 'view-routing'`, [], { consistency: types.consistencies.quorum })
  const usEast = await strongTo('us-east')
  await read()
  t.equal(await strongTo('us-east'), usEast + 1, 'at first: us-east, the configured primary region')

  await propose('/cluster/primary-region', { region: 'ap-south' })
  const apSouth = await strongTo('ap-south')
  await read()
  t.equal(await strongTo('ap-south'), apSouth + 1, 'now ap-south')
  await propose('/cluster/primary-region', { region: 'us-east' })
})

function routed(protocol: string, kind: string, target: string, region: string, reason: string): string {
  return `grey_query_routing_total{protocol="${protocol}",kind="${kind}",target="${target}",region="${region}",reason="${reason}"}`
}

t.test('routing rules: configured, then replaced through the Raft log; hints and session settings rank above them', async (t) => {
  const primary = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
  await primary.query('CREATE TABLE IF NOT EXISTS rule_orders (id int); CREATE TABLE IF NOT EXISTS rule_reports (id int)')
  await primary.query('INSERT INTO rule_orders SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM rule_orders)')
  await primary.query('INSERT INTO rule_reports SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM rule_reports)')
  await primary.end()
  const from = (table: string, hint = ''): Promise<boolean> => inRecovery(`${hint}SELECT pg_is_in_recovery() AS r FROM ${table}`)
  await until(async () => !(await from('rule_orders')) && (await from('rule_reports')), 'the tables to reach the eu-west standby')
  t.equal(await from('rule_orders'), false, 'the configured rule sends rule_orders reads to the primary')
  t.equal(await from('rule_reports'), true, 'other tables read the local standby')
  t.equal(await from('rule_orders', '/* grey: consistency=eventual */ '), true, 'a hint outranks the rule')

  await propose('/cluster/rules', { rules: [{ match: { statement: 'FROM rule_reports' }, consistency: 'strong' }] })
  t.equal(await from('rule_reports'), false, 'the replicated rules replace the configured ones: rule_reports now on the primary')
  t.equal(await from('rule_orders'), true, '… and rule_orders no longer')
  await client.query("SET grey.consistency = 'eventual'")
  t.equal(await from('rule_reports'), true, 'a session setting outranks the rules')
  await client.query('RESET grey.consistency')
  t.equal(await from('rule_reports'), false, 'reset: the rules again')
})

async function until(probe: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await probe().catch(() => false)); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
  }
}
