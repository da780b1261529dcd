// Two Greys in two regions whose wall clocks disagree by 300 ms (us-east runs ahead), joined by Raft as the lab's
// Greys are. A causal chain — write in us-east, read it through eu-west's Grey, overwrite there — must end with
// eu-west's value in every DC, because each Grey's HLC merges the other's on every Raft message and Grey stamps
// writes with it. The control runs the same chain through two Greys that stamp with their own wall clocks
// (conflict_resolution.strategy: wall-clock-lww, what drivers do by default): last-write-wins keeps the earlier
// write and the overwrite is lost.
import t from 'tap'
import cassandra from 'cassandra-driver'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callAdmin } from '../../src/cli/cluster-command.js'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { cassandraClient } from '../fixtures/cassandra-client.js'
import { greyInProcess, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { freePort } from '../fixtures/free-port.js'
import { ensureTestLab, type LabJson } from '../fixtures/test-lab.js'

const { types } = cassandra
const lab: LabJson = await ensureTestLab({ cassandra: true })
const SKEW_MS = 300
/** Raft heartbeats every 50 ms, so each Grey hears the other's clock within 50 ms plus loopback. */
const HEARTBEAT_MS = 50
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const clients: cassandra.Client[] = []
const greys: GreyInProcess[] = []
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.shutdown()))
  await Promise.all(greys.map((g) => g.stop()))
})

/** A Raft pair of in-process Greys, us-east's clock SKEW_MS ahead of eu-west's, stamping writes by `strategy`. */
async function greyPair(strategy: 'hlc-lww' | 'wall-clock-lww'): Promise<{ east: GreyInProcess; west: GreyInProcess }> {
  const ports = { 'us-east': await freePort(), 'eu-west': await freePort() }
  const peers = Object.entries(ports).map(
    ([region, port]) => `{id: ${strategy}-${region}, address: "127.0.0.1:${port}", region: ${region}}`,
  )
  const dataDir = mkdtempSync(join(tmpdir(), `grey-hlc-${strategy}-`))
  const start = (region: 'us-east' | 'eu-west', skewMs: number): Promise<GreyInProcess> =>
    greyInProcess(
      region,
      {
        GREY_CONFLICT_RESOLUTION__STRATEGY: strategy,
        GREY_CONSENSUS__RAFT__PEERS: `[${peers.join(', ')}]`,
        GREY_CONSENSUS__RAFT__NODE_ID: `${strategy}-${region}`,
        GREY_CONSENSUS__RAFT__LISTEN: `127.0.0.1:${ports[region]}`,
        GREY_CONSENSUS__RAFT__DATA_DIR: join(dataDir, region),
        GREY_CONSENSUS__RAFT__SECRET: 'cql-hlc-causality-test-secret',
        GREY_CONSENSUS__RAFT__HEARTBEAT_INTERVAL: `${HEARTBEAT_MS}ms`,
        GREY_CONSENSUS__RAFT__ELECTION_TIMEOUT: '300ms',
      },
      { cql: true, clock: new HybridLogicalClock({ physicalClock: () => Date.now() + skewMs }) },
    )
  const [east, west] = await Promise.all([start('us-east', SKEW_MS), start('eu-west', 0)])
  greys.push(east, west)
  // Wait for a leader: from then on heartbeats carry each Grey's clock to the other.
  for (const deadline = Date.now() + 10_000; ; await sleep(20)) {
    const status = (await callAdmin({ url: west.admin, token: lab.admin.token }, 'GET', '/status')) as { raft?: { leader: string | null } }
    if (status.raft?.leader) break
    if (Date.now() > deadline) throw new Error(`no Raft leader between the ${strategy} Greys: ${JSON.stringify(status.raft)}`)
  }
  return { east, west }
}

const direct = Object.fromEntries(REGIONS.map((dc) => [dc, cassandraClient(lab, clients, lab.regions[dc]!.cassandra, dc, lab.cassandra)]))
await direct['us-east']!.execute('CREATE TABLE IF NOT EXISTS causal_chain (k text PRIMARY KEY, v text)')

/** Per DC, at LOCAL_ONE from that DC's own node: the value and its write timestamp, once all DCs agree. */
async function converged(key: string): Promise<Record<string, { v: string; micros: bigint }>> {
  let seen: Record<string, { v: string; micros: bigint }> = {}
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    seen = {}
    for (const dc of REGIONS) {
      const row = (
        await direct[dc]!.execute('SELECT v, WRITETIME(v) AS w FROM causal_chain WHERE k = ?', [key], {
          consistency: types.consistencies.localOne,
        })
      ).first()
      if (row) seen[dc] = { v: row.get('v') as string, micros: BigInt(String(row.get('w'))) }
    }
    const values = Object.values(seen)
    if (values.length === REGIONS.length && values.every((s) => s.micros === values[0]!.micros)) return seen
  }
  throw new Error(
    `the DCs did not converge on ${key}: ${JSON.stringify(seen, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`,
  )
}

/**
 * Write 'from us-east' through the east Grey, read it through the west Grey until it is there, give the Raft
 * heartbeats time to carry east's clock west (well inside the 300 ms skew), then overwrite through the west Grey.
 */
async function causalChain(
  pair: { east: GreyInProcess; west: GreyInProcess },
  key: string,
): Promise<{ overwroteAfterMs: number; result: Record<string, { v: string; micros: bigint }> }> {
  const app = {
    east: cassandraClient(lab, clients, pair.east.cql, 'us-east', lab.pg),
    west: cassandraClient(lab, clients, pair.west.cql, 'eu-west', lab.pg),
  }
  await Promise.all([app.east.connect(), app.west.connect()])
  const wroteAt = Date.now()
  await app.east.execute('INSERT INTO causal_chain (k, v) VALUES (?, ?)', [key, 'from us-east'])
  for (;;) {
    const row = (await app.west.execute('SELECT v FROM causal_chain WHERE k = ?', [key])).first()
    if (row?.get('v') === 'from us-east') break
    if (Date.now() - wroteAt > 5000) throw new Error('eu-west never saw the us-east write')
    await sleep(5)
  }
  await sleep(2 * HEARTBEAT_MS)
  const overwroteAfterMs = Date.now() - wroteAt
  await app.west.execute('UPDATE causal_chain SET v = ? WHERE k = ?', ['from eu-west', key])
  t.comment(`${key}: overwritten in eu-west ${overwroteAfterMs} ms after the us-east write (skew ${SKEW_MS} ms)`)
  return { overwroteAfterMs, result: await converged(key) }
}

t.test('HLC stamps: the eu-west overwrite wins in every DC', async (t) => {
  const key = `hlc-${Date.now()}`
  const { result } = await causalChain(await greyPair('hlc-lww'), key)
  for (const dc of REGIONS) t.equal(result[dc]!.v, 'from eu-west', `${dc} has eu-west's value`)
})

t.test('control, wall-clock stamps: the eu-west overwrite is lost in every DC', async (t) => {
  const key = `wall-${Date.now()}`
  const { overwroteAfterMs, result } = await causalChain(await greyPair('wall-clock-lww'), key)
  // Later than the skew, the wall clocks alone would order the writes rightly and the control shows nothing.
  t.ok(overwroteAfterMs < SKEW_MS, `the overwrite came ${overwroteAfterMs} ms after the write, inside the ${SKEW_MS} ms skew`)
  for (const dc of REGIONS) t.equal(result[dc]!.v, 'from us-east', `${dc} kept us-east's earlier write`)
})
