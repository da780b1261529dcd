// The Raft server's edges on loopback: what it refuses at start-up, a lone voter, recovery from a torn log,
// proposals that time out, a disk that fails under it, and the config mapping.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { raftNodeId } from '../../src/consensus/raft-node-id.js'
import { RaftServer, raftServerOptionsFromConfig, type RaftServerOptions } from '../../src/consensus/raft-server.js'
import { parseConfig } from '../../src/config/load-config.js'
import { freePort } from '../fixtures/free-port.js'

const base = mkdtempSync(join(tmpdir(), 'grey-raft-server-'))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  return { log: pino({ level: 'info' }, stream), lines }
}

async function until<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== null && value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Three voters on loopback with these timers, stopped at the end of `t`; resolves once all follow one leader. */
async function three(
  t: Test,
  names: [string, string, string],
  timers: { electionTimeoutMs: number; heartbeatIntervalMs: number },
): Promise<{ servers: RaftServer[]; leader: RaftServer }> {
  const ports = [await freePort(), await freePort(), await freePort()]
  const peers = names.map((id, i) => ({ id, address: `127.0.0.1:${ports[i]}` }))
  const servers = await Promise.all(
    names.map((name, i) =>
      RaftServer.start({
        name,
        listen: `127.0.0.1:${ports[i]}`,
        peers,
        ...timers,
        dataDir: join(base, name),
        secret: 'raft-server-test-secret',
        clock: new HybridLogicalClock(),
        log: pino({ level: 'silent' }),
      }),
    ),
  )
  t.teardown(async () => {
    for (const s of servers) await s.stop()
  })
  const leader = await until('a leader followed by all', () => {
    const l = servers.find((s) => s.status().role === 'leader')
    return l !== undefined && servers.every((s) => s.status().leader === l.name) ? l : null
  })
  return { servers, leader }
}

async function lone(name: string, overrides: Partial<RaftServerOptions> = {}): Promise<RaftServer> {
  const port = await freePort()
  return RaftServer.start({
    name,
    listen: `127.0.0.1:${port}`,
    peers: [{ id: name, address: `127.0.0.1:${port}` }],
    electionTimeoutMs: 100,
    heartbeatIntervalMs: 25,
    dataDir: join(base, name),
    secret: undefined,
    clock: new HybridLogicalClock(),
    log: pino({ level: 'silent' }),
    ...overrides,
  })
}

t.test('start-up refuses colliding names and peers without a secret', async (t) => {
  await t.rejects(
    lone('grey-319', { peers: [{ id: 'grey-883734', address: '127.0.0.1:1' }] }),
    /"grey-319" and "grey-883734" hash to the same node id/,
  )
  await t.rejects(lone('a', { peers: [{ id: 'b', address: '127.0.0.1:1' }] }), /consensus.raft.secret is required/)
  await t.rejects(
    lone('c', { electionTimeoutMs: 0, heartbeatIntervalMs: 0 }),
    /electionTicks must be an integer/,
    'a core that refuses its options leaves the directory unlocked',
  )
  const again = await lone('c')
  await again.stop()
})

t.test('a lone voter without a secret leads itself, applies, and recovers a torn log', async (t) => {
  const { log, lines } = capture()
  const server = await lone('solo', { log })
  await until('it leads', () => server.status().role === 'leader')
  t.match(server.status(), { leader: 'solo', quorum: { voters: 1, needed: 1, reachable: 1, canCommit: true } })
  t.equal(server.address, server.status().members[0]?.address)
  for (const region of ['a', 'b', 'c']) t.match(await server.propose({ type: 'set-primary-region', region }), { status: 'applied' })
  t.equal(server.state.primaryRegion, 'c')
  const lastIndex = server.status().lastIndex
  await server.stop()
  const logPath = join(base, 'solo', 'raft.log')
  truncateSync(logPath, statSync(logPath).size - 3)
  const restarted = await lone('solo', { log })
  t.teardown(() => restarted.stop())
  t.ok(lines.some((l) => l.msg === 'raft log had a damaged tail (a torn write); cut it off' && l.level === 40))
  t.ok(lines.some((l) => l.msg === 'raft commit index pointed past the stored entries; lowered'))
  t.equal(restarted.status().lastIndex, lastIndex - 1, 'the torn last entry is gone')
  await until(
    'it leads again and re-applies what survived',
    () => restarted.status().role === 'leader' && restarted.state.primaryRegion === 'b',
  )
  t.pass('the state machine was rebuilt from the log on disk')
})

