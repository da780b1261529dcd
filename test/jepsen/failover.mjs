// Jepsen-style failover runs on a lab of their own (default slot 4, .lab-jepsen, without Cassandra), with the
// lab's own `grey proxy` processes as the Raft members and failover on, as a deployment runs them. Each run starts
// the lab afresh, starts a writer and a reader in every region (through that region's Grey), applies one fault to a
// running system, waits until writes flow again everywhere, and checks the history:
//
//   set workload       each writer inserts (writer, n) for n = 1, 2, …; every acknowledged n must be on the primary
//                      the Raft log names at the end ("lost" otherwise)
//   register workload  each writer also sets its own register row to n in the same statement; the final value must
//                      be the last acknowledged n or a later attempt, never an older value (this catches only a lost
//                      last write of a writer; the set workload catches every lost write)
//   old-primary rows   rows on the old primary (read once it is back) that the new primary does not have: commits it
//                      took that were never replicated — acknowledged ones are also counted lost; unacknowledged ones
//                      taken after the new primary was promoted would be writes accepted by two primaries
//   availability       write unavailability = the longest wait between two acknowledged writes of a writer around
//                      the fault; reads = eventual reads through the local Grey, the share that succeeded in the 10 s
//                      after the fault and the longest gap between two successful reads
//
// Faults: pg-kill (kill -9 of the primary PostgreSQL), pg-stop (SIGSTOP of every primary PostgreSQL process, SIGCONT
// after the failover), primary-partition (the primary's region cut off, healed after the failover), minority-partition
// (ap-south cut off for 6 s), grey-kill (kill -9 of the primary region's Grey, restarted 3 s later), control (eu-west
// turned asynchronous in PostgreSQL and cut off from the WAL 0.5 s before the kill: the checker must report losses),
// clock-skew (the primary's region cut off, and at once its Grey's wall clock steps 3 s back, as an NTP step would:
// the lab runs that run's Greys under libfaketime, `grey lab up --fake-clocks`. A cut-off check measured on the wall
// clock would see the last contact 3 s in the future and keep taking writes for 3 s after the majority may have
// promoted; healed after the failover).
//
//   node test/jepsen/failover.mjs [--runs 10] [--faults pg-kill,pg-stop,...] [--slot 4] [--json FILE] [--logs DIR]
//
// Not part of `npm test` (a run takes about 25 s; the default, 10 runs of each fault, about 25 minutes). The short
// version, one run of the main faults on in-process Greys, is test/integration/pg-failover.test.ts.
import { spawn } from 'node:child_process'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const GREY = join(ROOT, 'dist', 'cli', 'grey.js')
const REGIONS = ['us-east', 'eu-west', 'ap-south']
const FAULTS = ['pg-kill', 'pg-stop', 'primary-partition', 'minority-partition', 'grey-kill', 'clock-skew', 'control']
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
/** Processes this run stopped with SIGSTOP: continued in any case before the lab goes down. */
let stoppedPids = []

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    faults: { type: 'string', default: FAULTS.join(',') },
    slot: { type: 'string', default: '4' },
    json: { type: 'string' },
    /** Copy each run's lab logs (Greys, PostgreSQL) here before the lab goes down. */
    logs: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (opts.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n'),
  )
  process.exit(0)
}
const RUNS = Number(opts.runs)
const SLOT = opts.slot
const DIR = join(ROOT, `.lab-jepsen-${SLOT}`)
const faults = opts.faults.split(',')
for (const f of faults) if (!FAULTS.includes(f)) throw new Error(`unknown fault "${f}"; one of ${FAULTS.join(', ')}`)

/** `grey ARGS…`, asynchronously; throws with its output when it fails. */
function grey(...args) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [GREY, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => (code === 0 ? resolveRun(out) : reject(new Error(`grey ${args.join(' ')} failed (${code}):\n${out}`))))
  })
}
const lab = (...args) => grey('lab', ...args, '--dir', DIR)

function hostPort(address) {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) }
}

