// Partition write queues (issue 7, item 4) on a lab of their own (slot 3, .lab-queue, without Cassandra), with the three
// Greys in this process as its Raft members, each queueing on its region's Redis (appendonly, appendfsync always).
// us-east, the primary's region, is partitioned: writes through its Grey with /* grey: queue */ (simple and extended
// protocol, two node-postgres clients at once) are answered "queued, not committed" with 0 rows and reach nothing;
// others are refused with 25006. On heal every queued write is applied exactly once, in HLC order, carrying its HLC.
// failover_after is 60 s, so the majority does not promote during the partition. Then, on the same lab's primary: a
// replay repeated after a "crash" between commit and removal is skipped by the marker, a write that cannot succeed is
// dead-lettered, a primary out of reach keeps the queue; and a Redis that would not fsync every write is refused.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { Redis } from 'ioredis'
import { serialize } from 'pg-protocol/dist/serializer'
import { callAdmin } from '../../src/cli/cluster-command.js'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { hostPort } from '../../src/config/host-port.js'
import { FileQueueStore } from '../../src/partition/file-queue-store.js'
import { PartitionQueue, type PartitionQueueOptions, type QueueInput } from '../../src/partition/partition-queue.js'
import { createPartitionQueueMetrics } from '../../src/partition/partition-queue-metrics.js'
import { RedisQueueStore } from '../../src/partition/redis-queue-store.js'
import { greyInProcess, run, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { rawConnect } from '../fixtures/raw-client.js'
import { GREY, metricValue, ROOT, type LabJson } from '../fixtures/test-lab.js'

const SLOT = 3
const DIR = join(ROOT, '.lab-queue')
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const QUEUED = 20
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function lab(...args: string[]): string {
  const r = spawnSync(process.execPath, [GREY, 'lab', ...args, '--dir', DIR], { encoding: 'utf8', cwd: ROOT, timeout: 600_000 })
  if (r.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** Not spawnSync: the Greys share this event loop. */
async function labAsync(...args: string[]): Promise<void> {
  const r = await run(process.execPath, [GREY, 'lab', ...args, '--dir', DIR])
  if (r.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed: ${r.stderr}`)
}

async function within<T>(ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`)
    await sleep(100)
  }
}

if (existsSync(join(DIR, 'state.json'))) lab('down')
rmSync(DIR, { recursive: true, force: true })
lab('up', '--slot', String(SLOT), '--without', 'cassandra,grey')
const labJson = JSON.parse(readFileSync(join(DIR, 'lab.json'), 'utf8')) as LabJson
const greys = {} as Record<(typeof REGIONS)[number], GreyInProcess>
const clients: pg.Client[] = []
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
  await Promise.all(Object.values(greys).map((g) => g.stop()))
  lab('down')
  rmSync(DIR, { recursive: true, force: true })
})
/** A Grey of `region` in this process, the lab's Raft member there, with its partition queue. */
function startGrey(region: (typeof REGIONS)[number]): Promise<GreyInProcess> {
  return greyInProcess(
    region,
    {
      GREY_FAILOVER__FAILOVER_AFTER: '60s',
      // Each kind of store: us-east on its region's Redis (the default), eu-west on a Redis named in the config,
      // ap-south on a file.
      ...(region === 'ap-south'
        ? { GREY_PARTITION__QUEUE__STORE: 'file', GREY_PARTITION__QUEUE__DIR: join(DIR, 'queue-ap-south') }
        : { GREY_PARTITION__QUEUE__STORE: 'redis' }),
      ...(region === 'eu-west' ? { GREY_PARTITION__QUEUE__REDIS: `redis://${labJson.regions['eu-west']!.redis}` } : {}),
      GREY_PARTITION__QUEUE__REPLAY_INTERVAL: '250ms',
      GREY_PARTITION__QUEUE__MAX_ENTRIES: String(QUEUED + 2),
      GREY_PARTITION__QUEUE__TABLES: '[queued_by_table]',
      // A user that speaks the protocol by hand (Describe of a statement, which node-postgres never sends).
      GREY_PROXY__AUTH__USERS__RAW__TRUST: 'true',
    },
    { lab: { dir: DIR, slot: SLOT, raft: true } },
  )
}
for (const region of REGIONS) greys[region] = await startGrey(region)

