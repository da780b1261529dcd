// cassandra-driver 4.x through Grey's CQL front end, against the test lab's real 3-DC Cassandra.
// Grey runs in this process (its code is measured) with the lab's us-east configuration.
import { once } from 'node:events'
import { createConnection } from 'node:net'
import t from 'tap'
import cassandra from 'cassandra-driver'
import { callAdmin } from '../../src/cli/cluster-command.js'
import { hostPort } from '../../src/config/host-port.js'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { encodeRequest } from '../../src/cql/protocol/encode-request.js'
import { greyInProcess, run, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, GREY, metricValue, TEST_LAB_DIR, type LabJson } from '../fixtures/test-lab.js'

const { types } = cassandra
const lab: LabJson = await ensureTestLab({ cassandra: true })
/** Grey's clock runs 300 ms ahead: its write stamps show it, not the driver's own timestamps. */
const SKEW_MS = 300
const grey = await greyInProcess('us-east', {}, { cql: true, clock: new HybridLogicalClock({ physicalClock: () => Date.now() + SKEW_MS }) })
const greyEu = await greyInProcess('eu-west', {}, { cql: true })
const driverLog: string[] = []
/** `grey lab …` without blocking this process's event loop, which the Grey under test shares. */
async function labAsync(...args: string[]): Promise<void> {
  const r = await run(process.execPath, [GREY, 'lab', ...args, '--dir', TEST_LAB_DIR])
  if (r.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed: ${r.stdout}${r.stderr}`)
}

function client(g: GreyInProcess, dc: string, keyspace?: string): cassandra.Client {
  const c = new cassandra.Client({
    contactPoints: [g.cql],
    localDataCenter: dc,
    credentials: { username: lab.pg.user, password: lab.pg.password },
    ...(keyspace ? { keyspace } : {}),
    queryOptions: { consistency: types.consistencies.localQuorum },
  })
  c.on('log', (level, _class, message) => {
    if (level !== 'verbose') driverLog.push(`${level}: ${message}`)
  })
  return c
}

const app = client(grey, 'us-east', 'grey_lab')
await app.connect()
t.teardown(async () => {
  await app.shutdown()
  await grey.stop()
  await greyEu.stop()
})

t.test('the driver downgrades from 0x42 to v4 and sees Grey as the one node of its datacenter', async (t) => {
  t.match(driverLog.join('\n'), /Protocol 0x42 not supported, using 0x4|not supported.*0x4/, 'the downgrade happened')
  t.equal(app.getState().getConnectedHosts().length, 1, 'one host')
  const host = app.getState().getConnectedHosts()[0]!
  t.equal(host.datacenter, 'us-east')
  t.equal(host.address, grey.cql)
  const local = (await app.execute("SELECT data_center, release_version, host_id, tokens FROM system.local WHERE key = 'local'")).first()
  t.equal(local.get('data_center'), 'us-east')
  t.match(local.get('release_version') as string, /^5\.0\./, 'the backend’s version')
  t.equal((await app.execute('SELECT * FROM system.peers')).rowLength, 0, 'no peers')
  await t.rejects(app.execute('SELECT * FROM system.peers_v2'), { code: 0x2200, message: /unconfigured table peers_v2/ })
})

t.test('CRUD, DDL with schema agreement, prepared statements and batches', async (t) => {
  await app.execute('DROP TABLE IF EXISTS crud')
  await app.execute('CREATE TABLE crud (k text PRIMARY KEY, v int, tags set<text>, attrs map<text, int>, seq list<int>)')
  await app.execute('INSERT INTO crud (k, v) VALUES (?, ?)', ['a', 1], { prepare: true })
  await app.execute('UPDATE crud SET v = ? WHERE k = ?', [2, 'a'], { prepare: true })
  t.equal((await app.execute('SELECT v FROM crud WHERE k = ?', ['a'], { prepare: true })).first().get('v'), 2)
  await app.batch(
    [
      { query: 'INSERT INTO crud (k, v) VALUES (?, ?)', params: ['b', 10] },
      { query: 'INSERT INTO crud (k, v) VALUES (?, ?)', params: ['c', 20] },
    ],
    { prepare: true },
  )
  await app.batch([{ query: "INSERT INTO crud (k, v) VALUES ('d', 30)" }, { query: "INSERT INTO crud (k, v) VALUES ('e', 40)" }], {
    logged: false,
  })
  const all = await app.execute('SELECT k, v FROM crud')
  t.same(all.rows.map((r) => r.get('k') as string).sort(), ['a', 'b', 'c', 'd', 'e'])
  await app.execute('DELETE FROM crud WHERE k = ?', ['e'], { prepare: true })
  t.equal((await app.execute('SELECT k FROM crud WHERE k = ?', ['e'], { prepare: true })).rowLength, 0)
})

t.test('collections and UDTs round-trip; paging passes through', async (t) => {
  await app.execute('DROP TABLE IF EXISTS shapes')
  await app.execute('DROP TYPE IF EXISTS point')
  await app.execute('CREATE TYPE point (x int, y int, label text)')
  await app.execute('CREATE TABLE shapes (id int PRIMARY KEY, tags set<text>, attrs map<text, int>, path list<frozen<point>>)')
  const path = [
    { x: 1, y: 2, label: 'start' },
    { x: 3, y: 4, label: 'end' },
  ]
  await app.execute('INSERT INTO shapes (id, tags, attrs, path) VALUES (?, ?, ?, ?)', [1, ['a', 'b'], { w: 3, h: 4 }, path], {
    prepare: true,
  })
  const row = (await app.execute('SELECT tags, attrs, path FROM shapes WHERE id = 1')).first()
  t.same(row.get('tags'), ['a', 'b'])
  t.same(row.get('attrs'), { h: 4, w: 3 })
  t.same(row.get('path'), path)
  for (let i = 2; i <= 35; i++) await app.execute('INSERT INTO shapes (id) VALUES (?)', [i], { prepare: true })
  const page1 = await app.execute('SELECT id FROM shapes', [], { prepare: true, fetchSize: 10 })
  t.equal(page1.rowLength, 10, 'a page of 10')
  t.ok(page1.pageState, 'with a paging state')
  let seen = 0
  await new Promise<void>((resolve, reject) =>
    app.eachRow(
      'SELECT id FROM shapes',
      [],
      { prepare: true, fetchSize: 7, autoPage: true },
      () => seen++,
      (err) => (err ? reject(err) : resolve()),
    ),
  )
  t.equal(seen, 35, 'every row across pages')
})

t.test('a lightweight transaction goes through Paxos (SERIAL)', async (t) => {
  await app.execute('DROP TABLE IF EXISTS lwt')
  await app.execute('CREATE TABLE lwt (k text PRIMARY KEY, owner text)')
  const lost = async (): Promise<number> => metricValue(await grey.metrics(), 'grey_conflicts_total{protocol="cql",kind="lwt_not_applied"}')
  const before = await lost()
  const first = await app.execute('INSERT INTO lwt (k, owner) VALUES (?, ?) IF NOT EXISTS', ['lock', 'me'], {
    prepare: true,
    serialConsistency: types.consistencies.serial,
  })
  t.equal(first.first().get('[applied]'), true)
  t.equal(await lost(), before, 'an applied conditional write is no conflict')
  const second = await app.execute('INSERT INTO lwt (k, owner) VALUES (?, ?) IF NOT EXISTS', ['lock', 'you'], {
    prepare: true,
    serialConsistency: types.consistencies.serial,
  })
  t.equal(second.first().get('[applied]'), false)
  t.equal(second.first().get('owner'), 'me')
  t.equal(await lost(), before + 1, 'the one not applied counts in grey_conflicts_total')
})

t.test("writes carry Grey's HLC timestamp, not the driver's; USING TIMESTAMP is left alone", async (t) => {
  await app.execute('CREATE TABLE IF NOT EXISTS stamped (k text PRIMARY KEY, v text)')
  const before = Date.now()
  await app.execute('INSERT INTO stamped (k, v) VALUES (?, ?)', ['hlc', 'x'], { prepare: true })
  const after = Date.now()
  const micros = Number((await app.execute("SELECT WRITETIME(v) AS w FROM stamped WHERE k = 'hlc'")).first().get('w'))
  t.ok(
    micros >= (before + SKEW_MS) * 1000 && micros <= (after + SKEW_MS + 50) * 1000,
    `stamped ${micros} by Grey's skewed clock (+${SKEW_MS} ms)`,
  )
  await app.execute("INSERT INTO stamped (k, v) VALUES ('own', 'y') USING TIMESTAMP 42")
  t.equal(Number((await app.execute("SELECT WRITETIME(v) AS w FROM stamped WHERE k = 'own'")).first().get('w')), 42)
})