async function connect(labJson, address) {
  // A commit held by a partition or a stopped server waits for ever: the client gives up after 5 s.
  const client = new pg.Client({ ...hostPort(address), ...labJson.pg, connectionTimeoutMillis: 10_000, query_timeout: 5000 })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

async function admin(labJson, region, path) {
  const res = await fetch(`${labJson.regions[region].grey.admin}${path}`, { headers: { authorization: `Bearer ${labJson.admin.token}` } })
  return res.json()
}

/** Writer: INSERT (writer, n) and set its register to n, one statement, one at a time; reconnects after errors. */
function startWriter(labJson, region, stop) {
  const w = { name: `w-${region}`, acked: [], okAt: [], attempted: 0, errors: [] }
  w.done = (async () => {
    let client = null
    for (let n = 1; !stop(); n++) {
      w.attempted = n
      try {
        client ??= await connect(labJson, labJson.regions[region].grey.pg)
        await client.query(
          'WITH s AS (INSERT INTO jepsen_set (writer, n) VALUES ($1, $2)) UPDATE jepsen_register SET v = $2 WHERE k = $1',
          [w.name, n],
        )
        w.acked.push(n)
        w.okAt.push(Date.now())
      } catch (err) {
        w.errors.push({ at: Date.now(), code: err.code ?? 'connection', message: String(err.message).slice(0, 120) })
        await client?.end().catch(() => undefined)
        client = null
        await sleep(50)
      }
    }
    await client?.end().catch(() => undefined)
  })()
  return w
}

/** Reader: an eventual read through the local Grey every 50 ms. */
function startReader(labJson, region, stop) {
  const r = { name: `r-${region}`, okAt: [], failedAt: [] }
  r.done = (async () => {
    let client = null
    while (!stop()) {
      try {
        client ??= await connect(labJson, labJson.regions[region].grey.pg)
        await client.query('/* grey: consistency=eventual */ SELECT count(*) FROM jepsen_set')
        r.okAt.push(Date.now())
      } catch {
        r.failedAt.push(Date.now())
        await client?.end().catch(() => undefined)
        client = null
      }
      await sleep(50)
    }
    await client?.end().catch(() => undefined)
  })()
  return r
}

/** Every process of a region's PostgreSQL: the postmaster and its children. */
function pgProcesses(region) {
  const postmaster = Number(readFileSync(join(DIR, 'pg', region, 'data', 'postmaster.pid'), 'utf8').split('\n')[0])
  const pids = [postmaster]
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === postmaster) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

/** The lab's PostgreSQL superuser, trusted on the lab's socket directory. */
async function superuser(labJson, region) {
  const client = new pg.Client({
    host: `/tmp/grey-lab-${SLOT}`,
    port: hostPort(labJson.regions[region].pg.direct).port,
    user: 'postgres',
    database: labJson.pg.database,
  })
  await client.connect()
  return client
}

async function waitUntil(ms, what, done) {
  for (const deadline = Date.now() + ms; ; await sleep(100)) {
    if (await done().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
  }
}

/**
 * The cut-off Grey's lease, sampled every 50 ms from the fault until `stop()` (the heal): when it first counted itself
 * cut off, and when (if ever) it counted itself in contact again before the heal — a lease stretched by a clock step.
 */
function watchLease(labJson, t0, stop) {
  return (async () => {
    const lease = { cutOffAfterMs: null, backInContactAfterMs: null }
    while (!stop()) {
      const cut = await admin(labJson, 'us-east', '/status').then(
        ({ raft }) => raft.quorum.reachable < raft.quorum.needed,
        () => null,
      )
      if (cut === true && lease.cutOffAfterMs === null) lease.cutOffAfterMs = Date.now() - t0
      if (cut === false && lease.cutOffAfterMs !== null) lease.backInContactAfterMs ??= Date.now() - t0
      await sleep(50)
    }
    return lease
  })()
}

/**
 * Polls, every 50 ms from the fault on, until `done` holds: the ms after t0 it first did (or null by `stop()`). The
 * jepsen process's clock is true time (it never runs under libfaketime).
 */
function firstTime(t0, stop, done) {
  return (async () => {
    while (!stop()) {
      if (await done().catch(() => false)) return Date.now() - t0
      await sleep(50)
    }
    return null
  })()
}

async function oneRun(fault, index) {
  if (existsSync(join(DIR, 'state.json'))) await lab('down').catch(() => undefined)
  rmSync(DIR, { recursive: true, force: true })
  await lab('up', '--slot', SLOT, '--without', 'cassandra', ...(fault === 'clock-skew' ? ['--fake-clocks'] : []))
  const labJson = JSON.parse(readFileSync(join(DIR, 'lab.json'), 'utf8'))
  // Set when the run ends either way: the writers, readers and pollers stop on it.
  let stopping = false
  try {
    await waitUntil(30_000, 'a Raft leader', async () => (await admin(labJson, 'eu-west', '/status')).raft?.leader)
    const setup = await connect(labJson, labJson.regions['us-east'].pg.direct)
    await setup.query('CREATE TABLE jepsen_set (writer text, n int, PRIMARY KEY (writer, n))')
    await setup.query('CREATE TABLE jepsen_register (k text PRIMARY KEY, v int)')
    await setup.query(`INSERT INTO jepsen_register VALUES ${REGIONS.map((r) => `('w-${r}', 0)`).join(', ')}`)
    await setup.end()
    if (fault === 'control') {
      const su = await superuser(labJson, 'us-east')
      await su.query("ALTER SYSTEM SET synchronous_standby_names = ''")
      await su.query('SELECT pg_reload_conf()')
      await su.end()
    }
    const writers = REGIONS.map((r) => startWriter(labJson, r, () => stopping))
    const readers = REGIONS.map((r) => startReader(labJson, r, () => stopping))
    await sleep(2000)
    // The Raft leader and term before the fault, as the eu-west Grey (never faulted) sees them: an election during the
    // fault shows as a higher term after it.
    const raftBefore = (await admin(labJson, 'eu-west', '/status')).raft
    const t0 = Date.now()
    const partitioned = fault === 'primary-partition' || fault === 'clock-skew'
    // Lease ordering: the cut-off Grey must count itself cut off (and refuse writes) before the majority promotes, and
    // stay so until the heal.
    let healing = false
    const leaseWatch = partitioned ? watchLease(labJson, t0, () => healing || stopping) : null
    const promotedAfter = firstTime(
      t0,
      () => stopping,
      async () => (await admin(labJson, 'eu-west', '/cluster/status')).cluster.pg_primary.epoch > 0,
    )
    let resumeFrom = t0
    let mustResume = writers
    let after = async () => undefined
    switch (fault) {
      case 'pg-kill':
        await lab('kill', 'pg:us-east')
        after = () => lab('restart', 'pg:us-east')
        break
      case 'pg-stop': {
        stoppedPids = pgProcesses('us-east')
        for (const pid of stoppedPids) process.kill(pid, 'SIGSTOP')
        after = async () => {
          for (const pid of stoppedPids) process.kill(pid, 'SIGCONT')
          stoppedPids = []
        }
        break
      }
      case 'primary-partition':
        await lab('partition', 'us-east')
        mustResume = writers.filter((w) => w.name !== 'w-us-east')
        after = () => lab('heal', 'us-east')
        break
      case 'clock-skew':
        await lab('partition', 'us-east')
        await lab('skew', 'grey:us-east', '--by=-3')
        mustResume = writers.filter((w) => w.name !== 'w-us-east')
        after = () => lab('heal', 'us-east')
        break
      case 'minority-partition':
        await lab('partition', 'ap-south')
        await sleep(6000)
        await lab('heal', 'ap-south')
        resumeFrom = Date.now()
        break
      case 'grey-kill':
        await lab('kill', 'grey:us-east')
        await sleep(3000)
        await lab('restart', 'grey:us-east')
        resumeFrom = Date.now()
        break
      case 'control': {
        const su = await superuser(labJson, 'us-east')
        const sender = (await su.query("SELECT pid FROM pg_stat_replication WHERE application_name = 'eu-west'")).rows[0].pid
        await su.end()
        process.kill(sender, 'SIGSTOP')
        await sleep(500)
        for (const pid of pgProcesses('us-east')) process.kill(pid, 'SIGKILL')
        after = () => lab('restart', 'pg:us-east')
        break
      }
    }
    await waitUntil(40_000, 'writes to resume in every region', async () =>
      mustResume.every((w) => w.okAt.filter((at) => at > resumeFrom).length >= 3),
    ).catch((err) => {
      throw new Error(`${err.message}: ${JSON.stringify(writers.map((w) => [w.name, w.errors.slice(-2)]))}`)
    })
    const raftAfter = (await admin(labJson, 'eu-west', '/status')).raft
    await sleep(Math.max(0, t0 + 10_000 - Date.now()))
    // The old primary comes back (restarted, continued, healed); its Grey fences it. The us-east writer resumes.
    healing = true
    await after()
    if (partitioned) {
      await waitUntil(
        30_000,
        'the us-east writer to resume after the heal',
        async () => writers[0].okAt.filter((at) => at > Date.now() - 1000).length >= 1,
      )
    }
    await sleep(3000)
    stopping = true
    await Promise.all([...writers, ...readers].map((x) => x.done))
    // cutOffAfterMs is left out (undefined) where the fault cuts nothing off.
    const lease = { cutOffAfterMs: undefined, ...(await leaseWatch), promotedAfterMs: await promotedAfter }

    const view = (await admin(labJson, 'eu-west', '/cluster/status')).cluster.pg_primary
    const primary = await connect(labJson, labJson.regions[view.region].pg.direct)
    const present = new Set((await primary.query('SELECT writer, n FROM jepsen_set')).rows.map((r) => `${r.writer}/${r.n}`))
    const registers = Object.fromEntries((await primary.query('SELECT k, v FROM jepsen_register')).rows.map((r) => [r.k, r.v]))
    await primary.end()
    let diverged = null
    if (view.region !== 'us-east') {
      diverged = 0
      try {
        const old = await connect(labJson, labJson.regions['us-east'].pg.direct)
        for (const r of (await old.query('SELECT writer, n FROM jepsen_set')).rows) if (!present.has(`${r.writer}/${r.n}`)) diverged++
        await old.end()
      } catch {
        diverged = null // the old primary did not come back
      }
    }
    const result = {
      fault,
      run: index,
      primary: view,
      diverged,
      lease,
      raft: { leaderBefore: raftBefore.leader, termsAdded: raftAfter.term - raftBefore.term },
      writers: writers.map((w) => {
        let gapMs = 0
        let gapFromMs = null
        for (let i = 1; i < w.okAt.length; i++) {
          if (w.okAt[i] > t0 && w.okAt[i] - w.okAt[i - 1] > gapMs) {
            gapMs = w.okAt[i] - w.okAt[i - 1]
            gapFromMs = w.okAt[i - 1] - t0
          }
        }
        const last = w.acked.at(-1) ?? 0
        const reg = registers[w.name]
        return {
          name: w.name,
          acked: w.acked.length,
          lost: w.acked.filter((n) => !present.has(`${w.name}/${n}`)).length,
          gapMs,
          // When the longest gap began, from the fault: a stall of the whole lab shows as gaps that begin together.
          gapFromMs,
          registerOk: reg >= last && reg <= w.attempted,
          errors: w.errors.length,
          firstErrors: w.errors
            .filter((e) => e.at > t0)
            .slice(0, 3)
            .map((e) => ({ ...e, at: e.at - t0 })),
        }
      }),
      readers: readers.map((r) => {
        const inWindow = (at) => at >= t0 && at <= t0 + 10_000
        const ok = r.okAt.filter(inWindow).length
        const failed = r.failedAt.filter(inWindow).length
        let gapMs = 0
        let gapFromMs = null
        for (let i = 1; i < r.okAt.length; i++) {
          if (r.okAt[i] > t0 && r.okAt[i] - r.okAt[i - 1] > gapMs) {
            gapMs = r.okAt[i] - r.okAt[i - 1]
            gapFromMs = r.okAt[i - 1] - t0
          }
        }
        return { name: r.name, availability: ok / Math.max(1, ok + failed), gapMs, gapFromMs }
      }),
    }
    return result
  } finally {
    stopping = true
    for (const pid of stoppedPids) process.kill(pid, 'SIGCONT')
    stoppedPids = []
    if (opts.logs) cpSync(join(DIR, 'logs'), join(opts.logs, `${fault}-${index}`), { recursive: true })
    await lab('down').catch(() => undefined)
    rmSync(DIR, { recursive: true, force: true })
  }
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]
}

const results = []
const startedAt = Date.now()
for (const fault of faults) {
  for (let i = 1; i <= RUNS; i++) {
    const t = Date.now()
    try {
      const r = await oneRun(fault, i)
      results.push(r)
      console.log(
        `${fault} #${i} (${((Date.now() - t) / 1000).toFixed(0)} s): primary ${r.primary.region} epoch ${r.primary.epoch}; ` +
          r.writers.map((w) => `${w.name} wait ${w.gapMs} ms lost ${w.lost}${w.registerOk ? '' : ' REGISTER WRONG'}`).join(', ') +
          `; diverged on the old primary ${r.diverged ?? '-'}; promoted after ${r.lease.promotedAfterMs ?? '-'} ms` +
          (r.lease.cutOffAfterMs === undefined
            ? ''
            : `, us-east cut off after ${r.lease.cutOffAfterMs ?? '-'} ms` +
              (r.lease.backInContactAfterMs === null ? '' : ` BUT IN CONTACT AGAIN after ${r.lease.backInContactAfterMs} ms`)) +
          `; raft leader before ${r.raft.leaderBefore}, term +${r.raft.termsAdded} by the resumption` +
          `; reads ${r.readers.map((x) => `${(100 * x.availability).toFixed(0)}%`).join('/')}`,
      )
    } catch (err) {
      results.push({ fault, run: i, error: err.message })
      console.log(`${fault} #${i}: FAILED: ${err.message.split('\n')[0]}`)
    }
  }
}

console.log(`\n${results.length} runs in ${((Date.now() - startedAt) / 60000).toFixed(1)} min\n`)
console.log(
  'fault               runs  failovers  write wait p50 / p99 (ms, worst writer that must resume)  lost  old-primary rows  register  reads ok (min)  read gap max (ms)',
)
for (const fault of faults) {
  const rs = results.filter((r) => r.fault === fault && !r.error)
  const failed = results.filter((r) => r.fault === fault && r.error).length
  const cutOff = (w) => (fault === 'primary-partition' || fault === 'clock-skew') && w.name === 'w-us-east'
  const waits = rs.map((r) => Math.max(...r.writers.filter((w) => !cutOff(w)).map((w) => w.gapMs)))
  const byWriter = REGIONS.map((region) => {
    const gaps = rs.flatMap((r) => r.writers.filter((w) => w.name === `w-${region}` && !cutOff(w)).map((w) => w.gapMs))
    return gaps.length === 0 ? `${region} -` : `${region} ${quantile(gaps, 0.5)} / ${quantile(gaps, 0.99)}`
  })
  const leases = rs.filter((r) => r.lease.cutOffAfterMs !== undefined)
  const leaseHeld = leases.filter(
    (r) =>
      r.lease.cutOffAfterMs !== null &&
      r.lease.cutOffAfterMs < (r.lease.promotedAfterMs ?? Infinity) &&
      r.lease.backInContactAfterMs === null,
  )
  const lost = rs.reduce((n, r) => n + r.writers.reduce((m, w) => m + w.lost, 0), 0)
  const diverged = rs.reduce((n, r) => n + (r.diverged ?? 0), 0)
  const registers = rs.every((r) => r.writers.every((w) => w.registerOk)) ? 'ok' : 'WRONG'
  const reads = Math.min(...rs.flatMap((r) => r.readers.map((x) => x.availability)))
  const readGap = Math.max(...rs.flatMap((r) => r.readers.map((x) => x.gapMs)))
  const failovers = rs.filter((r) => r.primary.epoch > 0).length
  console.log(
    `${fault.padEnd(20)}${String(rs.length).padStart(4)}${failed ? `(+${failed} failed)` : ''}  ${String(failovers).padStart(9)}  ` +
      `${String(quantile(waits, 0.5)).padStart(14)} / ${String(quantile(waits, 0.99)).padEnd(40)}  ${String(lost).padStart(4)}  ` +
      `${String(diverged).padStart(16)}  ${registers.padStart(8)}  ${(100 * reads).toFixed(1).padStart(13)}%  ${String(readGap).padStart(17)}`,
  )
  console.log(
    `${''.padEnd(20)}by writer, wait p50 / p99 ms: ${byWriter.join(' · ')}` +
      (leases.length === 0
        ? ''
        : `; lease ordering held in ${leaseHeld.length} of ${leases.length} runs (cut off before the promotion and until ` +
          `the heal; us-east cut off after at most ` +
          `${Math.max(...leases.map((r) => r.lease.cutOffAfterMs ?? Infinity))} ms, promotion at the earliest after ` +
          `${Math.min(...leases.map((r) => r.lease.promotedAfterMs ?? Infinity))} ms)`),
  )
}
if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2))