async function connect(address: string): Promise<pg.Client> {
  const client = new pg.Client({ ...hostPort(address), ...labJson.pg, query_timeout: 10_000 })
  client.on('error', () => undefined)
  await client.connect()
  clients.push(client)
  return client
}

const primary = await connect(labJson.regions['us-east']!.pg.direct)
await primary.query(
  "CREATE TABLE queued_order (seq serial PRIMARY KEY, writer text NOT NULL, n int NOT NULL, hlc text DEFAULT current_setting('grey.hlc', true), UNIQUE (writer, n))",
)
await primary.query('CREATE TABLE queued_by_table (note text)')
await within(30_000, async () => {
  const s = (await callAdmin({ url: greys['eu-west'].admin, token: labJson.admin.token }, 'GET', '/status')) as {
    raft: { leader: string | null }
  }
  return s.raft.leader ?? undefined
})
t.test('each Grey shows its queue and store in /status', async (t) => {
  for (const region of REGIONS) {
    const s = (await callAdmin({ url: greys[region].admin, token: labJson.admin.token }, 'GET', '/status')) as {
      partition_queue: { store: string; depth: number }
    }
    t.same(s.partition_queue, { store: region === 'ap-south' ? 'file' : 'redis', depth: 0 }, `${region}: /status shows its queue`)
  }
})

