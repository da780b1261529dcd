import t from 'tap'
import { endpointText, labPlan, LAB_REGIONS, oneWayDelayMs, reachFrom, regionPlan } from '../../src/lab/lab-plan.js'
import { labWanPlan } from '../../src/lab/wan/lab-wan-plan.js'
import { greyLabConfig } from '../../src/lab/grey-lab-config.js'
import { parseConfig } from '../../src/config/load-config.js'

t.test("one-way delays are the seed card's, symmetric, zero inside a region", async (t) => {
  const cases: Array<[string, string, number]> = [
    ['us-east', 'eu-west', 40],
    ['eu-west', 'us-east', 40],
    ['us-east', 'ap-south', 90],
    ['ap-south', 'us-east', 90],
    ['eu-west', 'ap-south', 75],
    ['ap-south', 'eu-west', 75],
    ['eu-west', 'eu-west', 0],
  ]
  for (const [from, to, ms] of cases) t.equal(oneWayDelayMs(from, to), ms, `${from} → ${to}`)
  t.throws(() => oneWayDelayMs('us-east', 'mars'), /no WAN delay is defined between us-east and mars/)
})

t.test('every port and address of two labs is distinct, so the user lab and the test lab coexist', async (t) => {
  const seen = new Map<string, string>()
  for (const slot of [0, 1, 2]) {
    const plan = labPlan({ dir: `/tmp/lab-${slot}`, slot })
    const wan = labWanPlan(plan)
    const endpoints: Array<[string, string]> = [[`wan control ${slot}`, endpointText(plan.wanControl)]]
    for (const r of plan.regions) {
      endpoints.push(
        [`${slot} ${r.name} pg`, endpointText(r.pg)],
        [`${slot} ${r.name} redis`, endpointText(r.redis)],
        [`${slot} ${r.name} cassandra`, endpointText(r.cassandra.listen)],
      )
      for (const [k, e] of Object.entries(r.grey)) endpoints.push([`${slot} ${r.name} grey ${k}`, endpointText(e)])
    }
    for (const relay of wan.relays) endpoints.push([`${slot} relay ${relay.name}`, endpointText(relay.listen)])
    for (const [what, where] of endpoints) {
      t.notOk(seen.has(where), `${what} at ${where} collides with ${seen.get(where) ?? ''}`)
      seen.set(where, what)
    }
  }
})

t.test('the WAN plan relays every cross-region path once, plus Cassandra internode by source address', async (t) => {
  const plan = labPlan({ dir: '/tmp/lab', slot: 1 })
  const wan = labWanPlan(plan)
  t.equal(wan.relays.length, 6 * 3 + 3)
  const apToUs = wan.relays.find((r) => r.name === 'ap-south→us-east pg')
  t.same(apToUs?.target, regionPlan(plan, 'us-east').pg)
  t.same(apToUs?.listen, reachFrom(plan, 'ap-south', 'us-east', 'pg'))
  const internode = wan.relays.filter((r) => r.from === null)
  t.same(
    internode.map((r) => r.listen.host),
    ['127.21.2.1', '127.21.2.2', '127.21.2.3'],
  )
  t.same(wan.cassandraPeers, { '127.21.2.1': 'us-east', '127.21.2.2': 'eu-west', '127.21.2.3': 'ap-south' })
  t.same(reachFrom(plan, 'eu-west', 'eu-west', 'pg'), regionPlan(plan, 'eu-west').pg, 'local is direct')
  t.throws(() => regionPlan(plan, 'mars'), /unknown region "mars"/)
})

t.test("each region's generated Grey config validates and points at its own region's view", async (t) => {
  const plan = labPlan({ dir: '/tmp/lab', slot: 0 })
  for (const region of plan.regions) {
    const config = parseConfig(greyLabConfig(plan, region), {}, `${region.name}.yaml`)
    t.equal(config.proxy.region, region.name)
    t.equal(config.cluster.primary_region, 'us-east')
    t.same(Object.keys(config.cluster.regions), [...LAB_REGIONS])
    const usEastPg = config.cluster.regions['us-east']?.databases.postgres
    const expected = reachFrom(plan, region.name, 'us-east', 'pg')
    t.same(
      { host: usEastPg?.host, port: usEastPg?.port },
      expected,
      `${region.name} reaches the primary ${region.name === 'us-east' ? 'directly' : 'through its relay'}`,
    )
    t.equal(config.consensus.raft.peers.length, 3)
    t.equal(config.consensus.raft.election_timeout, 500)
    t.equal(config.consensus.raft.heartbeat_interval, 150)
    t.same(config.replication.postgres.synchronous_standbys, ['eu-west'])
  }
})
