// The session-consistency checker for CQL on the lab: sessions in all three regions, each through its region's Grey at
// LOCAL_QUORUM (session), write registers they own and read everyone's, and hand their causality tokens (the grey.token
// custom payload) to sessions in other regions, which pass them back as grey.after. The history checker must find no
// read-your-writes or monotonic-read violation: a read whose token names a recent request in another DC goes to that
// DC until the request has had time to replicate. The control runs the same workload with every request hinted
// eventual (always the local DC): the receiver of a token reads the giver's fresh write before it has crossed the WAN,
// so the checker must find violations there. Afterwards, with writes stopped, every DC must converge on the same value
// for every register (eventual consistency), read at LOCAL_ONE from each DC's own node.
import t from 'tap'
import cassandra from 'cassandra-driver'
import { cassandraClient } from '../fixtures/cassandra-client.js'
import { greyInProcess, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { seededRandom } from '../fixtures/seeded-random.js'
import { checkSessionHistory, type HistoryEvent } from '../fixtures/session-history.js'
import { ensureTestLab, labCli, type LabJson } from '../fixtures/test-lab.js'

const { types } = cassandra
const lab: LabJson = await ensureTestLab({ cassandra: true })
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
type Region = (typeof REGIONS)[number]
const SESSIONS_PER_REGION = 4
const KEYS_PER_SESSION = 3
const TABLE = 'cql_checker_register'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const clients: cassandra.Client[] = []

const greys = Object.fromEntries(
  await Promise.all(REGIONS.map(async (r) => [r, await greyInProcess(r, {}, { cql: true })] as const)),
) as Record<Region, GreyInProcess>
const direct = Object.fromEntries(
  REGIONS.map((dc) => [dc, cassandraClient(lab, clients, lab.regions[dc]!.cassandra, dc, lab.cassandra)]),
) as Record<Region, cassandra.Client>
await direct['us-east'].execute(`CREATE TABLE IF NOT EXISTS ${TABLE} (k int PRIMARY KEY, v int)`)
await direct['us-east'].execute(`TRUNCATE ${TABLE}`, [], { consistency: types.consistencies.all })
const app = Object.fromEntries(REGIONS.map((r) => [r, cassandraClient(lab, clients, greys[r].cql, r, lab.pg)])) as Record<
  Region,
  cassandra.Client
>
await Promise.all(Object.values(app).map((c) => c.connect()))
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.shutdown()))
  await Promise.all(Object.values(greys).map((g) => g.stop()))
})

/** Session reads by where they went: the local DC alone, the DC a token named, or every DC at ALL. */
interface ReadCounts {
  local: number
  tokenDc: number
  all: number
  reads: number
}

async function readCounts(grey: GreyInProcess): Promise<ReadCounts> {
  const counts: ReadCounts = { local: 0, tokenDc: 0, all: 0, reads: 0 }
  for (const line of (await grey.metrics()).split('\n')) {
    const m = /^grey_query_routing_total\{protocol="cql",kind="read",target="(\w+)",[^}]*reason="([^"]+)"\} (\d+)/.exec(line)
    if (!m) continue
    const n = Number(m[3])
    counts.reads += n
    if (m[2] === "session read at ALL for the token's dcs") counts.all += n
    else if (m[1] === 'local') counts.local += n
    else counts.tokenDc += n
  }
  return counts
}

interface Session {
  name: string
  region: Region
  /** Keys only this session writes; their versions count up from 1. */
  keys: number[]
  versions: Map<number, number>
  lastWritten: number | null
  token: string | null
  events: number
  inbox: Array<{ token: string; giver: string; upTo: number; key: number | null }>
}

interface RunResult {
  history: HistoryEvent[]
  operations: number
  seconds: number
  localShare: Record<Region, ReadCounts>
  keys: number
}

