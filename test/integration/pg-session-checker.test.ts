// The session-consistency checker on the lab: concurrent clients in all three regions, each through its region's
// Grey with session consistency, do 10,000 operations — reads and writes of registers whose versions the primary
// assigns, and causality tokens handed between regions — and a history checker finds every read-your-writes and
// monotonic-read violation. With Grey's routing there must be none; the same run forced to read locally
// (grey.consistency = eventual) must find some, or the checker proves nothing. The lab's standbys replay faster
// than a commit's acknowledgement crosses the WAN, so for both runs ap-south's standby applies each commit 300 ms
// late (recovery_min_apply_delay), 130 ms after its own clients hear of it: a standby that lags, inside
// routing.session_wait.
import t from 'tap'
import type pg from 'pg'
import { greyInProcess, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { checkSessionHistory, type HistoryEvent } from '../fixtures/session-history.js'
import { seededRandom } from '../fixtures/seeded-random.js'
import { ensureTestLab, pgConnect, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const CLIENTS_PER_REGION = 4
const KEYS = 16
const greys = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await greyInProcess(r)] as const))) as Record<
  (typeof REGIONS)[number],
  GreyInProcess
>
const setup = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
await setup.query('CREATE TABLE IF NOT EXISTS checker_register (k int PRIMARY KEY, v bigint NOT NULL)')
await setup.query(`INSERT INTO checker_register SELECT k, 0 FROM generate_series(1, ${KEYS}) k ON CONFLICT DO NOTHING`)
// Every standby has the registers before any session reads them (a session without a token may read its standby).
for (const region of ['eu-west', 'ap-south']) {
  const standby = await pgConnect(lab, lab.regions[region]!.pg.direct)
  for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 20))) {
    const { rows } = await standby.query<{ n: string }>('SELECT count(*) AS n FROM checker_register').catch(() => ({ rows: [{ n: '0' }] }))
    if (Number(rows[0]!.n) === KEYS) break
    if (Date.now() > deadline) throw new Error(`the ${region} standby did not get the registers`)
  }
  await standby.end()
}
const apSouth = await pgSuperuser(lab, 'ap-south')
const applyDelay = async (value: string | null): Promise<void> => {
  await apSouth.query(
    value === null ? 'ALTER SYSTEM RESET recovery_min_apply_delay' : `ALTER SYSTEM SET recovery_min_apply_delay = '${value}'`,
  )
  await apSouth.query('SELECT pg_reload_conf()')
}
await applyDelay('300ms')
t.teardown(async () => {
  await applyDelay(null)
  await apSouth.end()
  await setup.end()
  await Promise.all(Object.values(greys).map((g) => g.stop()))
})

interface RunResult {
  history: HistoryEvent[]
  operations: number
  seconds: number
  /** Per region with a standby: reads served by it, of all reads. */
  localShare: Record<string, { local: number; reads: number }>
}

async function readsByTarget(grey: GreyInProcess): Promise<{ replica: number; all: number }> {
  let replica = 0
  let all = 0
  for (const line of (await grey.metrics()).split('\n')) {
    const m = /^grey_query_routing_total\{protocol="pg",kind="read",target="(\w+)"[^}]*\} (\d+)/.exec(line)
    if (!m) continue
    all += Number(m[2])
    if (m[1] === 'replica') replica += Number(m[2])
  }
  return { replica, all }
}