t.test('reads and writes are routed by consistency level, with reasons', async (t) => {
  const before = await grey.metrics()
  await app.execute('SELECT k FROM crud LIMIT 1', [], { consistency: types.consistencies.localOne })
  await app.execute('SELECT k FROM crud LIMIT 1', [], { consistency: types.consistencies.quorum })
  const after = await grey.metrics()
  const changed = after.split('\n').filter((l) => l.startsWith('grey_query_routing_total{protocol="cql"') && !before.includes(l))
  t.ok(changed.length > 0, `routing decisions counted: ${changed.join(' | ')}`)
  t.ok(metricValue(after, 'grey_connection_pool_active{protocol="cql",node="us-east"}') >= 1, 'the local pool is in use')
})

t.test('each DC is probed: health and the round trip from this Grey, in /status and metrics', async (t) => {
  type Dc = { datacenter: string; healthy: boolean; latencyMs: number | null; error: string | null }
  let dcs: Record<string, Dc> = {}
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    dcs = ((await callAdmin({ url: grey.admin, token: lab.admin.token }, 'GET', '/status')) as { cassandra: Record<string, Dc> }).cassandra
    if (Object.values(dcs).every((dc) => dc.latencyMs !== null)) break
  }
  t.comment(
    `from us-east: ${Object.entries(dcs)
      .map(([r, dc]) => `${r} ${dc.latencyMs?.toFixed(1)} ms`)
      .join(', ')}`,
  )
  t.match(dcs['us-east'], { datacenter: 'us-east', healthy: true, error: null })
  // Through the WAN emulator: 40 ms to eu-west and 90 ms to ap-south, each way.
  t.ok(dcs['eu-west']!.latencyMs! >= 80, 'eu-west: at least the emulated round trip')
  t.ok(dcs['ap-south']!.latencyMs! >= 180, 'ap-south: at least the emulated round trip')
  t.ok(dcs['us-east']!.latencyMs! < dcs['eu-west']!.latencyMs!, 'the local DC is the nearest')
  const metrics = await grey.metrics()
  t.equal(metricValue(metrics, 'grey_cassandra_up{region="ap-south",datacenter="ap-south"}'), 1)
  t.ok(metricValue(metrics, 'grey_cassandra_latency_seconds{region="ap-south",datacenter="ap-south"}') >= 0.18)
})

