// Raft between real Grey processes, one per region of the test lab, across its WAN emulator: kill -9 of the
// leader again and again, timing the survivors' election (p50/p99 reported); the killed Grey restarts from its
// disk and catches up; a rules change through one member shows on all; a fourth Grey joins as a learner; a
// partitioned region cannot commit and says so in /status.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import type { RaftServerStatus } from '../../src/consensus/raft-server.js'
import { greyLabConfig } from '../../src/lab/grey-lab-config.js'
import { labPlan, regionPlan } from '../../src/lab/lab-plan.js'
import { readLabState } from '../../src/lab/lab-state.js'
import { freePort } from '../fixtures/free-port.js'
import { ensureTestLab, GREY, labCli, ROOT, TEST_LAB_DIR, TEST_LAB_SLOT } from '../fixtures/test-lab.js'

const KILLS = Number(process.env.GREY_RAFT_LAB_KILLS ?? 20)
const lab = await ensureTestLab()
const token = lab.admin.token
const REGIONS = Object.keys(lab.regions)
const adminOf = (region: string): string => lab.regions[region]?.grey.admin as string
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface GreyStatus {
  raft: RaftServerStatus
  cluster: { rules_version: number; rules: unknown[]; primary_region: string }
}

/** A Grey's /status, or null while it does not answer. */
async function status(admin: string): Promise<GreyStatus | null> {
  try {
    const res = await fetch(`${admin}/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(1000) })
    return res.ok ? ((await res.json()) as GreyStatus) : null
  } catch {
    return null
  }
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== null && value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** The leader's region once every region's Grey follows it and has applied what it committed. */
async function stableLeader(): Promise<{ region: string; status: GreyStatus }> {
  return until('a leader that every region follows and has caught up with', async () => {
    const all = await Promise.all(REGIONS.map((r) => status(adminOf(r))))
    const i = all.findIndex((s) => s?.raft.role === 'leader')
    const leader = all[i]
    if (leader === undefined || leader === null) return null
    const followed = all.every((s) => s !== null && s.raft.leader === leader.raft.nodeId && s.raft.appliedIndex >= leader.raft.commitIndex)
    return followed ? { region: REGIONS[i] as string, status: leader } : null
  })
}

/** `grey ARGS…` from dist, asynchronously; its exit code and output. */
function grey(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [GREY, ...args], { cwd: ROOT })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  return once(child, 'close').then(([code]) => ({ code: code as number | null, out }))
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
}

t.teardown(() => {
  labCli('heal')
})

t.test('the lab’s three Greys elect one leader over the WAN', async (t) => {
  const { region, status: s } = await stableLeader()
  t.match(s.raft, { role: 'leader', quorum: { voters: 3, canCommit: true } })
  t.comment(`leader: ${s.raft.nodeId} (${region}), term ${s.raft.term}`)
})

t.test('a rules change through one member is applied on all', async (t) => {
  const { region: leaderRegion, status: before } = await stableLeader()
  const via = REGIONS.find((r) => r !== leaderRegion) as string
  const file = join(TEST_LAB_DIR, 'raft-lab-rules.yaml')
  writeFileSync(file, `- match: {table: raft_lab_${Date.now()}}\n  consistency: strong\n`)
  const r = await grey('cluster', 'rules', 'apply', file, '--admin', adminOf(via), '--token', token)
  t.equal(r.code, 0, 'grey cluster rules apply exits 0', { output: r.out })
  t.match(r.out, /committed at raft index \d+/)
  const version = before.cluster.rules_version + 1
  for (const region of REGIONS) {
    const s = await until(`${region} to apply rules version ${version}`, async () => {
      const s = await status(adminOf(region))
      return s !== null && s.cluster.rules_version === version ? s : null
    })
    t.match(s.cluster.rules, [{ consistency: 'strong' }], `${region} has the new rules`)
  }
})

t.test(`kill -9 of the leader, ${KILLS} times: a new leader, and the killed Grey catches up from its disk`, async (t) => {
  const electionMs: number[] = []
  for (let round = 0; round < KILLS; round++) {
    const { region, status: before } = await stableLeader()
    const survivors = REGIONS.filter((r) => r !== region)
    const pid = readLabState(TEST_LAB_DIR).components[`grey:${region}`]?.pid as number
    const t0 = performance.now()
    process.kill(pid, 'SIGKILL')
    await until(
      'a survivor to lead',
      async () => {
        const all = await Promise.all(survivors.map((r) => status(adminOf(r))))
        return all.some((s) => s?.raft.role === 'leader' && s.raft.term > before.raft.term)
      },
      10_000,
      5,
    )
    electionMs.push(Math.round(performance.now() - t0))
    labCli('restart', `grey:${region}`)
    const recovered = await until('the restarted Grey to answer', () => status(adminOf(region)))
    t.ok(
      recovered.raft.lastIndex >= before.raft.lastIndex && recovered.raft.term >= before.raft.term,
      `round ${round + 1}: ${region} came back with its log from disk (last index ${recovered.raft.lastIndex})`,
    )
  }
  await stableLeader()
  const sorted = [...electionMs].sort((a, b) => a - b)
  const p50 = quantile(sorted, 0.5)
  const p99 = quantile(sorted, 0.99)
  t.comment(`kill -9 of the leader → new leader, ${sorted.length} kills: p50 ${p50} ms, p99 ${p99} ms, max ${sorted.at(-1)} ms`)
  t.comment(`all: ${electionMs.join(', ')} ms`)
  // The seed card's goal is 1.5 s (the election timeout is randomised up to 1 s, plus two WAN round trips). Times are
  // reported above, not asserted: on a loaded 2-core CI machine a timing assertion would test the machine (STYLE §8).
  t.equal(electionMs.length, KILLS, `every kill was followed by a new leader within 10 s`)
})

t.test('a fourth Grey joins as a learner and applies the same state', async (t) => {
  const plan = labPlan({ dir: TEST_LAB_DIR, slot: TEST_LAB_SLOT })
  const config = parse(greyLabConfig(plan, regionPlan(plan, 'us-east'))) as {
    proxy: { instance_id: string; listen: Record<string, string> }
    admin: { listen: string }
    consensus: { raft: { node_id: string; listen: string; data_dir: string } }
  }
  const [raftPort, adminPort] = [await freePort(), await freePort()]
  const dir = join(TEST_LAB_DIR, 'grey', 'us-east-learner')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  config.proxy.instance_id = 'grey-us-east-learner'
  config.proxy.listen = {}
  config.admin.listen = `127.0.0.1:${adminPort}`
  config.consensus.raft = {
    ...config.consensus.raft,
    node_id: 'grey-us-east-learner',
    listen: `127.0.0.1:${raftPort}`,
    data_dir: join(dir, 'raft'),
  }
  const configPath = join(dir, 'grey.yaml')
  writeFileSync(configPath, stringify(config))
  const child: ChildProcess = spawn(process.execPath, [GREY, 'proxy', '--config', configPath], { stdio: 'ignore' })
  t.teardown(async () => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const admin = `http://127.0.0.1:${adminPort}`
  const alone = await until('the learner Grey to start', () => status(admin))
  t.match(alone.raft, { role: 'learner', leader: null })

  const { region: leaderRegion } = await stableLeader()
  const via = REGIONS.find((r) => r !== leaderRegion) as string
  const added = await grey(
    'cluster',
    'add-learner',
    'grey-us-east-learner',
    `127.0.0.1:${raftPort}`,
    '--region',
    'us-east',
    '--admin',
    adminOf(via),
    '--token',
    token,
  )
  t.equal(added.code, 0, 'grey cluster add-learner exits 0', { output: added.out })
  const { status: leader } = await stableLeader()
  const learner = await until('the learner to catch up', async () => {
    const s = await status(admin)
    return s !== null && s.raft.appliedIndex >= leader.raft.commitIndex && s.raft.leader !== null ? s : null
  })
  t.same(learner.cluster, leader.cluster, 'the same cluster state as the leader')
  t.match(
    leader.raft.members.find((m) => m.id === 'grey-us-east-learner') ??
      (await status(adminOf(leaderRegion)))?.raft.members.find((m) => m.id === 'grey-us-east-learner'),
    { role: 'learner' },
  )
  const removed = await grey('cluster', 'remove', 'grey-us-east-learner', '--admin', adminOf(via), '--token', token)
  t.equal(removed.code, 0, 'grey cluster remove exits 0', { output: removed.out })
})

t.test('a partitioned region cannot commit and says so; it catches up after the heal', async (t) => {
  const { region } = await stableLeader()
  // Cut off the leader's own region: it must step down, and the other two go on without it.
  labCli('partition', region)
  const cut = await until('the partitioned Grey to say it cannot commit', async () => {
    const s = await status(adminOf(region))
    // The others' last contact can outlive its election timeout by a little: wait until it hears no one.
    return s !== null && !s.raft.quorum.canCommit && s.raft.leader === null && s.raft.quorum.reachable === 1 ? s : null
  })
  t.match(cut.raft.quorum, { canCommit: false, reason: /no leader: this member hears 1 of 3 voters/ })
  t.not(cut.raft.role, 'leader')
  const refused = await grey('cluster', 'set-primary-region', 'us-east', '--admin', adminOf(region), '--token', token)
  t.not(refused.code, 0)
  t.match(refused.out, /nothing was proposed: no leader/)
  const other = REGIONS.find((r) => r !== region) as string
  const majority = await until('the majority to elect a leader', async () => {
    const s = await status(adminOf(other))
    return s !== null && s.raft.quorum.canCommit ? s : null
  })
  t.match(majority.raft.quorum, { canCommit: true })
  const file = join(TEST_LAB_DIR, 'raft-lab-rules.yaml')
  writeFileSync(file, `- match: {table: during_partition}\n  consistency: eventual\n`)
  const applied = await grey('cluster', 'rules', 'apply', file, '--admin', adminOf(other), '--token', token)
  t.equal(applied.code, 0, 'the majority commits a rules change', { output: applied.out })
  labCli('heal', region)
  const { status: leader } = await stableLeader()
  const healed = await status(adminOf(region))
  t.same(healed?.cluster, leader.cluster, 'after the heal it applied what the majority committed')
})