/** `eventual`: every request carries /* grey: consistency=eventual *\/, which beats the token: always the local DC. */
async function runWorkload(operations: number, seed: number, eventual: boolean, keyBase: number): Promise<RunResult> {
  const next = seededRandom(seed)
  const history: HistoryEvent[] = []
  const sessions: Session[] = []
  for (const region of REGIONS) {
    for (let i = 0; i < SESSIONS_PER_REGION; i++) {
      const first = keyBase + sessions.length * KEYS_PER_SESSION
      const keys = Array.from({ length: KEYS_PER_SESSION }, (_, j) => first + j)
      sessions.push({ name: `${region}-${i}`, region, keys, versions: new Map(), lastWritten: null, token: null, events: 0, inbox: [] })
    }
  }
  const allKeys = sessions.flatMap((s) => s.keys)
  const hint = eventual ? '/* grey: consistency=eventual */ ' : ''
  const before = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await readCounts(greys[r])] as const)))
  const record = (e: HistoryEvent, s: Session): void => {
    history.push(e)
    s.events++
  }
  /** One request with the session's token; the token the response carries becomes the session's. */
  const execute = async (s: Session, query: string, params: unknown[]): Promise<cassandra.types.ResultSet> => {
    const customPayload = { [s.token === null ? 'grey.token' : 'grey.after']: Buffer.from(s.token ?? '') }
    const rs = await app[s.region].execute(`${hint}${query}`, params, { prepare: true, customPayload })
    const returned = (rs.info as { customPayload?: Record<string, Buffer> }).customPayload?.['grey.token']
    if (returned === undefined) throw new Error(`no grey.token in the response to ${query}`)
    s.token = returned.toString()
    return rs
  }
  const read = async (s: Session, key: number): Promise<void> => {
    const row = (await execute(s, `SELECT v FROM ${TABLE} WHERE k = ?`, [key])).first()
    record({ session: s.name, kind: 'read', key, version: row === null ? 0 : (row.get('v') as number), region: s.region }, s)
  }
  const perSession = Math.ceil(operations / sessions.length)
  const started = Date.now()
  await Promise.all(
    sessions.map(async (s, index) => {
      const rnd = seededRandom(seed * 1000 + index)
      for (let op = 0; op < perSession; op++) {
        const gift = s.inbox.shift()
        if (gift) {
          // The receiver merges the giver's token into its own: the next request carries both.
          s.token = s.token === null ? gift.token : `${s.token},${gift.token}`
          record({ session: s.name, kind: 'adopt', giver: gift.giver, upTo: gift.upTo }, s)
          // Where a stale read shows: the giver's freshest write, read at once in another region.
          if (gift.key !== null) {
            await read(s, gift.key)
            continue
          }
        }
        const dice = rnd()
        if (dice < 0.25) {
          const key = s.keys[Math.floor(rnd() * s.keys.length)]!
          const version = (s.versions.get(key) ?? 0) + 1
          await execute(s, `UPDATE ${TABLE} SET v = ? WHERE k = ?`, [version, key])
          s.versions.set(key, version)
          s.lastWritten = key
          record({ session: s.name, kind: 'write', key, version }, s)
        } else {
          await read(s, allKeys[Math.floor(rnd() * allKeys.length)]!)
        }
        if (dice > 0.97 && s.token !== null) {
          const others = sessions.filter((o) => o.region !== s.region)
          const to = others[Math.floor(next() * others.length)]!
          to.inbox.push({ token: s.token, giver: s.name, upTo: s.events, key: s.lastWritten })
        }
      }
    }),
  )
  const seconds = (Date.now() - started) / 1000
  const localShare = {} as RunResult['localShare']
  for (const region of REGIONS) {
    const after = await readCounts(greys[region])
    const was = before[region]!
    localShare[region] = {
      local: after.local - was.local,
      tokenDc: after.tokenDc - was.tokenDc,
      all: after.all - was.all,
      reads: after.reads - was.reads,
    }
  }
  return { history, operations: sessions.length * perSession, seconds, localShare, keys: allKeys.length }
}

const percent = (n: number, of: number): string => `${((100 * n) / Math.max(of, 1)).toFixed(1)} %`
const share = (c: ReadCounts): string =>
  `${percent(c.local, c.reads)} local DC, ${percent(c.tokenDc, c.reads)} token's DC, ${percent(c.all, c.reads)} at ALL`
const seed = Number(process.env.GREY_CHECKER_SEED ?? Date.now() % 100_000)
t.comment(`checker seed ${seed} (replay: GREY_CHECKER_SEED=${seed} npx tap test/integration/cql-session-checker.test.ts)`)

