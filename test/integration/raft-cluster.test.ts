// Three Grey Raft servers in this process, one per lab region, talking through the lab's WAN emulator (the seed
// card's one-way delays, partitions that hang links): election, a rules change proposed on a follower, leader
// stops with the time to a new leader measured, restarts from disk, a learner joining through a snapshot, and a
// partitioned minority that cannot commit and says so.
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { parseConfig } from '../../src/config/load-config.js'
import { clusterView } from '../../src/consensus/cluster-view.js'
import { createRaftMetrics } from '../../src/consensus/raft-metrics.js'
import { raftNodeId } from '../../src/consensus/raft-node-id.js'
import { RaftServer, type RaftPeerOption, type RaftServerOptions } from '../../src/consensus/raft-server.js'
import { WanEmulator, type WanPlan } from '../../src/lab/wan/wan-emulator.js'
import type { RelaySpec } from '../../src/lab/wan/wan-relay.js'
import { freePort } from '../fixtures/free-port.js'

const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
type Region = (typeof REGIONS)[number]
const SECRET = 'raft-cluster-test-shared-secret'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const log = pino({ level: process.env.GREY_TEST_LOG ?? 'silent' })
const base = mkdtempSync(join(tmpdir(), 'grey-raft-cluster-'))

async function until<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== null && value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

// Every server listens directly; each cross-region path goes through a relay of the WAN emulator.
const raftPort = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await freePort()] as const))) as Record<Region, number>
const relays: RelaySpec[] = []
const peersFrom = {} as Record<Region, RaftPeerOption[]>
for (const from of REGIONS) {
  peersFrom[from] = []
  for (const to of REGIONS) {
    let port = raftPort[to]
    if (from !== to) {
      port = await freePort()
      relays.push({
        name: `${from}→${to} raft`,
        listen: { host: '127.0.0.1', port },
        target: { host: '127.0.0.1', port: raftPort[to] },
        from,
        to,
      })
    }
    peersFrom[from].push({ id: `grey-${to}`, address: `127.0.0.1:${port}`, region: to })
  }
}
const plan: WanPlan = {
  relays,
  cassandraPeers: {},
  jitterMs: 0,
  control: { host: '127.0.0.1', port: await freePort() },
  statePath: join(base, 'wan-state.json'),
  regions: [...REGIONS],
}
const wan = new WanEmulator(plan, log)
await wan.start()

const registry = new Registry()
const metrics = createRaftMetrics(registry)
const clocks = new Map<string, HybridLogicalClock>()

function options(region: Region, overrides: Partial<RaftServerOptions> = {}): RaftServerOptions {
  const name = overrides.name ?? `grey-${region}`
  const clock = clocks.get(name) ?? new HybridLogicalClock()
  clocks.set(name, clock)
  return {
    name,
    region,
    listen: `127.0.0.1:${raftPort[region]}`,
    peers: peersFrom[region],
    electionTimeoutMs: 500,
    heartbeatIntervalMs: 150,
    dataDir: join(base, name),
    secret: SECRET,
    clock,
    log: log.child({ node: name }),
    // Small, so that the learner below is brought up to date by a snapshot.
    snapshotEveryEntries: 8,
    proposalTimeoutMs: 4000,
    ...(region === 'us-east' ? { metrics } : {}),
    ...overrides,
  }
}

const servers = new Map<Region, RaftServer>()
for (const region of REGIONS) servers.set(region, await RaftServer.start(options(region)))
t.teardown(async () => {
  for (const server of servers.values()) await server.stop()
  await wan.close()
})

const running = (): RaftServer[] => [...servers.values()]
const leaderOf = (among: RaftServer[] = running()): RaftServer | undefined => among.find((s) => s.status().role === 'leader')
const regionOf = (server: RaftServer): Region => REGIONS.find((r) => servers.get(r) === server) as Region

/** Waits for one leader that every running member follows, and returns it. */
async function stableLeader(timeoutMs = 10_000): Promise<RaftServer> {
  return until(
    'a leader every member follows',
    () => {
      const leader = leaderOf()
      return leader !== undefined && running().every((s) => s.status().leader === leader.name) ? leader : null
    },
    timeoutMs,
  )
}

const caughtUp = (server: RaftServer, leader: RaftServer): boolean =>
  server.status().appliedIndex >= leader.status().commitIndex && server.status().appliedIndex > 0

