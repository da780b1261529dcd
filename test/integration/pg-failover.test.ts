// PostgreSQL failover on a lab of its own (slot 2, without Cassandra; each scenario starts it afresh, since a failover
// leaves its topology changed). Three Greys run in this process (so their code is measured), configured as the lab
// configures its own and joined by Raft. Writers in every region write through their Grey all along; kill -9 of the
// us-east PostgreSQL must end with the eu-west synchronous standby promoted through the Raft log, writes flowing to
// it, and every acknowledged write present on it. Write unavailability is the longest wait between two acknowledged
// writes of a writer around the kill. The control makes eu-west asynchronous in PostgreSQL (synchronous_standby_names
// = ''), so commits are acknowledged before it has them: the same check must then find acknowledged writes lost.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { callAdmin } from '../../src/cli/cluster-command.js'
import { hostPort } from '../../src/config/host-port.js'
import { greyInProcess, run, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { GREY, pgSuperuser, ROOT, type LabJson } from '../fixtures/test-lab.js'
import { labPlan, reachFrom } from '../../src/lab/lab-plan.js'
import { spawn } from 'node:child_process'

/** The postgres system user: `grey cluster rejoin` runs pg_ctl and pg_rewind, which refuse to run as root. */
const postgresUser = (() => {
  const [, , uid, gid] =
    readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'))
      ?.split(':') ?? []
  return { uid: Number(uid), gid: Number(gid) }
})()

/** Like run(), as another system user. */
function runAs(
  user: { uid: number; gid: number },
  command: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { uid: user.uid, gid: user.gid, cwd: '/tmp' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

const SLOT = Number(process.env.GREY_FAILOVER_LAB_SLOT ?? 2)
const DIR = join(ROOT, '.lab-failover')
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
type Region = (typeof REGIONS)[number]
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
/** The writers' own timeout on a statement (node-postgres query_timeout). */
let clientQueryTimeoutMs = 5000
/** PostgreSQL processes a scenario stopped with SIGSTOP: continued before the lab goes down. */
let stoppedPids: number[] = []

/** The lab's us-east PostgreSQL processes: its postmaster and every child. */
function usEastPostgres(): number[] {
  const postmaster = Number(readFileSync(join(DIR, 'pg', 'us-east', 'data', 'postmaster.pid'), 'utf8').split('\n')[0])
  const children = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster
      } catch {
        return false
      }
    })
    .map(Number)
  return [postmaster, ...children]
}

/** The admin URL of the current scenario's ap-south Grey, for commands an operator runs against any Grey. */
let greyAdmin = ''