t.test('a disk that fails under the server stops it and says why', async (t) => {
  const { log, lines } = capture()
  const server = await lone('doomed', { log })
  await until('it leads', () => server.status().role === 'leader')
  rmSync(join(base, 'doomed'), { recursive: true, force: true })
  const outcome = await server.propose({ type: 'set-primary-region', region: 'x' }, 1000)
  // Either the proposal was taken and then the disk failed under it (unknown), or the failure came first, from
  // a tick's write, and nothing was proposed (unavailable): both are honest answers, which one is timing.
  t.match(outcome, { status: /^(unknown|unavailable)$/, error: /raft stopped after an error/ })
  t.match(server.status(), { role: 'stopped', failure: /ENOENT/, quorum: { canCommit: false, reason: /raft stopped after an error/ } })
  t.ok(lines.some((l) => l.level === 50 && /raft stopped: the log can no longer be written/.test(String(l.msg))))
  await server.stop()
})

t.test('proposals that cannot commit in time answer "unknown"; a learner name that collides is refused', async (t) => {
  const { servers, leader } = await three(t, ['p1', 'p2', 'p3'], { electionTimeoutMs: 300, heartbeatIntervalMs: 50 })
  const [f1, f2] = servers.filter((s) => s !== leader) as [RaftServer, RaftServer]
  t.match(await f1.addLearner('grey-319', '127.0.0.1:1', null), { status: 'applied' })
  await until('every member registered it', () => servers.every((s) => s.state.members['grey-319'] !== undefined))
  t.match(await f1.addLearner('grey-883734', '127.0.0.1:2', null), {
    status: 'refused',
    error: /hashes to the node id of member "grey-319"/,
  })
  t.match(await f1.changeMembership({ kind: 'remove-node', nodeId: raftNodeId('grey-319') }), { status: 'applied' })

  // Both followers stop: the leader appends but cannot commit, and keeps leading until check-quorum.
  await f1.stop()
  await f2.stop()
  t.match(await leader.propose({ type: 'set-primary-region', region: 'z' }, 150), {
    status: 'unknown',
    error: /was not committed within the timeout; it may still commit/,
  })
  const quorum = await until('the leader to see it lost its majority', () =>
    leader.status().quorum.canCommit ? null : leader.status().quorum,
  )
  t.match(quorum.reason, /leader without a majority: heard 1 of 3 voters \(needs 2\)|no leader/)
})

t.test('a follower whose leader vanished forwards in vain and answers "unknown"', async (t) => {
  const { servers, leader } = await three(t, ['q1', 'q2', 'q3'], { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 })
  const follower = servers.find((s) => s !== leader) as RaftServer
  await leader.stop()
  // Within the election timeout the follower still takes it for the leader and forwards to it.
  t.match(await follower.propose({ type: 'set-primary-region', region: 'y' }, 200), {
    status: 'unknown',
    error: /no answer from the leader/,
  })
})

t.test('leadership transfer over real sockets: the named voter leads, a committed entry follows; refusals name the cause', async (t) => {
  const { servers, leader } = await three(t, ['x1', 'x2', 'x3'], { electionTimeoutMs: 300, heartbeatIntervalMs: 50 })
  const target = servers.find((s) => s !== leader) as RaftServer
  const term = leader.status().term
  t.equal(await leader.transferLeadership(leader.id), `grey: raft node ${leader.id} leads already; nothing to transfer`)
  t.match(await target.transferLeadership(leader.id), /is not the leader/, 'only the leader hands over')
  t.equal(await leader.transferLeadership(target.id), null, 'started')
  await until(`${target.name} to lead, followed by all`, () =>
    servers.every((s) => s.status().leader === target.name) && target.status().role === 'leader' ? true : null,
  )
  t.equal(target.status().term, term + 1, 'one election, in the next term')
  t.match(await leader.propose({ type: 'set-primary-region', region: 'w' }), { status: 'applied' }, 'the old leader forwards to the new')
  await target.stop()
  t.equal(await target.transferLeadership(leader.id), 'grey: this Grey is shutting down')
})

t.test('options from a validated config', (t) => {
  const config = parseConfig(`
proxy: {region: us-east}
cluster: {primary_region: us-east, regions: {us-east: {}}}
consensus:
  raft:
    peers: [{id: grey-us-east, address: "localhost:7400"}]
`)
  const clock = new HybridLogicalClock()
  const log = pino({ level: 'silent' })
  t.match(raftServerOptionsFromConfig(config.consensus.raft, { clock, log, metrics: undefined, region: 'us-east' }), {
    name: 'grey-us-east',
    listen: 'localhost:7400',
    peers: [{ id: 'grey-us-east', address: 'localhost:7400' }],
    electionTimeoutMs: 500,
    heartbeatIntervalMs: 150,
    dataDir: './data/grey-us-east/raft',
    secret: undefined,
    region: 'us-east',
  })
  t.end()
})