/** With writes stopped: every DC, read at LOCAL_ONE from its own node, holds the same value of every key. */
async function convergence(keyBase: number, keys: number): Promise<number> {
  const started = Date.now()
  let differing: string[] = []
  for (const deadline = started + 10_000; Date.now() < deadline; await sleep(50)) {
    const byDc = await Promise.all(
      REGIONS.map(async (dc) => {
        const rows = await direct[dc].execute(`SELECT k, v FROM ${TABLE}`, [], { consistency: types.consistencies.localOne })
        return new Map(rows.rows.map((r) => [r.get('k') as number, r.get('v') as number]))
      }),
    )
    differing = []
    for (let k = keyBase; k < keyBase + keys; k++) {
      const values = byDc.map((m) => m.get(k))
      if (values.some((v) => v !== values[0])) differing.push(`${k}: ${values.join('/')}`)
    }
    if (differing.length === 0) return Date.now() - started
  }
  throw new Error(`the DCs did not converge within 10 s: ${differing.slice(0, 5).join(', ')}`)
}

t.test('CQL session consistency through Grey: no violation in 10,000 operations, and the DCs converge', async (t) => {
  const run = await runWorkload(10_000, seed, false, 0)
  const violations = checkSessionHistory(run.history)
  const adopted = run.history.filter((e) => e.kind === 'adopt').length
  t.comment(
    `${run.operations} operations (${run.history.filter((e) => e.kind === 'write').length} writes, ${adopted} tokens handed across regions) ` +
      `in ${run.seconds.toFixed(1)} s; violations: ${violations.length}; reads: ` +
      REGIONS.map((r) => `${r} ${share(run.localShare[r])}`).join('; '),
  )
  t.ok(run.operations >= 10_000)
  t.ok(adopted > 50, `tokens were handed between regions (${adopted})`)
  t.same(violations.slice(0, 5), [], 'no violations')
  for (const region of REGIONS) {
    t.ok(
      run.localShare[region].local / run.localShare[region].reads >= 0.5,
      `${region}: most reads stay local (${share(run.localShare[region])})`,
    )
  }
  const ms = await convergence(0, run.keys)
  t.comment(`eventual: all three DCs hold the same value of all ${run.keys} registers ${ms} ms after the last write`)
})

t.test('control: the same run with every request eventual (always local) finds violations', async (t) => {
  const run = await runWorkload(3_000, seed + 1, true, 10_000)
  const violations = checkSessionHistory(run.history)
  const byKind = (kind: string): number => violations.filter((v) => v.kind === kind).length
  t.comment(
    `${run.operations} operations forced local in ${run.seconds.toFixed(1)} s: ${byKind('read-your-writes')} read-your-writes and ` +
      `${byKind('monotonic-reads')} monotonic-read violations`,
  )
  t.ok(violations.length > 0, 'the checker found violations')
})

/** The token of a write through us-east's Grey, then a read of it through `region`'s Grey carrying that token. */
async function handOff(region: Region, key: number, value: number): Promise<{ value: number | null; warnings: string[] }> {
  const write = await app['us-east'].execute(`UPDATE ${TABLE} SET v = ? WHERE k = ?`, [value, key], { prepare: true })
  const token = (write.info as { customPayload?: Record<string, Buffer> }).customPayload!['grey.token']!
  const read = await app[region].execute(`SELECT v FROM ${TABLE} WHERE k = ?`, [key], {
    prepare: true,
    customPayload: { 'grey.after': token },
  })
  return { value: (read.first()?.get('v') as number | undefined) ?? null, warnings: read.info.warnings ?? [] }
}

const routed = async (grey: GreyInProcess, reason: string): Promise<number> => {
  let n = 0
  for (const line of (await grey.metrics()).split('\n')) {
    if (line.startsWith('grey_query_routing_total{protocol="cql",kind="read"') && line.includes(`reason="${reason}"`)) {
      n += Number(line.split(' ').at(-1))
    }
  }
  return n
}

t.test("a token handed to another region: the read goes to the writer's DC and sees the write", async (t) => {
  const before = await routed(greys['ap-south'], "session read in the token's dc")
  const { value, warnings } = await handOff('ap-south', 20_000, 7)
  t.equal(value, 7, "ap-south's session read sees the us-east write at once")
  t.same(warnings, [], 'not stale')
  t.equal(await routed(greys['ap-south'], "session read in the token's dc"), before + 1, "served by the token's DC")
})

