// Causality tokens on the lab's real PostgreSQL: the commit position of every write comes back in the same round
// trip, session reads go to the local standby once it has replayed the session's token (else wait, else the
// primary), and tokens carry read-your-writes to another connection in another region. ap-south's standby is
// paused (pg_wal_replay_pause) where a test needs a replica that lags.
import t from 'tap'
import type pg from 'pg'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, metricValue, pgConnect, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const SESSION_WAIT_MS = 300
const env = { GREY_ROUTING__SESSION_WAIT: `${SESSION_WAIT_MS}ms` }
const [eu, ap, east] = [await greyInProcess('eu-west', env), await greyInProcess('ap-south', env), await greyInProcess('us-east', env)]
const primary = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
const apSouthAdmin = await pgSuperuser(lab, 'ap-south')
const clients: pg.Client[] = []
const connect = async (grey: { pg: string }): Promise<pg.Client> => {
  const c = await pgConnect(lab, grey.pg)
  clients.push(c)
  return c
}
t.teardown(async () => {
  await apSouthAdmin.query('SELECT pg_wal_replay_resume()').catch(() => undefined)
  await Promise.all([...clients, primary, apSouthAdmin].map((c) => c.end()))
  await Promise.all([eu.stop(), ap.stop(), east.stop()])
})
await primary.query('CREATE TABLE IF NOT EXISTS token_probe (id serial PRIMARY KEY, note text)')

const TOKEN = /^g1\.0\.[0-9A-F]+\/[0-9A-F]+\.[0-9a-f]{16}$/
const token = async (c: pg.Client): Promise<string> => (await c.query<{ 'grey.token': string }>('SHOW grey.token')).rows[0]!['grey.token']
const insert = async (c: pg.Client, note: string): Promise<number> =>
  (await c.query<{ id: number }>('INSERT INTO token_probe (note) VALUES ($1) RETURNING id', [note])).rows[0]!.id
const has = async (c: pg.Client, id: number, hint = ''): Promise<boolean> =>
  (await c.query(`${hint}SELECT 1 FROM token_probe WHERE id = $1`, [id])).rowCount === 1
const routed = async (grey: { metrics(): Promise<string> }, target: string, region: string, reason: string): Promise<number> =>
  metricValue(
    await grey.metrics(),
    `grey_query_routing_total{protocol="pg",kind="read",target="${target}",region="${region}",reason="${reason}"}`,
  )
const lsnOf = (tk: string): bigint => {
  const [hi, lo] = tk.split('.')[2]!.split('/')
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
}

async function median(times: number, act: () => Promise<unknown>): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < times; i++) {
    const t0 = process.hrtime.bigint()
    await act()
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return samples.sort((a, b) => a - b)[Math.floor(times / 2)]!
}

async function withApSouthPaused<T>(act: () => Promise<T>): Promise<T> {
  await apSouthAdmin.query('SELECT pg_wal_replay_pause()')
  try {
    return await act()
  } finally {
    await apSouthAdmin.query('SELECT pg_wal_replay_resume()')
  }
}

t.test('the commit position rides behind the write: a write through Grey costs one round trip to the primary', async (t) => {
  const c = await connect(eu)
  t.equal(await token(c), 'g1.0.0/0.0000000000000000', 'nothing written yet')
  // eu-west is the synchronous standby: without this the commit would also wait one eu-west round trip.
  await c.query('SET synchronous_commit TO local')
  const roundTripMs = await median(9, () => c.query('/* grey: consistency=strong */ SELECT 1'))
  const writeMs = await median(9, () => insert(c, 'round trips'))
  t.comment(
    `eu-west → us-east (40 ms each way): strong SELECT 1 ${roundTripMs.toFixed(1)} ms, INSERT ${writeMs.toFixed(1)} ms (median of 9)`,
  )
  t.ok(roundTripMs >= 80, 'the strong read crosses the WAN')
  // A second round trip for the position would add another 80 ms.
  t.ok(writeMs < roundTripMs + 40, `the write took ${writeMs.toFixed(1)} ms: one round trip, not two`)
  const first = await token(c)
  t.match(first, TOKEN)
  await insert(c, 'again')
  t.ok(lsnOf(await token(c)) > lsnOf(first), 'each write moves the token on')
})