t.test('three members across the WAN elect one leader', async (t) => {
  const t0 = Date.now()
  const leader = await stableLeader()
  t.comment(`first leader ${leader.name} after ${Date.now() - t0} ms`)
  const status = leader.status()
  t.match(status, { role: 'leader', leader: leader.name, quorum: { voters: 3, needed: 2, canCommit: true } })
  t.equal(status.members.length, 3)
  const followers = running().filter((s) => s !== leader)
  await until('heartbeats answered', () => leader.status().members.every((m) => m.self || (m.lastContactAgoMs ?? 1e9) < 500))
  t.ok(
    leader.status().members.every((m) => m.self || m.matchIndex !== null),
    'the leader knows each member’s match index',
  )
  t.ok(
    followers.every((f) => f.status().quorum.canCommit && /following grey-/.test(f.status().quorum.reason)),
    'followers say whom they follow',
  )
  await until('every member applied the leader’s first entry', () => running().every((s) => caughtUp(s, leader)))
  const metricsText = await registry.metrics()
  t.match(metricsText, /grey_raft_term \d+/)
  t.match(metricsText, /grey_raft_leader_changes_total [1-9]/)
  t.match(metricsText, /grey_raft_commit_index [1-9]/)
  t.match(metricsText, /grey_raft_append_latency_seconds_count [1-9]/)
})

t.test('a rules change proposed on a follower is applied on every member', async (t) => {
  const leader = await stableLeader()
  const follower = running().find((s) => s !== leader) as RaftServer
  const rules = [{ match: { table: 'orders' }, consistency: 'strong' as const }]
  const outcome = await follower.propose({ type: 'apply-rules', rules })
  t.match(outcome, { status: 'applied', error: null })
  t.same(follower.state.rules, { version: 1, rules }, 'applied on the member that proposed it before it answered')
  await until('every member applied it', () => running().every((s) => s.state.rules?.version === 1))
  const config = parseConfig(
    'proxy: {region: eu-west}\ncluster: {primary_region: us-east, regions: {us-east: {}, eu-west: {}, ap-south: {}}}',
  )
  t.same(clusterView(config, follower.state).rules, { version: 1, rules })
  t.match(await follower.propose({ type: 'set-pg-primary', cluster: 'grey', region: 'eu-west', expectedEpoch: 0 }), {
    status: 'applied',
    error: null,
  })
  t.match(await leader.propose({ type: 'set-pg-primary', cluster: 'grey', region: 'ap-south', expectedEpoch: 0 }), {
    status: 'applied',
    error: /failover epoch of grey is 1, not 0/,
  })
  t.same(leader.state.pgPrimaries, { grey: { region: 'eu-west', epoch: 1 } }, 'a stale epoch changes nothing')
})

t.test('a stopped leader is replaced; restarted, it recovers from its disk and catches up', async (t) => {
  const failoverMs: number[] = []
  for (let round = 0; round < 5; round++) {
    const leader = await stableLeader()
    const region = regionOf(leader)
    const before = leader.status()
    await leader.stop()
    const t0 = Date.now()
    servers.delete(region)
    const next = await until('a new leader', () => leaderOf(), 5000)
    failoverMs.push(Date.now() - t0)
    t.not(next.name, leader.name)
    // A change committed while it is away must reach it after the restart.
    const change = await next.propose({ type: 'set-region-mode', region: 'ap-south', mode: round % 2 === 0 ? 'read-only' : 'normal' })
    t.match(change, { status: 'applied' })
    const restarted = await RaftServer.start(options(region))
    servers.set(region, restarted)
    const recovered = restarted.status()
    t.ok(recovered.term >= before.term && recovered.lastIndex >= before.lastIndex, `round ${round}: term and log came back from disk`)
    await until('the restarted member caught up', () => caughtUp(restarted, next))
    t.same(restarted.state, next.state, `round ${round}: same state as the leader`)
  }
  failoverMs.sort((a, b) => a - b)
  t.comment(`time to a new leader after a leader stop, over ${failoverMs.length} stops: ${failoverMs.join(', ')} ms`)
  t.ok(
    failoverMs.every((ms) => ms < 3000),
    'every failover well within the timeout',
  )
})