t.test('us-east cut off: hinted writes are queued, not committed; on heal they are applied once each, in HLC order', async (t) => {
  const [a, b] = [await connect(greys['us-east'].pg), await connect(greys['us-east'].pg)]
  const notices = new Map<pg.Client, { code: string; message: string }[]>()
  for (const c of [a, b]) {
    notices.set(c, [])
    c.on('notice', (n) => notices.get(c)!.push({ code: n.code ?? '', message: n.message ?? '' }))
  }
  const metricsBefore = await greys['us-east'].metrics()
  await labAsync('partition', 'us-east')
  t.teardown(() => labAsync('heal', 'us-east'))
  const partitionedAt = Date.now()
  // The us-east member notices it hears a minority once its election timeout passes; a strong read asks without
  // writing (a write would wait for the synchronous standby across the partition until the member notices).
  await within(10_000, () =>
    a.query('/* grey: consistency=strong */ SELECT 1').then(
      () => undefined,
      (e: { code?: string }) => (e.code === '25006' ? true : undefined),
    ),
  )
  t.comment(`cut off ${Date.now() - partitionedAt} ms after the partition`)
  await t.rejects(a.query("INSERT INTO queued_order (writer, n) VALUES ('unhinted', 1)"), {
    code: '25006',
    message: /us-east is cut off from the Raft majority.*marked \/\* grey: queue \*\/ is queued here/,
  })

  // Two clients at once, each alternating the simple and the extended protocol.
  const queued: { writer: string; n: number; id: string; hlc: string; rowCount: number | null }[] = []
  const writeAs = async (client: pg.Client, writer: string): Promise<void> => {
    for (let n = 1; n <= QUEUED / 2; n++) {
      const r =
        n % 2 === 1
          ? await client.query(`/* grey: queue */ INSERT INTO queued_order (writer, n) VALUES ('${writer}', ${n})`)
          : await client.query('/* grey: queue */ INSERT INTO queued_order (writer, n) VALUES ($1, $2)', [writer, n])
      const notice = notices.get(client)!.at(-1)!
      const m = /\(id (\S+), HLC ([0-9a-f]{16})\)/.exec(notice.message)!
      queued.push({ writer, n, id: m[1]!, hlc: m[2]!, rowCount: r.rowCount })
    }
  }
  await Promise.all([writeAs(a, 'a'), writeAs(b, 'b')])
  t.equal(queued.length, QUEUED, `${QUEUED} writes answered`)
  t.equal(new Set(queued.map((q) => q.hlc)).size, QUEUED, 'each with an HLC of its own')
  t.ok(
    queued.every((q) => q.rowCount === 0),
    'each answered with 0 rows',
  )
  const warnings = [...notices.values()].flat()
  t.ok(
    warnings.every((w) => w.code === '01GQ0' && /^grey: queued, not committed: us-east is cut off/.test(w.message)),
    'each with the WARNING 01GQ0 "queued, not committed"',
  )
  const raw = await describedStatementReply(greys['us-east'].pg)
  t.same(
    raw.types,
    ['1', 't', 'n', '2', 'N', 'C', 'Z'],
    'by hand: ParseComplete, ParameterDescription, NoData, BindComplete, the WARNING, CommandComplete, ReadyForQuery',
  )
  t.same(raw.parameterTypes, [25, 23], 'a parameter of unspecified type is described as text')
  const hlc = /HLC ([0-9a-f]{16})/.exec(raw.warning)![1]!
  queued.push({ writer: 'raw', n: 1, id: `grey-us-east-${hlc}`, hlc, rowCount: 0 })
  const byTable = await a.query("INSERT INTO queued_by_table VALUES ('no hint')")
  t.match(
    { rowCount: byTable.rowCount, warning: notices.get(a)!.at(-1)?.code },
    { rowCount: 0, warning: '01GQ0' },
    'a write to a table of partition.queue.tables is queued without the hint',
  )
  await t.rejects(a.query("/* grey: queue */ INSERT INTO queued_order (writer, n) VALUES ('full', 1)"), {
    code: '25006',
    message: /the partition queue is full \(partition.queue.max_entries = 22\)/,
  })
  await t.rejects(a.query('/* grey: queue */ INSERT INTO queued_order (writer, n) VALUES ($1, $2) RETURNING seq', ['r', 1]), {
    code: '25006',
    message: /asked to be queued but cannot be: a statement with RETURNING/,
  })
  await t.rejects(
    a.query('BEGIN').then(() => a.query("/* grey: queue */ INSERT INTO queued_order (writer, n) VALUES ('t', 1)")),
    {
      code: '25006',
      message: /not one inside a transaction/,
    },
  )
  const direct = await primary.query('SELECT count(*)::int AS n FROM queued_order')
  t.equal(direct.rows[0].n, 0, 'nothing reached PostgreSQL while cut off')
  const during = await greys['us-east'].metrics()
  t.equal(metricValue(during, 'grey_partition_queue_depth{protocol="pg"}'), QUEUED + 2, 'grey_partition_queue_depth')
  const redis = new Redis(`redis://${labJson.regions['us-east']!.redis}`)
  t.equal(await redis.xlen('grey:partition-queue:grey-us-east'), QUEUED + 2, "held in the us-east Redis's stream")
  // The us-east Grey restarts inside the partition: its successor finds the queue in Redis (and, hearing no majority,
  // replays nothing yet).
  await greys['us-east'].stop()
  greys['us-east'] = await startGrey('us-east')
  const restarted = await greys['us-east'].metrics()
  t.equal(metricValue(restarted, 'grey_partition_queue_depth{protocol="pg"}'), QUEUED + 2, 'the restarted Grey has the queue')

  await labAsync('heal', 'us-east')
  const healedAt = Date.now()
  await within(30_000, async () =>
    metricValue(await greys['us-east'].metrics(), 'grey_partition_queue_depth{protocol="pg"}') === 0 ? true : undefined,
  )
  const replayMs = Date.now() - healedAt
  t.equal(await redis.xlen('grey:partition-queue:grey-us-east'), 0, 'the stream is empty')
  redis.disconnect()

  const { rows } = await primary.query<{ writer: string; n: number; hlc: string }>('SELECT writer, n, hlc FROM queued_order ORDER BY seq')
  const expected = [...queued].sort((x, y) => (x.hlc < y.hlc ? -1 : 1))
  const keys = new Set(rows.map((r) => `${r.writer}/${r.n}`))
  const duplicates = rows.length - keys.size
  const inOrder = rows.every((r, i) => r.writer === expected[i]?.writer && r.n === expected[i]?.n)
  t.equal(rows.length, QUEUED + 1, 'every queued write applied')
  t.equal(duplicates, 0, 'none twice')
  t.ok(inOrder, 'in HLC order (the serial column shows the replay order)')
  t.same(
    rows.map((r) => r.hlc),
    expected.map((q) => q.hlc),
    "each carried its original HLC (current_setting('grey.hlc'))",
  )
  const markers = await primary.query('SELECT count(*)::int AS n FROM grey_queue_applied')
  t.equal(markers.rows[0].n, QUEUED + 2, 'one marker row per write')
  const viaTable = await primary.query('SELECT note FROM queued_by_table')
  t.same(viaTable.rows, [{ note: 'no hint' }], 'the write queued by its table, applied once')
  const after = await greys['us-east'].metrics()
  // Queued by the first us-east Grey, replayed by its successor.
  const count = (text: string, outcome: string): number =>
    metricValue(text, `grey_partition_queue_writes_total{protocol="pg",outcome="${outcome}"}`)
  t.same(
    {
      queued: count(during, 'queued') - count(metricsBefore, 'queued'),
      replayed: count(after, 'replayed'),
      duplicate: count(after, 'duplicate'),
      dead_letter: count(after, 'dead_letter'),
    },
    { queued: QUEUED + 2, replayed: QUEUED + 2, duplicate: 0, dead_letter: 0 },
    'grey_partition_queue_writes_total',
  )
  t.comment(
    `partition-queue replay: ${queued.length + 1} queued (simple and extended, 2 clients, 1 by hand, 1 by its table), ` +
      `Grey restarted, ${rows.length + viaTable.rows.length} replayed, ${duplicates} duplicates, ` +
      `HLC order ${inOrder ? 'preserved' : 'BROKEN'}; queue empty ${replayMs} ms after the heal`,
  )
  const write = await (await connect(greys['us-east'].pg)).query("INSERT INTO queued_order (writer, n) VALUES ('after heal', 1)")
  t.equal(write.rowCount, 1, 'writes go through again')
})