t.test('schema changes reach a client that registered for them', async (t) => {
  const { host, port } = hostPort(grey.cql)
  const raw = createConnection({ host, port })
  await once(raw, 'connect')
  const frames: Buffer[] = []
  raw.on('data', (d: Buffer) => frames.push(d))
  /** Sends a request and waits for the response on its stream (opcode at byte 4). */
  const ask = async (request: Buffer, opcode: number): Promise<void> => {
    const seen = frames.length
    raw.write(request)
    while (!frames.slice(seen).some((f) => f[4] === opcode)) await new Promise((r) => setTimeout(r, 20))
  }
  await ask(encodeRequest({ type: 'STARTUP', options: new Map([['CQL_VERSION', '3.0.0']]) }, 1), 0x03)
  await ask(encodeRequest({ type: 'AUTH_RESPONSE', token: Buffer.from(`\0${lab.pg.user}\0${lab.pg.password}`) }, 2), 0x10)
  await ask(encodeRequest({ type: 'REGISTER', events: ['SCHEMA_CHANGE'] }, 3), 0x02)
  await app.execute('CREATE TABLE IF NOT EXISTS evented (k int PRIMARY KEY)')
  await app.execute('DROP TABLE evented')
  await new Promise((r) => setTimeout(r, 500))
  raw.destroy()
  const bytes = Buffer.concat(frames).toString('latin1')
  t.match(bytes, /\x0c[\s\S]*SCHEMA_CHANGE[\s\S]*CREATED[\s\S]*TABLE[\s\S]*grey_lab[\s\S]*evented/, 'an EVENT frame for the CREATE')
})

t.test('bad frames get a protocol error on that connection only', async (t) => {
  const { host, port } = hostPort(grey.cql)
  for (const [name, bytes] of [
    ['an unknown opcode', Buffer.from('04000001ff00000000', 'hex')],
    ['a request direction bit missing', Buffer.from('84000001050000000000', 'hex')],
    ['a QUERY before STARTUP', encodeRequest({ type: 'QUERY', query: 'SELECT 1', parameters: { consistency: 1, skipMetadata: false } }, 5)],
  ] as const) {
    const raw = createConnection({ host, port })
    await once(raw, 'connect')
    raw.write(bytes)
    const chunks: Buffer[] = []
    raw.on('data', (d: Buffer) => chunks.push(d))
    await once(raw, 'close')
    const reply = Buffer.concat(chunks)
    t.equal(reply[4], 0x00, `${name}: an ERROR frame`)
    t.equal(reply.readInt32BE(9), 0x000a, `${name}: protocol error 0x000A`)
  }
  t.equal((await app.execute('SELECT k FROM crud LIMIT 1')).rowLength, 1, 'the application carries on')
})

t.test('a Cassandra node restart under a prepared-statement workload reaches no application', async (t) => {
  const eu = client(greyEu, 'eu-west', 'grey_lab')
  await eu.connect()
  t.teardown(() => eu.shutdown())
  let running = true
  let ok = 0
  const errors: string[] = []
  const workload = (async () => {
    for (let i = 0; running; i++) {
      try {
        await eu.execute('INSERT INTO crud (k, v) VALUES (?, ?)', [`restart-${i % 50}`, i], {
          prepare: true,
          consistency: types.consistencies.localOne,
        })
        await eu.execute('SELECT v FROM crud WHERE k = ?', [`restart-${i % 50}`], {
          prepare: true,
          consistency: types.consistencies.localOne,
        })
        ok++
      } catch (err) {
        errors.push((err as Error).message)
      }
    }
  })()
  await new Promise((r) => setTimeout(r, 1000))
  await labAsync('kill', 'cassandra:eu-west')
  await new Promise((r) => setTimeout(r, 3000))
  const during = ok
  await labAsync('restart', 'cassandra:eu-west')
  await new Promise((r) => setTimeout(r, 2000))
  running = false
  await workload
  t.same(errors, [], 'no error reached the application')
  t.ok(during > 0 && ok > during, `requests went on while the node was down (${during}) and after (${ok})`)
})