function lab(...args: string[]): string {
  const r = spawnSync(process.execPath, [GREY, 'lab', ...args, '--dir', DIR], { encoding: 'utf8', cwd: ROOT, timeout: 600_000 })
  if (r.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

async function connect(labJson: LabJson, address: string): Promise<pg.Client> {
  const { host, port } = hostPort(address)
  // A commit waiting for a standby across a partition waits forever: the client gives up after 5 s.
  const client = new pg.Client({ host, port, ...labJson.pg, connectionTimeoutMillis: 10_000, query_timeout: clientQueryTimeoutMs })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

interface Writer {
  name: string
  acked: number[]
  okAt: number[]
  errors: { at: number; code: string; message: string }[]
}

/** Inserts (writer, n) for n = 1, 2, … through a Grey, one at a time, reconnecting after an error. */
function startWriter(labJson: LabJson, grey: GreyInProcess, name: string, stop: () => boolean): { writer: Writer; done: Promise<void> } {
  const writer: Writer = { name, acked: [], okAt: [], errors: [] }
  const done = (async () => {
    let client: pg.Client | null = null
    for (let n = 1; !stop(); n++) {
      try {
        client ??= await connect(labJson, grey.pg)
        await client.query('INSERT INTO failover_acks (writer, n) VALUES ($1, $2)', [writer.name, n])
        writer.acked.push(n)
        writer.okAt.push(Date.now())
      } catch (err) {
        const e = err as { code?: string; message: string }
        writer.errors.push({ at: Date.now(), code: e.code ?? 'connection', message: e.message })
        await client?.end().catch(() => undefined)
        client = null
        await sleep(50)
      }
    }
    await client?.end().catch(() => undefined)
  })()
  return { writer, done }
}

interface ScenarioResult {
  /** What `inspect` found, after the writers stopped and before the lab went down. */
  inspected: Record<string, unknown>
  newPrimary: unknown
  writers: { name: string; gapMs: number; acked: number; lost: number[]; errors: Writer['errors'] }[]
  failovers: number
  inRecovery: boolean
  /** The Raft leader and term as the eu-west Grey saw them just before the fault, and when it first saw epoch 1. */
  raft: { before: RaftSeen; atPromotion: RaftSeen | null }
}

interface RaftSeen {
  leader: string | null
  term: number
}

/**
 * A fresh lab and three Greys; `prepare` runs before the writers start; then the fault: kill -9 of us-east's
 * PostgreSQL, or a partition of the us-east region.
 */
async function scenario(
  prepare: (labJson: LabJson) => Promise<void>,
  fault: 'kill' | 'stop' | 'partition' | 'in-before' | 'switchover' = 'kill',
  aroundFault: { before(labJson: LabJson): Promise<void>; after(): void } | null = null,
  inspect: (labJson: LabJson) => Promise<Record<string, unknown>> = async () => ({}),
): Promise<ScenarioResult> {
  if (existsSync(join(DIR, 'state.json'))) lab('down')
  rmSync(DIR, { recursive: true, force: true })
  lab('up', '--slot', String(SLOT), '--without', 'cassandra,grey')
  const labJson = JSON.parse(readFileSync(join(DIR, 'lab.json'), 'utf8')) as LabJson
  // The Greys are the lab's Raft members (their traffic crosses the WAN emulator, so a partition cuts it too).
  const greys = Object.fromEntries(
    await Promise.all(REGIONS.map(async (r) => [r, await greyInProcess(r, {}, { lab: { dir: DIR, slot: SLOT, raft: true } })] as const)),
  ) as Record<Region, GreyInProcess>
  greyAdmin = greys['ap-south'].admin
  try {
    const status = async (region: Region): Promise<{ raft: RaftSeen | null; cluster: Record<string, unknown> }> =>
      (await callAdmin({ url: greys[region].admin, token: labJson.admin.token }, 'GET', '/status')) as unknown as {
        raft: RaftSeen | null
        cluster: Record<string, unknown>
      }
    for (const deadline = Date.now() + 30_000; !(await status('eu-west')).raft?.leader; await sleep(200)) {
      if (Date.now() > deadline) throw new Error('no Raft leader among the Greys')
    }
    // A leader elected in us-east (the primary's region) hands over to another region (failover.raft_leader_off_primary_region).
    for (const deadline = Date.now() + 10_000; (await status('eu-west')).raft?.leader === 'grey-us-east'; await sleep(200)) {
      if (Date.now() > deadline) break
    }
    const setup = await connect(labJson, labJson.regions['us-east']!.pg.direct)
    await setup.query('CREATE TABLE IF NOT EXISTS failover_acks (writer text, n int, PRIMARY KEY (writer, n))')
    await setup.end()
    await prepare(labJson)

    let stopping = false
    let switchoverSaid = ''
    const writers = REGIONS.map((r) => startWriter(labJson, greys[r], `w-${r}`, () => stopping))
    await sleep(2000)
    const raftBefore = (await status('eu-west')).raft!
    const killStartedAt = Date.now()
    let raftAtPromotion: RaftSeen | null = null
    const promotionSeen = (async () => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && !stopping; await sleep(25)) {
        const seen = await status('eu-west').catch(() => null)
        if (((seen?.cluster.pg_primary as { epoch?: number } | undefined)?.epoch ?? 0) > 0) {
          raftAtPromotion = seen!.raft
          return
        }
      }
    })()
    // Not spawnSync: the Greys share this event loop.
    const args = fault === 'kill' ? ['kill', 'pg:us-east'] : ['partition', 'us-east']
    await aroundFault?.before(labJson)
    if (fault === 'stop') {
      stoppedPids = usEastPostgres()
      for (const pid of stoppedPids) process.kill(pid, 'SIGSTOP')
    } else if (fault === 'switchover') {
      // The operator's command, against the ap-south Grey (it need not be the leader's or either node's region).
      const cli = ['cluster', 'failover', '--to', 'eu-west', '--admin', greys['ap-south'].admin, '--token', labJson.admin.token]
      const done = await run(process.execPath, [GREY, ...cli])
      if (done.status !== 0) throw new Error(`grey ${cli.slice(0, 4).join(' ')} failed: ${done.stdout}${done.stderr}`)
      switchoverSaid = done.stdout
    } else if (fault !== 'in-before') {
      const killed = await run(process.execPath, [GREY, 'lab', ...args, '--dir', DIR])
      if (killed.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed: ${killed.stderr}`)
    }
    aroundFault?.after()
    const killedAt = Date.now()
    // Cut off, us-east's own writer is refused until the heal: only the others must write again.
    const resuming = fault === 'partition' ? writers.filter((w) => w.writer.name !== 'w-us-east') : writers
    try {
      for (const deadline = Date.now() + 30_000; ; await sleep(50)) {
        // Cut off, us-east's writer must also have been refused at least once (its first statement may wait for its timeout).
        const refused = fault !== 'partition' || writers[0]!.writer.errors.some((e) => e.code === '25006')
        if (refused && resuming.every(({ writer }) => writer.okAt.filter((at) => at > killedAt).length >= 3)) break
        if (Date.now() > deadline)
          throw new Error(`writes did not resume: ${JSON.stringify(writers.map((w) => w.writer.errors.slice(-3)))}`)
      }
    } finally {
      stopping = true
      await Promise.all(writers.map((w) => w.done))
    }
    await promotionSeen
    const primary = await connect(labJson, labJson.regions['eu-west']!.pg.direct)
    const { rows } = await primary.query<{ writer: string; n: number }>('SELECT writer, n FROM failover_acks')
    const recovery = await primary.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')
    await primary.end()
    const present = new Set(rows.map((r) => `${r.writer}/${r.n}`))
    const failovers = (await Promise.all(REGIONS.map((r) => greys[r].metrics())))
      .flatMap((m) => m.split('\n'))
      .filter((l) => l.startsWith('grey_failover_total{'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
    return {
      inspected: { ...(await inspect(labJson)), switchoverSaid },
      newPrimary: (await status('ap-south')).cluster.pg_primary,
      inRecovery: recovery.rows[0]!.r,
      failovers,
      raft: { before: { leader: raftBefore.leader, term: raftBefore.term }, atPromotion: raftAtPromotion },
      writers: writers.map(({ writer }) => {
        let gapMs = 0
        for (let i = 1; i < writer.okAt.length; i++) {
          if (writer.okAt[i]! > killStartedAt) gapMs = Math.max(gapMs, writer.okAt[i]! - writer.okAt[i - 1]!)
        }
        return {
          name: writer.name,
          gapMs,
          acked: writer.acked.length,
          lost: writer.acked.filter((n) => !present.has(`${writer.name}/${n}`)),
          errors: writer.errors.filter((e) => e.at > killStartedAt),
        }
      }),
    }
  } finally {
    for (const pid of stoppedPids) process.kill(pid, 'SIGCONT')
    stoppedPids = []
    await Promise.all(Object.values(greys).map((g) => g.stop()))
    try {
      lab('down')
    } catch (err) {
      // A PostgreSQL killed by hand (the control) can leave pg_ctl unsure; its processes are gone either way.
      t.comment(`lab down: ${(err as Error).message.split('\n')[0]}`)
    }
    rmSync(DIR, { recursive: true, force: true })
  }
}

const describe = (r: ScenarioResult['writers'][number]): string =>
  `${r.name}: ${r.acked} acknowledged, ${r.lost.length} lost, longest wait between acknowledgements ${r.gapMs} ms; errors: ` +
  ([...new Set(r.errors.map((e) => `${e.code} ${e.message.slice(0, 90)}`))].join(' | ') || 'none')

/**
 * The operator brings the old primary us-east back with `grey cluster rejoin`; then a row written on eu-west must
 * reach it. Stopped afterwards: started by the operator's command, the lab's `down` would not know to stop it.
 */
async function rejoinUsEast(labJson: LabJson): Promise<{ rejoinSaid: string; inRecovery: boolean | null; follows: boolean }> {
  const rejoined = await clusterRejoin(labJson, 'us-east')
  const marker = `after-cluster-rejoin-${Date.now()}`
  const euWest = await connect(labJson, labJson.regions['eu-west']!.pg.direct)
  await euWest.query('INSERT INTO failover_acks (writer, n) VALUES ($1, 1)', [marker])
  await euWest.end()
  const usEast = await pgSuperuser(labJson, 'us-east', SLOT).catch(() => null)
  try {
    const inRecovery = (await usEast?.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))?.rows[0]?.r ?? null
    const follows = await within(15_000, async () =>
      (await usEast?.query('SELECT 1 FROM failover_acks WHERE writer = $1', [marker]))?.rowCount === 1 ? true : undefined,
    )
    return { rejoinSaid: `${rejoined.stdout}${rejoined.stderr}`, inRecovery, follows: follows !== null }
  } finally {
    await usEast?.end()
    await runAs(postgresUser, '/usr/lib/postgresql/15/bin/pg_ctl', ['stop', '-m', 'immediate', '-D', join(DIR, 'pg', 'us-east', 'data')])
  }
}

/** `grey cluster rejoin REGION`, as an operator runs it on that node's host (the postgres user), toward eu-west. */
function clusterRejoin(labJson: LabJson, region: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const plan = labPlan({ dir: DIR, slot: SLOT })
  const upstream = reachFrom(plan, region, 'eu-west', 'pg')
  return runAs(postgresUser, process.execPath, [
    GREY,
    'cluster',
    'rejoin',
    region,
    '--pgdata',
    join(DIR, 'pg', region, 'data'),
    '--source',
    `host=/tmp/grey-lab-${SLOT} port=${hostPort(labJson.regions['eu-west']!.pg.direct).port} user=postgres dbname=postgres`,
    '--primary-conninfo',
    `host=${upstream.host} port=${upstream.port} user=${plan.replicationUser} password=${plan.replicationPassword} application_name=${region}`,
    '--slot',
    region.replaceAll('-', '_'),
    '--admin',
    greyAdmin,
    '--token',
    labJson.admin.token,
  ])
}

/** Polls `probe` every 200 ms until it returns a value (not undefined) or `ms` pass; the time it took, or null. */
async function within<T>(ms: number, probe: () => Promise<T | undefined>): Promise<{ value: T; ms: number } | null> {
  const started = Date.now()
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return { value, ms: Date.now() - started }
    if (Date.now() - started > ms) return null
    await sleep(200)
  }
}

/**
 * After the failover: the asynchronous ap-south standby streams from eu-west (its Grey repointed it), and the old
 * primary, started again, refuses writes (its Grey fenced it).
 */
async function afterKill(labJson: LabJson): Promise<Record<string, unknown>> {
  const relay = hostPort(labJson.wan.paths['ap-south->eu-west']!.pg)
  const apSouth = await pgSuperuser(labJson, 'ap-south', SLOT)
  const euWest = await connect(labJson, labJson.regions['eu-west']!.pg.direct)
  try {
    const streaming = await within(15_000, async () => {
      const r = await apSouth.query<{ status: string; sender_port: number }>('SELECT status, sender_port FROM pg_stat_wal_receiver')
      const row = r.rows[0]
      return row?.status === 'streaming' && row.sender_port === relay.port ? row : undefined
    })
    const marker = `after-failover-${Date.now()}`
    await euWest.query('INSERT INTO failover_acks (writer, n) VALUES ($1, 1)', [marker])
    const replicated = await within(10_000, async () =>
      (await apSouth.query('SELECT 1 FROM failover_acks WHERE writer = $1', [marker])).rowCount === 1 ? true : undefined,
    )
    const restarted = await run(process.execPath, [GREY, 'lab', 'restart', 'pg:us-east', '--dir', DIR])
    if (restarted.status !== 0) throw new Error(`grey lab restart pg:us-east failed: ${restarted.stderr}`)
    const fenced = await within(10_000, async () => {
      const old = await connect(labJson, labJson.regions['us-east']!.pg.direct)
      try {
        await old.query("INSERT INTO failover_acks (writer, n) VALUES ('old primary', 1)")
        return undefined
      } catch (err) {
        const e = err as { code?: string; message: string }
        if (e.code !== '25006') return undefined
        const names = (await old.query<{ s: string }>("SELECT current_setting('synchronous_standby_names') AS s")).rows[0]!.s
        return { code: e.code, message: e.message, synchronousStandbyNames: names }
      } finally {
        await old.end().catch(() => undefined)
      }
    })
    // The operator's other way back: `grey lab rejoin` (the lab's wrapper of the same rewind).
    const rejoined = await run(process.execPath, [GREY, 'lab', 'rejoin', 'pg:us-east', '--dir', DIR])
    const rejoinMarker = `after-lab-rejoin-${Date.now()}`
    await euWest.query('INSERT INTO failover_acks (writer, n) VALUES ($1, 1)', [rejoinMarker])
    const usEast = await pgSuperuser(labJson, 'us-east', SLOT).catch(() => null)
    const follows = await within(15_000, async () =>
      (await usEast?.query('SELECT 1 FROM failover_acks WHERE writer = $1', [rejoinMarker]))?.rowCount === 1 ? true : undefined,
    )
    await usEast?.end()
    return { streaming, replicated, fenced, relayPort: relay.port, rejoinSaid: `${rejoined.stdout}${rejoined.stderr}`, follows }
  } finally {
    await Promise.all([apSouth.end(), euWest.end()])
  }
}

t.test('kill -9 of the primary PostgreSQL: the synchronous standby is promoted, no acknowledged write is lost', async (t) => {
  const result = await scenario(async () => undefined, 'kill', null, afterKill)
  t.match(result.newPrimary, { region: 'eu-west', epoch: 1 }, 'the Raft log names eu-west the primary, epoch 1')
  t.equal(result.inRecovery, false, 'eu-west is out of recovery')
  t.equal(result.failovers, 1, 'one failover, counted by the leader that ran it')
  const { streaming, replicated, fenced, relayPort, rejoinSaid, follows } = result.inspected as {
    rejoinSaid: string
    follows: { ms: number } | null
    streaming: { ms: number } | null
    replicated: { ms: number } | null
    fenced: { value: { synchronousStandbyNames: string }; ms: number } | null
    relayPort: number
  }
  t.ok(streaming, `the ap-south standby streams from eu-west (through the relay on port ${relayPort})`)
  t.ok(replicated, 'a row written on the new primary reaches the ap-south standby')
  t.ok(fenced, 'the old primary, started again, refuses writes with 25006 (read-only)')
  t.equal(fenced?.value.synchronousStandbyNames, 'grey_fenced', 'and any commit on it would wait for a standby that does not exist')
  t.match(
    rejoinSaid,
    /checkpointed the new primary\nrewound it to the new primary with pg_rewind\n[\s\S]*started it as a standby of eu-west/,
  )
  t.ok(follows, 'after grey lab rejoin, a row written on eu-west reaches the old primary')
  t.comment(
    `repointed: streaming ${streaming?.ms ?? '-'} ms after the writers stopped, row on ap-south in ${replicated?.ms ?? '-'} ms; ` +
      `old primary fenced ${fenced?.ms ?? '-'} ms after its restart; rejoined, it had eu-west's row in ${follows?.ms ?? '-'} ms`,
  )
  for (const w of result.writers) {
    t.comment(describe(w))
    t.same(w.lost, [], `${w.name}: every acknowledged write is on the new primary`)
    t.ok(w.gapMs < 10_000, `${w.name}: writes resumed within 10 s`)
    t.ok(
      w.errors.every((e) => e.code !== 'connection'),
      `${w.name}: every failed write got an SQLSTATE and a sentence, and its connection stayed usable`,
    )
  }
})

t.test('control: with eu-west asynchronous and behind, the same run loses acknowledged writes, so the check can fail', async (t) => {
  const result = await scenario(
    async (labJson) => {
      // Commits on us-east stop waiting for eu-west.
      const primary = await pgSuperuser(labJson, 'us-east', SLOT)
      await primary.query("ALTER SYSTEM SET synchronous_standby_names = ''")
      await primary.query('SELECT pg_reload_conf()')
      await primary.end()
    },
    'in-before',
    {
      // us-east stops sending WAL to eu-west a moment before it dies (its WAL sender is stopped, then killed with the
      // postmaster, so nothing it held gets out), as an asynchronous standby lags; eu-west is promoted all the same,
      // as the configuration calls it synchronous.
      async before(labJson) {
        const primary = await pgSuperuser(labJson, 'us-east', SLOT)
        const sender = (await primary.query<{ pid: number }>("SELECT pid FROM pg_stat_replication WHERE application_name = 'eu-west'"))
          .rows[0]!.pid
        const dataDir = (await primary.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]!.d
        await primary.end()
        process.kill(sender, 'SIGSTOP')
        await sleep(500)
        const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
        process.kill(postmaster, 'SIGKILL')
        process.kill(sender, 'SIGKILL')
      },
      after() {},
    },
  )
  for (const w of result.writers) t.comment(describe(w))
  const lost = result.writers.reduce((n, w) => n + w.lost.length, 0)
  t.ok(lost > 0, `acknowledged writes were lost (${lost})`)
})

t.test('partition of the primary region: it refuses writes (25006), the majority promotes, no write is taken twice', async (t) => {
  const result = await scenario(
    async () => undefined,
    'partition',
    null,
    async (labJson) => {
      // Healed, the us-east Grey learns of epoch 1 and fences its old primary; the operator brings it back as a standby.
      const healed = await run(process.execPath, [GREY, 'lab', 'heal', 'us-east', '--dir', DIR])
      if (healed.status !== 0) throw new Error(`grey lab heal us-east failed: ${healed.stderr}`)
      const old = await pgSuperuser(labJson, 'us-east', SLOT)
      const fenced = await within(15_000, async () =>
        (await old.query<{ s: string }>("SELECT current_setting('synchronous_standby_names') AS s")).rows[0]?.s === 'grey_fenced'
          ? true
          : undefined,
      )
      await old.end()
      return { fenced, ...(await rejoinUsEast(labJson)) }
    },
  )
  t.match(result.newPrimary, { region: 'eu-west', epoch: 1 }, 'the majority side promoted eu-west')
  t.match(result.raft.before.leader, /^grey-(eu-west|ap-south)$/, 'the Raft leader was outside the primary region before the fault')
  t.match(
    result.raft.atPromotion,
    { leader: result.raft.before.leader, term: result.raft.before.term },
    'so losing us-east cost no election: the promotion came from the same leader in the same term',
  )
  t.ok(result.inspected.fenced, 'healed, the old primary is fenced by its Grey')
  t.match(
    result.inspected.rejoinSaid,
    /stopped the old primary\ncheckpointed the new primary\nrewound it to the new primary with pg_rewind\n[\s\S]*started it as a standby of eu-west/,
    'grey cluster rejoin stops, rewinds and restarts the old primary',
  )
  t.equal(result.inspected.inRecovery, true, 'it runs again, as a standby')
  t.ok(result.inspected.follows, 'and follows eu-west: a row written there reaches it')
  for (const w of result.writers) {
    t.comment(describe(w))
    t.same(w.lost, [], `${w.name}: every acknowledged write is on the new primary (none went to the cut-off old one)`)
  }
  const east = result.writers.find((w) => w.name === 'w-us-east')!
  t.ok(
    east.errors.some((e) => e.code === '25006' && /us-east is cut off from the Raft majority/.test(e.message)),
    'the cut-off region refuses writes with 25006, naming itself and the cause',
  )
})

t.test('planned switchover (grey cluster failover --to eu-west): no client sees an error, nothing is lost', async (t) => {
  const result = await scenario(
    async () => undefined,
    'switchover',
    null,
    async (labJson) => {
      const old = await connect(labJson, labJson.regions['us-east']!.pg.direct)
      let oldPrimaryWrite = 'accepted'
      try {
        await old.query("INSERT INTO failover_acks (writer, n) VALUES ('old primary', 1)")
      } catch (err) {
        oldPrimaryWrite = (err as { code?: string }).code ?? 'connection'
      } finally {
        await old.end().catch(() => undefined)
      }
      // `grey cluster rejoin` refuses the node the log names primary.
      const refused = await clusterRejoin(labJson, 'eu-west')
      return { oldPrimaryWrite, refused: refused.stderr, ...(await rejoinUsEast(labJson)) }
    },
  )
  t.match(result.newPrimary, { region: 'eu-west', epoch: 1 }, 'the Raft log names eu-west the primary, epoch 1')
  t.equal(result.inRecovery, false, 'eu-west is out of recovery')
  t.match(
    result.inspected.switchoverSaid,
    /^switched over from us-east to eu-west \(failover epoch 1\) in [\d.]+ s; the new primary has everything up to [0-9A-F]+\/[0-9A-F]+; the old primary is fenced/,
  )
  t.equal(result.inspected.oldPrimaryWrite, '25006', 'the old primary refuses writes (read-only)')
  t.match(result.inspected.refused, /eu-west is the PostgreSQL primary the log names \(epoch 1\); only a replaced one rejoins/)
  t.equal(result.failovers, 0, 'a switchover is not counted as a failover')
  t.equal(result.inspected.inRecovery, true, 'grey cluster rejoin brings the old primary back as a standby')
  t.ok(result.inspected.follows, 'which follows eu-west although it wrote WAL past the fork (read-only turned on)')
  t.comment(String(result.inspected.switchoverSaid).split('\n')[0])
  for (const w of result.writers) {
    t.comment(describe(w))
    t.same(w.lost, [], `${w.name}: every acknowledged write is on the new primary`)
    t.same(w.errors, [], `${w.name}: no write failed`)
  }
})

t.test('SIGSTOP of the primary: statements held by it end with 08006 once it is replaced, not at the client timeout', async (t) => {
  // The writers wait up to 15 s themselves, so an error before that is Grey's.
  clientQueryTimeoutMs = 15_000
  t.teardown(() => void (clientQueryTimeoutMs = 5000))
  // Each Grey keeps connections to eu-west (the candidate) for asking whether it has left recovery; these are cut
  // first, so this run also shows Greys whose kept connections broke asking over a fresh one instead.
  let cut = 0
  const result = await scenario(async (labJson) => {
    const euWest = await pgSuperuser(labJson, 'eu-west', SLOT)
    const r = await euWest.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'grey failover' AND backend_type = 'client backend'",
    )
    cut = r.rowCount ?? 0
    await euWest.end()
  }, 'stop')
  t.ok(cut >= 3, `every Grey kept connections to the candidate (${cut} cut before the fault)`)
  t.match(result.newPrimary, { region: 'eu-west', epoch: 1 }, 'the Raft log names eu-west the primary, epoch 1')
  for (const w of result.writers) {
    t.comment(describe(w))
    t.same(w.lost, [], `${w.name}: every acknowledged write is on the new primary`)
    t.ok(
      w.errors.some((e) => e.code === '08006' && /was replaced by eu-west \(failover epoch 1\) and does not answer/.test(e.message)),
      `${w.name}: the statement held by the stopped primary ended with 08006 and the reason`,
    )
    t.ok(
      w.errors.every((e) => e.code !== 'connection'),
      `${w.name}: no client timeout`,
    )
    t.ok(w.gapMs < 10_000, `${w.name}: writes resumed within 10 s (${w.gapMs} ms)`)
  }
})