/**
 * By hand, as the trusted user raw: Parse of a named statement with one parameter type left open, Describe of the
 * statement, Bind, Execute, Sync; the reply's message types, the described parameter types and the WARNING's text.
 */
async function describedStatementReply(address: string): Promise<{ types: string[]; parameterTypes: number[]; warning: string }> {
  const socket = await rawConnect(address)
  const replies: Buffer[] = []
  const readUntilReady = async (): Promise<Buffer> => {
    for (;;) {
      const all = Buffer.concat(replies)
      if (all.length >= 6 && all[all.length - 6] === 0x5a) return all
      await once(socket, 'data').then(([d]) => replies.push(d as Buffer))
    }
  }
  socket.write(serialize.startup({ user: 'raw', database: labJson.pg.database }))
  await readUntilReady()
  replies.length = 0
  const sql = '/* grey: queue */ INSERT INTO queued_order (writer, n) VALUES ($1, $2)'
  socket.write(
    Buffer.concat([
      serialize.parse({ name: 'by_hand', text: sql, types: [0, 23] }),
      serialize.describe({ type: 'S', name: 'by_hand' }),
      serialize.bind({ statement: 'by_hand', values: ['raw', '1'] }),
      serialize.execute(),
      serialize.sync(),
    ]),
  )
  const reply = await readUntilReady()
  socket.destroy()
  const types: string[] = []
  let parameterTypes: number[] = []
  let warning = ''
  for (let at = 0; at < reply.length; at += 1 + reply.readInt32BE(at + 1)) {
    const type = String.fromCharCode(reply[at]!)
    types.push(type)
    if (type === 't') parameterTypes = Array.from({ length: reply.readInt16BE(at + 5) }, (_, i) => reply.readInt32BE(at + 7 + 4 * i))
    if (type === 'N') warning = reply.subarray(at + 5, at + 1 + reply.readInt32BE(at + 1)).toString('utf8')
  }
  return { types, parameterTypes, warning }
}

/** A queue of this test's own on a file, against the lab's primary, as `grey proxy` builds it. */
function fileQueue(
  dir: string,
  cutOff: { value: boolean } | (() => boolean),
  port = hostPort(labJson.regions['us-east']!.pg.direct).port,
  more: Partial<PartitionQueueOptions> = {},
): PartitionQueue {
  return new PartitionQueue({
    store: new FileQueueStore(dir),
    region: 'us-east',
    instanceId: 'grey-queue-test',
    clock: new HybridLogicalClock(),
    maxEntries: 3,
    replayIntervalMs: 60_000,
    statementTimeoutMs: 5000,
    isCutOff: typeof cutOff === 'function' ? cutOff : () => cutOff.value,
    primary: () => ({ region: 'us-east', host: '127.0.0.1', port }),
    credentials: labJson.pg,
    metrics: createPartitionQueueMetrics(new Registry()),
    log: pino({ level: 'silent' }),
    ...more,
  })
}

const input = (sql: string, more: Partial<QueueInput> = {}): QueueInput => ({
  user: 'grey',
  database: labJson.pg.database,
  sql,
  mode: 'simple',
  paramTypes: [],
  params: [],
  settings: [],
  ...more,
})

