import t from 'tap'
import type pg from 'pg'
import { ensureTestLab, labCli, pgConnect, type LabJson } from '../fixtures/test-lab.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function msUntilVisible(client: pg.Client, id: string, since: number, timeoutMs: number): Promise<number | null> {
  while (Date.now() - since < timeoutMs) {
    const { rowCount } = await client.query('SELECT 1 FROM replication_probe WHERE id = $1', [id])
    if (rowCount === 1) return Date.now() - since
    await sleep(1)
  }
  return null
}

const lab: LabJson = await ensureTestLab()
const primary = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
const euWest = await pgConnect(lab, lab.regions['eu-west']!.pg.direct)
const apSouth = await pgConnect(lab, lab.regions['ap-south']!.pg.direct)
t.teardown(async () => {
  labCli('heal')
  await Promise.all([primary.end(), euWest.end(), apSouth.end()])
})
await primary.query('CREATE TABLE IF NOT EXISTS replication_probe (id bigserial PRIMARY KEY, note text)')

t.test('the lab has a primary, a synchronous and an asynchronous standby', async (t) => {
  const { rows } = await primary.query<{ application_name: string; sync_state: string }>(
    "SELECT application_name, sync_state FROM pg_stat_replication WHERE state = 'streaming' ORDER BY application_name",
  )
  t.same(rows, [
    { application_name: 'ap-south', sync_state: 'async' },
    { application_name: 'eu-west', sync_state: 'sync' },
  ])
  for (const standby of [euWest, apSouth]) {
    t.equal((await standby.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r, true)
  }
  t.equal(lab.regions['ap-south']!.pg.role, 'async-standby')
})

t.test('a row written on the primary appears on each standby after about the one-way delay', async (t) => {
  await primary.query('SET synchronous_commit = local')
  const since = Date.now()
  const { rows } = await primary.query<{ id: string }>("INSERT INTO replication_probe (note) VALUES ('delay') RETURNING id")
  const id = rows[0]!.id
  const [euMs, apMs] = await Promise.all([msUntilVisible(euWest, id, since, 5000), msUntilVisible(apSouth, id, since, 5000)])
  await primary.query('RESET synchronous_commit')
  t.comment(`visible after: eu-west ${euMs} ms (one-way 40 ms), ap-south ${apMs} ms (one-way 90 ms)`)
  t.ok(euMs !== null && euMs >= 40 && euMs < 40 + 250, `eu-west after ${euMs} ms`)
  t.ok(apMs !== null && apMs >= 90 && apMs < 90 + 250, `ap-south after ${apMs} ms`)
})

t.test('SELECT 1 from us-east to the eu-west standby costs one WAN round trip', async (t) => {
  const remote = await pgConnect(lab, lab.wan.paths['us-east->eu-west']!.pg)
  const local = await pgConnect(lab, lab.regions['eu-west']!.pg.direct)
  const median = async (client: pg.Client): Promise<number> => {
    const samples: number[] = []
    for (let i = 0; i < 11; i++) {
      const t0 = process.hrtime.bigint()
      await client.query('SELECT 1')
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    return samples.sort((a, b) => a - b)[5]!
  }
  const [remoteMs, localMs] = [await median(remote), await median(local)]
  await Promise.all([remote.end(), local.end()])
  t.comment(`SELECT 1 median: through the relay ${remoteMs.toFixed(1)} ms, direct ${localMs.toFixed(1)} ms`)
  t.ok(remoteMs >= 80 && remoteMs < 80 + 40, `relay round trip ${remoteMs.toFixed(1)} ms is 2 × 40 ms plus little`)
  t.ok(localMs < 20, `direct round trip ${localMs.toFixed(1)} ms stays local`)
})

t.test('partition ap-south: its replication stops, us-east keeps accepting writes, heal catches it up', async (t) => {
  labCli('partition', 'ap-south')
  const status = JSON.parse(labCli('status', '--json')) as { wan: { partitioned: string[] } }
  t.same(status.wan.partitioned, ['ap-south'])
  await sleep(200)
  const t0 = Date.now()
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    // A synchronous commit: it waits for eu-west only, so the cut-off ap-south does not block it.
    const { rows } = await primary.query<{ id: string }>("INSERT INTO replication_probe (note) VALUES ('during partition') RETURNING id")
    ids.push(rows[0]!.id)
  }
  const writeMs = Date.now() - t0
  t.ok(writeMs < 5 * 80 + 1000, `5 synchronous commits during the partition took ${writeMs} ms`)
  const lastId = ids[ids.length - 1]!
  await sleep(1500)
  t.equal((await euWest.query('SELECT 1 FROM replication_probe WHERE id = $1', [lastId])).rowCount, 1, 'eu-west has the rows')
  t.equal((await apSouth.query('SELECT 1 FROM replication_probe WHERE id = $1', [lastId])).rowCount, 0, 'ap-south does not')
  const healedAt = Date.now()
  labCli('heal')
  const caughtUpMs = await msUntilVisible(apSouth, lastId, healedAt, 20_000)
  t.comment(`ap-south caught up ${caughtUpMs} ms after heal`)
  t.ok(caughtUpMs !== null, 'ap-south catches up after heal')
})