t.test('a read on the primary of its own region runs alone; its position is asked for only when the token is shown', async (t) => {
  const c = await connect(east)
  // The primary moves on without Grey: the token must still cover what the read below can see.
  await primary.query("INSERT INTO token_probe (note) VALUES ('written beside Grey')")
  const moved = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn
  const probe = `read alone ${process.pid}-${Date.now()}`
  await c.query(`SELECT '${probe}' AS probe`)
  const last = await primary.query('SELECT 1 FROM pg_stat_activity WHERE query = $1', [`SELECT '${probe}' AS probe`])
  t.equal(last.rowCount, 1, 'the server connection ran nothing after the read (no position query behind it)')
  const [hi, lo] = moved.split('/')
  const movedLsn = (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
  const shown = await token(c)
  t.match(shown, TOKEN)
  t.ok(lsnOf(shown) >= movedLsn, `SHOW grey.token covers the read: ${shown} is at or past ${moved}`)
})

t.test('read-your-writes on the local standby', async (t) => {
  const c = await connect(eu)
  const before =
    (await routed(eu, 'replica', 'eu-west', 'replica has the session token')) +
    (await routed(eu, 'replica', 'eu-west', 'replica caught up with the session token'))
  for (let i = 0; i < 5; i++) t.ok(await has(c, await insert(c, `ryw ${i}`)), `write ${i} is read back`)
  const after =
    (await routed(eu, 'replica', 'eu-west', 'replica has the session token')) +
    (await routed(eu, 'replica', 'eu-west', 'replica caught up with the session token'))
  t.equal(after - before, 5, 'all five reads were served by the eu-west standby')
})

t.test('a standby that has not replayed the token: the read waits session_wait, then goes to the primary', async (t) => {
  const c = await connect(ap)
  await withApSouthPaused(async () => {
    const id = await insert(c, 'behind')
    const before = await routed(ap, 'primary', 'us-east', 'replica behind the session token')
    const t0 = Date.now()
    t.ok(await has(c, id), 'the write is read back')
    t.ok(Date.now() - t0 >= SESSION_WAIT_MS, `after waiting ${Date.now() - t0} ms`)
    t.equal(await routed(ap, 'primary', 'us-east', 'replica behind the session token'), before + 1, 'from the primary')
  })
})

t.test('tokens carry read-your-writes to another connection in another region; without one the read is stale', async (t) => {
  const writer = await connect(eu)
  await withApSouthPaused(async () => {
    const id = await insert(writer, 'travels')
    const tk = await token(writer)
    t.notOk(await has(await connect(ap), id), 'control: a fresh ap-south session without the token reads the paused standby')
    const bySetting = await connect(ap)
    await bySetting.query(`SET grey.after = '${tk}'`)
    t.equal(await token(bySetting), tk, 'SHOW grey.token shows what it adopted')
    t.ok(await has(bySetting, id), 'SET grey.after: the read sees the eu-west write')
    t.ok(await has(await connect(ap), id, `/* grey: after=${tk} */ `), 'an after= hint does the same for one statement')
  })
})

t.test('a bad token: 22023 with a sentence, and the session carries on', async (t) => {
  const c = await connect(ap)
  await t.rejects(c.query("SET grey.after = 'yesterday'"), {
    code: '22023',
    message: /"yesterday" is not a causality token .*SHOW grey\.token/,
  })
  await t.rejects(c.query('/* grey: after=g1.0.0/0.zz */ SELECT 1'), { code: '22023', message: /is not a causality token/ })
  const future = `g1.0.0/1.${((BigInt(Date.now() + 3_600_000) << 16n) | 0n).toString(16).padStart(16, '0')}`
  await t.rejects(c.query(`SET grey.after = '${future}'`), { code: '22023', message: /from the future.*ahead of the local clock/ })
  t.same((await c.query('SELECT 2 AS n')).rows, [{ n: 2 }])
  t.equal(await token(c), 'g1.0.0/0.0000000000000000', 'none of them was adopted')
})