t.test('file store: a replay repeated after a crash before removal is skipped; a failing write is dead-lettered', async (t) => {
  await primary.query('CREATE TABLE queued_once (id int PRIMARY KEY, note text)')
  await primary.query("INSERT INTO queued_once VALUES (99, 'taken')")
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-it-'))
  const cutOff = { value: true }
  const queue = fileQueue(dir, cutOff)
  await queue.start()
  const once = await queue.enqueue(
    input('INSERT INTO queued_once VALUES ($1, $2)', {
      mode: 'extended',
      paramTypes: [23, 0],
      params: [{ binary: 'AAAAAQ==' }, { text: 'é, as bound' }],
    }),
  )
  t.match(once, { mode: 'extended', region: 'us-east' })
  await queue.enqueue(input("INSERT INTO queued_once VALUES (99, 'conflicts')"))
  await queue.enqueue(
    input("INSERT INTO queued_once VALUES (2, current_setting('search_path'))", { settings: ["SET search_path TO 'public'"] }),
  )
  t.match(await queue.enqueue(input('INSERT INTO queued_once VALUES (3)')), /partition queue is full \(partition.queue.max_entries = 3\)/)
  t.same(await queue.replay(), { replayed: 0, duplicates: 0, deadLettered: 0, stoppedBy: null }, 'nothing while cut off')
  // What the file held before the replay: as if Grey had crashed after the commits, before removing them.
  copyFileSync(join(dir, 'queue.jsonl'), join(dir, 'before.jsonl'))

  cutOff.value = false
  t.same(await queue.replay(), { replayed: 2, duplicates: 0, deadLettered: 1, stoppedBy: null })
  const rows = await primary.query<{ id: number; note: string }>('SELECT id, note FROM queued_once ORDER BY id')
  t.same(rows.rows, [
    { id: 1, note: 'é, as bound' },
    { id: 2, note: 'public' },
    { id: 99, note: 'taken' },
  ])
  t.match(readFileSync(join(dir, 'dead-letter.jsonl'), 'utf8'), /"reason":"23505: duplicate key value/)
  await queue.stop()

  copyFileSync(join(dir, 'before.jsonl'), join(dir, 'queue.jsonl'))
  const restarted = fileQueue(dir, cutOff)
  await restarted.start()
  t.equal(restarted.depth, 3)
  t.same(await restarted.replay(), { replayed: 0, duplicates: 2, deadLettered: 1, stoppedBy: null }, 'the markers skip both')
  const again = await primary.query('SELECT count(*)::int AS n FROM queued_once')
  t.equal(again.rows[0].n, 3, 'applied exactly once')
  await restarted.stop()
})

t.test('a primary out of reach keeps the queue, in order, for the next try', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-it-'))
  const queue = fileQueue(dir, { value: false }, 1)
  await queue.start()
  await queue.enqueue(input("INSERT INTO queued_once VALUES (7, 'later')"))
  const report = await queue.replay()
  t.match(report, { replayed: 0, stoppedBy: /ECONNREFUSED|connect/ })
  t.equal(queue.depth, 1, 'still queued')
  await queue.stop()
})

t.test('a Redis that would not fsync every write is refused, with the fix', async (t) => {
  const url = `redis://${labJson.regions['us-east']!.redis}`
  const admin = new Redis(url)
  await admin.config('SET', 'appendfsync', 'everysec')
  try {
    const store = new RedisQueueStore(url, 'grey-queue-test')
    t.match(await store.open(), /does not fsync every write \(appendonly yes, appendfsync everysec\).*appendfsync always/)
    await store.close()
  } finally {
    await admin.config('SET', 'appendfsync', 'always')
  }
  // What a Grey queued before it restarted is there after, and a stream entry that is not a write is named, not run.
  const key = 'grey:partition-queue:grey-queue-restart'
  const write = {
    ...input('INSERT INTO t VALUES (1)'),
    id: 'w1',
    hlc: '0000000000000001',
    protocol: 'pg',
    region: 'us-east',
    queuedAt: 'now',
  }
  await admin.xadd(key, '*', 'w', JSON.stringify(write))
  await admin.xadd(key, '*', 'w', 'garbage')
  const store = new RedisQueueStore(url, 'grey-queue-restart')
  t.equal(await store.open(), null)
  t.same(
    store.entries().map((w) => w.id),
    ['w1'],
  )
  t.match(store.skipped, [/not JSON/])
  await store.deadLetter(store.entries()[0]!, '23505: duplicate key')
  await store.remove('w1')
  t.same(store.entries(), [])
  t.equal(await admin.xlen(store.deadLetterKey), 1, 'kept in the dead-letter stream')
  await store.close()
  admin.disconnect()
  const unreachable = new RedisQueueStore('redis://127.0.0.1:1', 'grey-queue-test')
  t.match(await unreachable.open(), /Redis at redis:\/\/127.0.0.1:1 cannot be used/)
  await unreachable.close()
})