t.test('a learner joins, is brought up to date by a snapshot, is promoted and removed', async (t) => {
  const leader = await stableLeader()
  // Enough entries for every member to have compacted its log at least once.
  for (let i = 0; i < 10; i++) await leader.propose({ type: 'set-primary-region', region: i % 2 === 0 ? 'eu-west' : 'us-east' })
  await until('everyone applied', () => running().every((s) => caughtUp(s, leader)))
  t.ok(leader.status().snapshotIndex > 0, 'the leader compacted its log')
  const learnerPort = await freePort()
  const learner = await RaftServer.start(
    options('us-east', { name: 'grey-us-east-learner', listen: `127.0.0.1:${learnerPort}`, metrics: undefined }),
  )
  t.teardown(() => learner.stop())
  t.match(learner.status(), { role: 'learner', leader: null })
  const via = running().find((s) => s !== leader) as RaftServer
  const joined = await via.addLearner('grey-us-east-learner', `127.0.0.1:${learnerPort}`, 'us-east')
  t.match(joined, { status: 'applied', error: null })
  await until(
    'the learner applied the same state',
    () => caughtUp(learner, leader) && learner.state.appliedIndex === leader.state.appliedIndex,
  )
  t.same(learner.state.rules, leader.state.rules)
  t.same(learner.state.primaryRegion, leader.state.primaryRegion)
  t.ok(learner.status().snapshotIndex > 0, 'it started from the leader’s snapshot')
  t.match(
    leader.status().members.find((m) => m.id === 'grey-us-east-learner'),
    { role: 'learner', address: `127.0.0.1:${learnerPort}`, region: 'us-east' },
  )
  t.match(await via.addLearner('grey-us-east-learner', `127.0.0.1:${learnerPort}`, 'us-east'), {
    status: 'refused',
    error: /already a learner/,
  })
  const change = await via.propose({ type: 'set-region-mode', region: 'eu-west', mode: 'quarantined' })
  await until('the learner applied a later change', () => learner.state.regionModes['eu-west'] === 'quarantined')
  t.match(change, { status: 'applied' })

  t.match(await leader.changeMembership({ kind: 'promote-learner', nodeId: raftNodeId('grey-us-east-learner') }), { status: 'applied' })
  await until('four voters', () => learner.status().role === 'follower' && leader.status().quorum.voters === 4)
  t.match(await learner.changeMembership({ kind: 'remove-node', nodeId: raftNodeId('grey-us-east-learner') }), { status: 'applied' })
  await until('three voters again, everywhere', () => running().every((s) => s.status().quorum.voters === 3))
  t.equal(leaderOf()?.state.members['grey-us-east-learner'], undefined, 'its registration went with it')
})

t.test('a partitioned minority cannot commit and says so; it catches up after the heal', async (t) => {
  const leader = await stableLeader()
  const cutOff = running().find((s) => s !== leader) as RaftServer
  wan.partition(regionOf(cutOff))
  // It loses its leader after its own (randomised) election timeout, while the others' last contact may still be
  // inside the window it counts as heard: wait until both have run out.
  const status = await until('the cut-off member to see it has no leader and hears no one', () => {
    const s = cutOff.status()
    return s.quorum.canCommit || s.leader !== null || s.quorum.reachable !== 1 ? null : s
  })
  t.match(status.quorum, { canCommit: false, reachable: 1, needed: 2, reason: /no leader: this member hears 1 of 3 voters/ })
  t.equal(status.leader, null)
  const refused = await cutOff.propose({ type: 'set-primary-region', region: 'ap-south' }, 1500)
  t.match(refused, { status: 'unavailable', error: /nothing was proposed: no leader/ })
  const majority = await leader.propose({ type: 'set-primary-region', region: 'us-east' })
  t.match(majority, { status: 'applied' }, 'the majority side still commits')
  t.ok(leader.status().quorum.canCommit)
  wan.heal()
  await until('the healed member caught up', () => caughtUp(cutOff, leader) && cutOff.status().quorum.canCommit, 15_000)
  t.same(cutOff.state, leader.state)
})

t.test('membership refusals and shutdown answers', async (t) => {
  const leader = await stableLeader()
  t.match(await leader.changeMembership({ kind: 'promote-learner', nodeId: 77 }), { status: 'refused', error: /node 77 is not a learner/ })
  const server = running().find((s) => s !== leader) as RaftServer
  const region = regionOf(server)
  await server.stop()
  await server.stop()
  t.match(server.status(), { role: 'stopped', quorum: { canCommit: false, reason: 'raft is stopped' } })
  t.match(await server.propose({ type: 'set-primary-region', region: 'us-east' }, 200), { status: 'unavailable' })
  servers.set(region, await RaftServer.start(options(region)))
  await stableLeader()
})