t.test('affinity rules: writes of a row go to its home DC, found from a bound column or a key hint', async (t) => {
  await direct['us-east'].execute('CREATE TABLE IF NOT EXISTS affinity_users (user_id int PRIMARY KEY, name text)')
  const grey = await greyInProcess(
    'eu-west',
    { GREY_ROUTING__AFFINITY: '[{key: "user:*", tables: [affinity_users], column: user_id, placement: ap-south}]' },
    { cql: true },
  )
  const client = cassandraClient(lab, clients, grey.cql, 'eu-west', lab.pg)
  try {
    const homeWrites = async (): Promise<number> => {
      let n = 0
      for (const line of (await grey.metrics()).split('\n')) {
        if (
          line.startsWith('grey_query_routing_total{protocol="cql",kind="write"') &&
          line.includes('region="ap-south",reason="affinity: home dc"')
        ) {
          n += Number(line.split(' ').at(-1))
        }
      }
      return n
    }
    const id = Date.now() % 1_000_000_000
    await client.execute('INSERT INTO affinity_users (user_id, name) VALUES (?, ?)', [id, 'bound'], { prepare: true })
    await client.execute(`/* grey: key=user:${id + 1} */ INSERT INTO affinity_users (user_id, name) VALUES (${id + 1}, 'hinted')`, [], {
      prepare: false,
    })
    await client.execute('UPDATE affinity_users SET name = ? WHERE user_id = ?', ['elsewhere', id + 2], { prepare: true })
    t.equal(await homeWrites(), 3, 'every write went to ap-south, the home region')
    // Written there at LOCAL_QUORUM: ap-south's own node has them at once, before any cross-DC replication.
    for (const [key, name] of [
      [id, 'bound'],
      [id + 1, 'hinted'],
    ] as const) {
      const row = (
        await direct['ap-south'].execute('SELECT name FROM affinity_users WHERE user_id = ?', [key], {
          prepare: true,
          consistency: types.consistencies.localOne,
        })
      ).first()
      t.equal(row?.get('name'), name, `user:${key} is in ap-south`)
    }
  } finally {
    await client.shutdown()
    await grey.stop()
  }
})

const staleReads = async (grey: GreyInProcess): Promise<number> => {
  const line = (await grey.metrics()).split('\n').find((l) => l.startsWith('grey_stale_reads_total{protocol="cql",region="ap-south"}'))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

t.test('stale warnings: reads in a region cut off from the other DCs say so', async (t) => {
  const status = async (): Promise<Record<string, { healthy: boolean }>> => {
    const res = await fetch(`${greys['ap-south'].admin}/status`, { headers: { authorization: `Bearer ${lab.admin.token}` } })
    return ((await res.json()) as { cassandra: Record<string, { healthy: boolean }> }).cassandra
  }
  const until = async (what: string, ok: (s: Record<string, { healthy: boolean }>) => boolean): Promise<void> => {
    for (const deadline = Date.now() + 20_000; !ok(await status()); await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    }
  }
  const { value } = await handOff('ap-south', 20_001, 1)
  t.equal(value, 1)
  const staleBefore = await staleReads(greys['ap-south'])
  labCli('partition', 'ap-south')
  try {
    await until('ap-south to see the other DCs down', (s) => !s['us-east']!.healthy && !s['eu-west']!.healthy && s['ap-south']!.healthy)
    const read = await app['ap-south'].execute(`SELECT v FROM ${TABLE} WHERE k = ?`, [20_001], { prepare: true })
    t.equal(read.first()?.get('v'), 1, 'the local DC still answers')
    t.same(read.info.warnings, ['grey: stale read: ap-south is cut off from every other Cassandra DC'], 'with a warning')
    t.equal(await staleReads(greys['ap-south']), staleBefore + 1, 'counted in grey_stale_reads_total')
    const write = await app['ap-south'].execute(`UPDATE ${TABLE} SET v = ? WHERE k = ?`, [2, 20_002], { prepare: true })
    t.same(write.info.warnings ?? [], [], 'a local write is not flagged')
  } finally {
    labCli('heal')
  }
  await until('ap-south to see every DC again', (s) => Object.values(s).every((dc) => dc.healthy))
})