t.test('replays that stop: transient failures keep the write, in order; a COMMIT that fails for good dead-letters it', async (t) => {
  await primary.query('CREATE TABLE queued_deferred (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)')
  await primary.query('INSERT INTO queued_deferred VALUES (1)')
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-it-'))
  let cutOff = true
  const queue = fileQueue(dir, () => cutOff, undefined, { statementTimeoutMs: 500, maxEntries: 10 })
  await queue.start()
  await queue.enqueue(input('INSERT INTO queued_deferred VALUES (1)'))
  await queue.enqueue(input('INSERT INTO queued_deferred SELECT 2 FROM pg_sleep(0.2)', { settings: ["SET statement_timeout TO '10ms'"] }))
  await queue.enqueue(input('INSERT INTO queued_deferred SELECT 3 FROM pg_sleep(2)'))
  cutOff = false
  t.match(await queue.replay(), { deadLettered: 1, stoppedBy: /canceling statement due to statement timeout/ }, '57014 is transient')
  t.equal(queue.depth, 2)
  t.match(readFileSync(join(dir, 'dead-letter.jsonl'), 'utf8'), /"reason":"23505: duplicate key value/, 'failed at COMMIT: dead letter')
  await queue.stop()

  // The same queue without the timeout setting: the next write is slower than the replay's own timeout.
  const file = join(dir, 'queue.jsonl')
  writeFileSync(file, readFileSync(file, 'utf8').replace(`"settings":["SET statement_timeout TO '10ms'"]`, '"settings":[]'))
  const slow = fileQueue(dir, () => cutOff, undefined, { statementTimeoutMs: 500, maxEntries: 10 })
  await slow.start()
  let asked = 0
  const flapping = fileQueue(dir + '-none', () => asked++ > 0, undefined, { maxEntries: 10 })
  t.match(await slow.replay(), { replayed: 1, stoppedBy: /no answer within 500 ms/ }, 'a lost connection is transient')
  t.equal(slow.depth, 1, 'the slow write is still queued')
  await slow.stop()

  await flapping.start()
  await flapping.enqueue(input('INSERT INTO queued_deferred VALUES (4)'))
  asked = 0
  t.match(await flapping.replay(), { replayed: 0, stoppedBy: 'the region is cut off again' })
  await flapping.stop()

  const standby = fileQueue(dir + '-standby', { value: false }, hostPort(labJson.regions['eu-west']!.pg.direct).port)
  await standby.start()
  await standby.enqueue(input('INSERT INTO queued_deferred VALUES (5)'))
  t.match(await standby.replay(), { stoppedBy: /read-only transaction/ }, 'a primary still in recovery: retried later')
  await standby.stop()
})

t.test('a queue whose store cannot be used, or fails, queues nothing and says why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-it-'))
  mkdirSync(join(dir, 'queue.jsonl'))
  const broken = fileQueue(dir, { value: true }, undefined, { replayIntervalMs: 50 })
  await broken.start()
  t.match(await broken.enqueue(input('INSERT INTO t VALUES (1)')), /partition queue file .* cannot be used .*EISDIR/)
  // Fixed while Grey runs: the queue opens on a later tick.
  rmdirSync(join(dir, 'queue.jsonl'))
  const queued = await within(5000, async () => {
    const r = await broken.enqueue(input('INSERT INTO t VALUES (1)'))
    return typeof r === 'string' ? undefined : r
  })
  t.match(queued, { sql: 'INSERT INTO t VALUES (1)' }, 'queued once the directory is usable')
  await broken.stop()

  const store = new FileQueueStore(mkdtempSync(join(tmpdir(), 'grey-queue-it-')))
  const failing = fileQueue('unused', { value: true }, undefined, { store })
  await failing.start()
  await store.close()
  t.match(
    await failing.enqueue(input('INSERT INTO t VALUES (1)')),
    /could not be stored in the partition queue \(.*not open\); it was not queued/,
  )
  await failing.stop()
})
