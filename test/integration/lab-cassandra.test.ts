import t from 'tap'
import cassandra from 'cassandra-driver'
import { ensureTestLab, labCli, type LabJson } from '../fixtures/test-lab.js'

const { types } = cassandra
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const lab: LabJson = await ensureTestLab({ cassandra: true })
const regions = ['us-east', 'eu-west', 'ap-south']
const clients = new Map(
  regions.map((dc) => [
    dc,
    new cassandra.Client({
      contactPoints: [lab.regions[dc]!.cassandra],
      localDataCenter: dc,
      credentials: { username: lab.cassandra.user, password: lab.cassandra.password },
      // The lab's driver talks to its own DC only; other DCs are reached by the coordinator.
      policies: { loadBalancing: new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy(dc) },
    }),
  ]),
)
const client = (dc: string): cassandra.Client => clients.get(dc)!
await Promise.all([...clients.values()].map((c) => c.connect()))
t.teardown(async () => {
  labCli('heal')
  await Promise.all([...clients.values()].map((c) => c.shutdown()))
})

t.test('three Cassandra 5.0 nodes, one DC per region, report start time and memory', async (t) => {
  const status = JSON.parse(labCli('status', '--json')) as {
    components: Array<{ name: string; status: string; startMs: number; rssMb: number | null }>
  }
  for (const dc of regions) {
    const node = status.components.find((c) => c.name === `cassandra:${dc}`)
    t.equal(node?.status, 'running', `cassandra:${dc} running`)
    t.comment(`cassandra:${dc} started in ${node?.startMs} ms, RSS ${node?.rssMb} MB`)
  }
  const local = (await client('us-east').execute('SELECT data_center, release_version FROM system.local')).first()
  t.equal(local.get('data_center'), 'us-east')
  t.match(local.get('release_version') as string, /^5\.0\./)
  const peers = (await client('us-east').execute('SELECT data_center FROM system.peers')).rows
    .map((r) => r.get('data_center') as string)
    .sort()
  t.same(peers, ['ap-south', 'eu-west'])
  const ks = (await client('ap-south').execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'grey_lab'")).first()
  t.same(ks.get('replication'), {
    class: 'org.apache.cassandra.locator.NetworkTopologyStrategy',
    'us-east': '1',
    'eu-west': '1',
    'ap-south': '1',
  })
})

t.test('a LOCAL_ONE write in us-east reaches ap-south after the internode one-way delay', async (t) => {
  const opts = { prepare: true, consistency: types.consistencies.localOne }
  // Warm up the internode connections and prepared statements first.
  await client('us-east').execute('INSERT INTO grey_lab.kv (k, v) VALUES (?, ?)', ['warm', 'up'], opts)
  await client('ap-south').execute('SELECT v FROM grey_lab.kv WHERE k = ?', ['warm'], opts)
  const key = `wan-${Date.now()}`
  const t0 = Date.now()
  await client('us-east').execute('INSERT INTO grey_lab.kv (k, v) VALUES (?, ?)', [key, 'from us-east'], opts)
  let seenMs: number | null = null
  while (Date.now() - t0 < 10_000) {
    if ((await client('ap-south').execute('SELECT v FROM grey_lab.kv WHERE k = ?', [key], opts)).rowLength === 1) {
      seenMs = Date.now() - t0
      break
    }
    await sleep(2)
  }
  t.comment(`visible in ap-south after ${seenMs} ms (one-way us-east→ap-south: 90 ms)`)
  t.ok(seenMs !== null && seenMs >= 90 && seenMs < 90 + 500, `after ${seenMs} ms`)
})

t.test('LOCAL_QUORUM in ap-south works while ap-south is partitioned; EACH_QUORUM does not', async (t) => {
  labCli('partition', 'ap-south')
  // Past Cassandra's 2 s role and permission caches: the lab's role is re-read, at LOCAL_ONE, inside the cut-off DC.
  await sleep(3000)
  const key = `partitioned-${Date.now()}`
  await client('ap-south').execute('INSERT INTO grey_lab.kv (k, v) VALUES (?, ?)', [key, 'local'], {
    prepare: true,
    consistency: types.consistencies.localQuorum,
  })
  const row = (
    await client('ap-south').execute('SELECT v FROM grey_lab.kv WHERE k = ?', [key], {
      prepare: true,
      consistency: types.consistencies.localOne,
    })
  ).first()
  t.equal(row?.get('v'), 'local')
  await t.rejects(
    client('ap-south').execute('INSERT INTO grey_lab.kv (k, v) VALUES (?, ?)', [key, 'everywhere'], {
      prepare: true,
      consistency: types.consistencies.eachQuorum,
      readTimeout: 15_000,
    }),
    'EACH_QUORUM needs the other DCs, which are cut off',
  )
  labCli('heal')
})

t.test("the lab's demo shows a write reaching every region after its one-way delay", async (t) => {
  const out = labCli('up', '--demo')
  t.notMatch(out, /started in/, 'the lab was already up: up --demo only runs the demo')
  const after = (section: string, region: string): number => {
    const m = new RegExp(`${section}[\\s\\S]*?\\n\\s+${region}\\s+.*visible after (\\d+) ms`).exec(out)
    return m ? Number(m[1]) : NaN
  }
  const pgSection = 'PostgreSQL primary in us-east'
  const cqlSection = 'Cassandra write at LOCAL_ONE'
  t.ok(after(pgSection, 'eu-west') >= 40, `PostgreSQL eu-west after ${after(pgSection, 'eu-west')} ms`)
  t.ok(after(pgSection, 'ap-south') >= 90, `PostgreSQL ap-south after ${after(pgSection, 'ap-south')} ms`)
  t.ok(after(cqlSection, 'eu-west') >= 40, `Cassandra eu-west after ${after(cqlSection, 'eu-west')} ms`)
  t.ok(after(cqlSection, 'ap-south') >= 90, `Cassandra ap-south after ${after(cqlSection, 'ap-south')} ms`)
  t.match(out, /a synchronous commit, which waits for eu-west, took (\d+) ms/)
  t.match(out, /us-east\s+http:\/\/127\.0\.0\.1:\d+\/readyz → 200/)
  t.comment(out.slice(out.indexOf('demo:')))
})
