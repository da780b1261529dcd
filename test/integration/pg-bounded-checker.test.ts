// Bounded staleness on the lab: a writer bumps a register on the primary every 25 ms and notes when each version
// committed; readers through ap-south's Grey ask for max_staleness=1s. A read that returns version v at time t is
// too old when a later version had committed more than 1 s before t. ap-south's standby is made to lag by
// recovery_min_apply_delay: 300 ms (inside the bound: reads stay local) and 1500 ms (beyond it: reads go to the
// primary). Eventual reads at 1500 ms are the control: the checker must find them too old.
import t from 'tap'
import type pg from 'pg'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, pgConnect, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const BOUND_MS = 1000
const grey = await greyInProcess('ap-south', { GREY_REPLICATION__POSTGRES__LAG_POLL_INTERVAL: '100ms' })
const primary = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
const apSouth = await pgSuperuser(lab, 'ap-south')
const reader: pg.Client = await pgConnect(lab, grey.pg)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const applyDelay = async (value: string | null): Promise<void> => {
  await apSouth.query(
    value === null ? 'ALTER SYSTEM RESET recovery_min_apply_delay' : `ALTER SYSTEM SET recovery_min_apply_delay = '${value}'`,
  )
  await apSouth.query('SELECT pg_reload_conf()')
}
t.teardown(async () => {
  await applyDelay(null)
  await Promise.all([primary.end(), apSouth.end(), reader.end()])
  await grey.stop()
})
await primary.query('CREATE TABLE IF NOT EXISTS bounded_register (k int PRIMARY KEY, v bigint NOT NULL)')
await primary.query('INSERT INTO bounded_register VALUES (1, 0) ON CONFLICT DO NOTHING')

interface Outcome {
  reads: number
  tooOld: number
  worstMs: number
  local: number
}

/** Writes for `ms` while reading with `hint`; each read is judged against the commit times the writer saw. */
async function run(hint: string, ms: number): Promise<Outcome> {
  const committed: Array<{ version: number; atMs: number }> = []
  let writing = true
  const writer = (async () => {
    while (writing) {
      const { rows } = await primary.query<{ v: string }>('UPDATE bounded_register SET v = v + 1 WHERE k = 1 RETURNING v')
      // The commit is acknowledged now; it happened no later than this.
      committed.push({ version: Number(rows[0]!.v), atMs: Date.now() })
      await sleep(25)
    }
  })()
  await sleep(2000) // let the standby's delay and Grey's lag measurement settle
  const outcome: Outcome = { reads: 0, tooOld: 0, worstMs: 0, local: 0 }
  const end = Date.now() + ms
  while (Date.now() < end) {
    const t0 = Date.now()
    const { rows } = await reader.query<{ v: string; standby: boolean }>(
      `${hint}SELECT v, pg_is_in_recovery() AS standby FROM bounded_register WHERE k = 1`,
    )
    const version = Number(rows[0]!.v)
    outcome.reads++
    if (rows[0]!.standby) outcome.local++
    // The newest version that had committed more than the bound before the read began must be visible.
    const due = committed.filter((c) => c.atMs < t0 - BOUND_MS).at(-1)
    if (due && version < due.version) {
      outcome.tooOld++
      const firstMissed = committed.find((c) => c.version > version)!
      outcome.worstMs = Math.max(outcome.worstMs, t0 - firstMissed.atMs)
    }
    await sleep(10)
  }
  writing = false
  await writer
  return outcome
}

const describe = (o: Outcome): string =>
  `${o.reads} reads, ${o.local} from the standby, ${o.tooOld} older than ${BOUND_MS} ms (worst ${o.worstMs} ms)`

t.test('a standby 300 ms behind serves max_staleness=1s reads, none too old', async (t) => {
  await applyDelay('300ms')
  const o = await run(`/* grey: max_staleness=${BOUND_MS}ms */ `, 3000)
  t.comment(describe(o))
  t.equal(o.tooOld, 0, 'no read older than its bound')
  t.ok(o.local / o.reads > 0.5, 'most from the standby')
})

t.test('a standby 1.5 s behind: max_staleness=1s reads go to the primary, none too old', async (t) => {
  await applyDelay('1500ms')
  const o = await run(`/* grey: max_staleness=${BOUND_MS}ms */ `, 3000)
  t.comment(describe(o))
  t.equal(o.tooOld, 0, 'no read older than its bound')
  t.ok(o.local / o.reads < 0.5, 'most from the primary')
})

t.test('control: eventual reads from the standby 1.5 s behind are older than the bound, and the checker says so', async (t) => {
  await applyDelay('1500ms')
  const o = await run('/* grey: consistency=eventual */ ', 3000)
  t.comment(describe(o))
  t.ok(o.tooOld > 0, 'the checker finds reads older than the bound')
})