/** `operations` in total over every client; `forceLocal` sets grey.consistency = eventual on every session. */
async function runWorkload(operations: number, seed: number, forceLocal: boolean): Promise<RunResult> {
  const next = seededRandom(seed)
  const history: HistoryEvent[] = []
  const sessions: Array<{
    name: string
    region: string
    client: pg.Client
    events: number
    inbox: Array<{ token: string; giver: string; upTo: number }>
  }> = []
  for (const region of REGIONS) {
    for (let i = 0; i < CLIENTS_PER_REGION; i++) {
      const client = await pgConnect(lab, greys[region].pg)
      if (forceLocal) await client.query("SET grey.consistency = 'eventual'")
      sessions.push({ name: `${region}-${i}`, region, client, events: 0, inbox: [] })
    }
  }
  const before = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await readsByTarget(greys[r])] as const)))
  const record = (e: HistoryEvent, s: (typeof sessions)[number]): void => {
    history.push(e)
    s.events++
  }
  const perSession = Math.ceil(operations / sessions.length)
  const started = Date.now()
  await Promise.all(
    sessions.map(async (s, index) => {
      const rnd = seededRandom(seed * 1000 + index)
      for (let op = 0; op < perSession; op++) {
        const gift = s.inbox.shift()
        if (gift) {
          await s.client.query(`SET grey.after = '${gift.token}'`)
          record({ session: s.name, kind: 'adopt', giver: gift.giver, upTo: gift.upTo }, s)
        }
        const key = 1 + Math.floor(rnd() * KEYS)
        const dice = rnd()
        if (dice < 0.1) {
          const { rows } = await s.client.query<{ v: string }>('UPDATE checker_register SET v = v + 1 WHERE k = $1 RETURNING v', [key])
          record({ session: s.name, kind: 'write', key, version: Number(rows[0]!.v) }, s)
        } else {
          const { rows } = await s.client.query<{ v: string }>('SELECT v FROM checker_register WHERE k = $1', [key])
          record({ session: s.name, kind: 'read', key, version: Number(rows[0]!.v), region: s.region }, s)
        }
        if (dice > 0.98) {
          // Hand this session's token to a session in another region, with what it covers: events so far.
          const others = sessions.filter((o) => o.region !== s.region)
          const to = others[Math.floor(next() * others.length)]!
          const token = (await s.client.query<{ 'grey.token': string }>('SHOW grey.token')).rows[0]!['grey.token']
          to.inbox.push({ token, giver: s.name, upTo: s.events })
        }
      }
    }),
  )
  const seconds = (Date.now() - started) / 1000
  await Promise.all(sessions.map((s) => s.client.end()))
  const localShare: RunResult['localShare'] = {}
  for (const region of ['eu-west', 'ap-south'] as const) {
    const after = await readsByTarget(greys[region])
    localShare[region] = { local: after.replica - before[region]!.replica, reads: after.all - before[region]!.all }
  }
  return { history, operations: sessions.length * perSession, seconds, localShare }
}

const share = ({ local, reads }: { local: number; reads: number }): string => `${((100 * local) / Math.max(reads, 1)).toFixed(1)} %`
const seed = Number(process.env.GREY_CHECKER_SEED ?? Date.now() % 100_000)
t.comment(`checker seed ${seed} (replay: GREY_CHECKER_SEED=${seed} npx tap test/integration/pg-session-checker.test.ts)`)

t.test('session consistency through Grey: no read-your-writes or monotonic-read violation in 10,000 operations', async (t) => {
  const run = await runWorkload(10_000, seed, false)
  const violations = checkSessionHistory(run.history)
  const adopted = run.history.filter((e) => e.kind === 'adopt').length
  t.comment(
    `${run.operations} operations (${run.history.filter((e) => e.kind === 'write').length} writes, ${adopted} tokens handed across regions) ` +
      `in ${run.seconds.toFixed(1)} s; violations: ${violations.length}; reads served by the local standby: ` +
      `eu-west ${share(run.localShare['eu-west']!)}, ap-south ${share(run.localShare['ap-south']!)}`,
  )
  t.ok(run.operations >= 10_000)
  t.ok(adopted > 0, 'tokens were handed between regions')
  t.same(violations.slice(0, 5), [], 'no violations')
  for (const region of ['eu-west', 'ap-south']) {
    const { local, reads } = run.localShare[region]!
    t.ok(local / reads >= 0.5, `${region}: most reads stay local (${share(run.localShare[region]!)})`)
  }
})

t.test('control: the same run forced to read locally finds violations, so the checker can fail', async (t) => {
  const run = await runWorkload(3_000, seed + 1, true)
  const violations = checkSessionHistory(run.history)
  const byKind = (kind: string): number => violations.filter((v) => v.kind === kind).length
  t.comment(
    `${run.operations} operations forced local in ${run.seconds.toFixed(1)} s: ${byKind('read-your-writes')} read-your-writes and ` +
      `${byKind('monotonic-reads')} monotonic-read violations`,
  )
  t.ok(violations.length > 0, 'the checker found violations')
})
