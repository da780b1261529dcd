// Partition write queues for CQL (issue 7, item 4) against the test lab's real Cassandra. A us-east Grey in this process
// is one Raft voter of three whose peers are not running yet: cut off, with failover on and a file queue. Strong writes
// that opt in (the /* grey: queue */ hint, or a keyspace of partition.queue.keyspaces; QUERY and prepared EXECUTE) are
// answered with a Void result and a warning, and reach no Cassandra; LWTs, counter updates, batches and writes that did
// not opt in are refused. Then the two peers start (the partition heals) and the queue replays: every write is in
// Cassandra with writetime() equal to its HLC stamp, the later-stamped of two writes to one cell wins, and replaying a
// copy of the queue again changes nothing (a newer write made meanwhile survives it).
import t, { type Test } from 'tap'
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import cassandra from 'cassandra-driver'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { hostPort } from '../../src/config/host-port.js'
import { CqlWriteReplayer, type CqlQueueInput } from '../../src/partition/cql-write-replayer.js'
import { FileQueueStore } from '../../src/partition/file-queue-store.js'
import { createPartitionQueueMetrics } from '../../src/partition/partition-queue-metrics.js'
import { decodeQueuedWrite, type CqlQueuedWrite } from '../../src/partition/queued-write.js'
import { ReplayQueue } from '../../src/partition/replay-queue.js'
import { cassandraClient } from '../fixtures/cassandra-client.js'
import { cutOffGrey } from '../fixtures/cut-off-grey.js'
import type { GreyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, metricValue, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab({ cassandra: true })
const KS = lab.cassandra.keyspace
/** The keyspace partition.queue.keyspaces lists: its strong writes are queued without the hint. */
const QUEUED_KS = 'grey_queue_cql'
const RUN = `r${Date.now().toString(36)}`
const LOCAL_QUORUM = cassandra.types.consistencies.localQuorum
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const clients: cassandra.Client[] = []
const others: GreyInProcess[] = []

const cassandraUs = hostPort(lab.regions['us-east']!.cassandra)
const direct = cassandraClient(lab, clients, lab.regions['us-east']!.cassandra, 'us-east', lab.cassandra)
const replication = (
  await direct.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [KS], { prepare: true })
)
  .first()!
  .get('replication') as Record<string, string>
const replicationText = `{${Object.entries(replication)
  .map(([k, v]) => `'${k}': '${v}'`)
  .join(', ')}}`
await direct.execute(`CREATE KEYSPACE IF NOT EXISTS ${QUEUED_KS} WITH replication = ${replicationText}`)
await direct.execute(`CREATE TABLE IF NOT EXISTS ${KS}.queued_cql (k text PRIMARY KEY, v text, n int)`)
await direct.execute(`CREATE TABLE IF NOT EXISTS ${QUEUED_KS}.queued_by_ks (k text PRIMARY KEY, v text)`)
await direct.execute(`CREATE TABLE IF NOT EXISTS ${KS}.queued_counter (k text PRIMARY KEY, c counter)`)

const queueDir = mkdtempSync(join(tmpdir(), 'grey-cql-queue-'))
const grey = await cutOffGrey('cql-queue', true, {
  cql: true,
  env: {
    GREY_PARTITION__QUEUE__STORE: 'file',
    GREY_PARTITION__QUEUE__DIR: queueDir,
    GREY_PARTITION__QUEUE__KEYSPACES: `[${QUEUED_KS}]`,
    GREY_PARTITION__QUEUE__REPLAY_INTERVAL: '250ms',
    // Exactly the writes the first subtest queues: one more is refused as the queue being full.
    GREY_PARTITION__QUEUE__MAX_ENTRIES: '7',
  },
})
const credentials = { user: lab.pg.user, password: lab.pg.password }
const viaGrey = cassandraClient(lab, clients, grey.cql, 'us-east', credentials)
/** A session whose keyspace (USE, by the driver) is the configured one: its unqualified writes are queued too. */
const inQueuedKs = new cassandra.Client({
  contactPoints: [grey.cql],
  localDataCenter: 'us-east',
  keyspace: QUEUED_KS,
  credentials: { username: credentials.user, password: credentials.password },
  queryOptions: { consistency: LOCAL_QUORUM, prepare: true },
})
clients.push(inQueuedKs)
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.shutdown()))
  await Promise.all([grey, ...others].map((g) => g.stop()))
})
await viaGrey.connect()
await inQueuedKs.connect()
// The member is cut off once its election timeout has passed without hearing anyone.
await sleep(1500)

/** What the warning of a queued write says about it. */
interface Queued {
  id: string
  hlc: string
  micros: string
}
const queued = new Map<string, Queued>()
const WARNING =
  /^grey: queued, not committed: us-east is cut off from the Raft majority; the write \(id (\S+), HLC ([0-9a-f]{16}), write timestamp (\d+)\)/

function expectQueued(t: Test, key: string, result: cassandra.types.ResultSet): void {
  const warnings = result.info.warnings ?? []
  t.equal(warnings.length, 1, `${key}: one warning`)
  const m = WARNING.exec(warnings[0] ?? '')
  t.ok(m, `${key}: the warning says queued, not committed, with id, HLC and write timestamp`)
  if (m) queued.set(key, { id: m[1]!, hlc: m[2]!, micros: m[3]! })
  t.equal(result.rows?.length ?? 0, 0, `${key}: a Void result`)
}

const hinted = (key: string): string => `${RUN}-${key}`
const strong = '/* grey: queue, consistency=strong */'

t.test('opted-in strong writes are queued and answered with a warning, not committed', async (t) => {
  const k = hinted
  expectQueued(
    t,
    'query-literal',
    await viaGrey.execute(`${strong} INSERT INTO queued_cql (k, v, n) VALUES ('${k('query-literal')}', 'literal', 1)`, [], {
      prepare: false,
    }),
  )
  expectQueued(
    t,
    'query-values',
    await viaGrey.execute(`${strong} INSERT INTO queued_cql (k, v, n) VALUES (?, ?, ?)`, [k('query-values'), 'bound', 2], {
      prepare: false,
      hints: ['text', 'text', 'int'],
    }),
  )
  expectQueued(
    t,
    'execute',
    await viaGrey.execute(`${strong} INSERT INTO queued_cql (k, v, n) VALUES (?, ?, ?)`, [k('execute'), 'prepared', 3]),
  )
  // Two writes to one cell: the second is stamped later and must win, however they are replayed.
  expectQueued(t, 'same-1', await viaGrey.execute(`${strong} UPDATE queued_cql SET v = ? WHERE k = ?`, ['first', k('same')]))
  expectQueued(t, 'same-2', await viaGrey.execute(`${strong} UPDATE queued_cql SET v = ? WHERE k = ?`, ['second', k('same')]))
  expectQueued(
    t,
    'keyspace-query',
    await viaGrey.execute(
      `/* grey: consistency=strong */ INSERT INTO ${QUEUED_KS}.queued_by_ks (k, v) VALUES ('${k('keyspace-query')}', 'by keyspace')`,
      [],
      { prepare: false },
    ),
  )
  expectQueued(
    t,
    'keyspace-execute',
    await inQueuedKs.execute('/* grey: consistency=strong */ INSERT INTO queued_by_ks (k, v) VALUES (?, ?)', [
      k('keyspace-execute'),
      'session keyspace',
    ]),
  )
  t.ok(BigInt(queued.get('same-2')!.micros) > BigInt(queued.get('same-1')!.micros), 'the later write has the later stamp')
  t.equal(metricValue(await grey.metrics(), 'grey_partition_queue_depth{protocol="cql"}'), queued.size, 'grey_partition_queue_depth')
  const stored = readFileSync(join(queueDir, 'cql-queue.jsonl'), 'utf8').trim().split('\n').map(decodeQueuedWrite)
  t.same(
    stored.map((w) => (w instanceof Error ? w.message : w.protocol)),
    [...queued.keys()].map(() => 'cql'),
    'each is a CQL entry of the file store',
  )
  const execute = stored.find((w): w is CqlQueuedWrite => !(w instanceof Error) && w.id === queued.get('execute')!.id)
  t.match(execute, { keyspace: KS, query: /INSERT INTO queued_cql \(k, v, n\) VALUES \(\?, \?, \?\)/, consistency: LOCAL_QUORUM })
  t.same(execute?.values, [
    { bytes: Buffer.from(k('execute')).toString('base64') },
    { bytes: Buffer.from('prepared').toString('base64') },
    { bytes: Buffer.from([0, 0, 0, 3]).toString('base64') },
  ])
  const none = await direct.execute(`SELECT k FROM ${KS}.queued_cql WHERE k IN ?`, [[...queued.keys()].map(k)], {
    consistency: cassandra.types.consistencies.all,
  })
  t.equal(none.rowLength, 0, 'no queued write reached Cassandra')
})

t.test('what cannot or did not ask to be queued is refused with a sentence', async (t) => {
  const refused = { code: 0x0000, message: /us-east is cut off from the Raft majority/ }
  await t.rejects(viaGrey.execute(`${strong} INSERT INTO queued_cql (k, v) VALUES (?, ?) IF NOT EXISTS`, [hinted('lwt'), 'x']), {
    ...refused,
    message: /asked to be queued but cannot be: a lightweight transaction \(IF …\) cannot be queued/,
  })
  await t.rejects(viaGrey.execute(`${strong} UPDATE queued_counter SET c = c + 1 WHERE k = ?`, [hinted('counter')]), {
    message: /a counter update or a collection addition or removal .* cannot be queued: it is not idempotent/,
  })
  await t.rejects(
    viaGrey.batch([{ query: `${strong} INSERT INTO queued_cql (k, v) VALUES (?, ?)`, params: [hinted('batch'), 'x'] }], { prepare: true }),
    { message: /a BATCH cannot be queued/ },
  )
  await t.rejects(
    viaGrey.execute(`/* grey: consistency=strong */ INSERT INTO queued_cql (k, v) VALUES (?, ?)`, [hinted('plain'), 'x']),
    {
      message:
        /refused here.*\. A single INSERT, UPDATE or DELETE .* marked \/\* grey: queue \*\/, or one in a keyspace of partition.queue.keyspaces, is queued here/,
    },
    'a write that did not opt in: refused, with how to opt in',
  )
  await t.rejects(viaGrey.execute(`${strong} INSERT INTO queued_cql (k, v) VALUES (?, ?)`, [hinted('full'), 'x']), {
    message: /cut off from the Raft majority.*\. grey: the partition queue is full \(partition.queue.max_entries = 7\)/,
  })
  const read = viaGrey.execute(`/* grey: queue, consistency=strong */ SELECT v FROM queued_cql WHERE k = ?`, [hinted('plain')])
  await t.rejects(read, refused, 'a strong read is refused, never queued')
  await read.catch((e: Error) => t.notMatch(e.message, /queue/, 'with no word about the queue'))
  const lwt = await direct.execute(
    `SELECT k FROM ${KS}.queued_cql WHERE k IN ?`,
    [[hinted('lwt'), hinted('batch'), hinted('plain'), hinted('full')]],
    {
      consistency: cassandra.types.consistencies.all,
    },
  )
  t.equal(lwt.rowLength, 0, 'none of them reached Cassandra')
  t.equal(metricValue(await grey.metrics(), 'grey_partition_queue_depth{protocol="cql"}'), queued.size, 'nor the queue')
})

const copyDir = mkdtempSync(join(tmpdir(), 'grey-cql-queue-copy-'))
/** writetime(v) and v of each queued key, read at ALL. */
async function cells(): Promise<Map<string, { v: string; writetime: string }>> {
  const out = new Map<string, { v: string; writetime: string }>()
  for (const key of ['query-literal', 'query-values', 'execute', 'same']) {
    const row = (
      await direct.execute(`SELECT v, writetime(v) AS w FROM ${KS}.queued_cql WHERE k = ?`, [hinted(key)], {
        consistency: cassandra.types.consistencies.all,
      })
    ).first()
    if (row) out.set(key, { v: String(row.get('v')), writetime: String(row.get('w')) })
  }
  for (const key of ['keyspace-query', 'keyspace-execute']) {
    const row = (
      await direct.execute(`SELECT v, writetime(v) AS w FROM ${QUEUED_KS}.queued_by_ks WHERE k = ?`, [hinted(key)], {
        consistency: cassandra.types.consistencies.all,
      })
    ).first()
    if (row) out.set(key, { v: String(row.get('v')), writetime: String(row.get('w')) })
  }
  return out
}

t.test('on heal every queued write is replayed with its original timestamp; the later stamp wins', async (t) => {
  copyFileSync(join(queueDir, 'cql-queue.jsonl'), join(copyDir, 'cql-queue.jsonl'))
  others.push(...(await grey.heal()))
  const deadline = Date.now() + 30_000
  while (metricValue(await grey.metrics(), 'grey_partition_queue_depth{protocol="cql"}') !== 0) {
    if (Date.now() > deadline) throw new Error('the CQL queue was not replayed within 30 s')
    await sleep(200)
  }
  const metrics = await grey.metrics()
  t.equal(metricValue(metrics, 'grey_partition_queue_writes_total{protocol="cql",outcome="replayed"}'), queued.size, 'all replayed')
  t.equal(metricValue(metrics, 'grey_partition_queue_writes_total{protocol="cql",outcome="dead_letter"}'), 0, 'none dead-lettered')
  const found = await cells()
  const expected: Record<string, string> = {
    'query-literal': 'literal',
    'query-values': 'bound',
    execute: 'prepared',
    same: 'second',
    'keyspace-query': 'by keyspace',
    'keyspace-execute': 'session keyspace',
  }
  for (const [key, v] of Object.entries(expected)) {
    const stamp = queued.get(key === 'same' ? 'same-2' : key)!.micros
    t.same(found.get(key), { v, writetime: stamp }, `${key}: in Cassandra, writetime() = its HLC stamp ${stamp}`)
  }
  const n = await direct.execute(`SELECT n FROM ${KS}.queued_cql WHERE k IN ?`, [[hinted('query-values'), hinted('execute')]])
  t.same(n.rows.map((r) => r.get('n') as number).sort(), [2, 3], 'bound int values were re-bound from their bytes')
  const status = (await (await fetch(`${grey.admin}/status`, { headers: { authorization: `Bearer ${lab.admin.token}` } })).json()) as {
    cql_partition_queue?: unknown
  }
  t.same(status.cql_partition_queue, { store: 'file', depth: 0 }, '/status shows the CQL queue, empty')
})

/** A CQL queue of its own on `dir`, replaying to us-east's Cassandra at `port`. */
function replayQueue(dir: string, port = cassandraUs.port): ReplayQueue<CqlQueuedWrite, CqlQueueInput> {
  const node = { region: 'us-east', datacenter: 'us-east', host: cassandraUs.host, port }
  return new ReplayQueue(
    {
      store: new FileQueueStore(dir, 'cql-'),
      region: 'us-east',
      instanceId: 'cql-replay-test',
      clock: new HybridLogicalClock({ maxOffsetMs: 500 }),
      maxEntries: 100,
      replayIntervalMs: 60_000,
      isCutOff: () => false,
      metrics: createPartitionQueueMetrics(new Registry()),
      log: pino({ level: 'silent' }),
    },
    new CqlWriteReplayer({
      route: (write) => ({ node, consistency: write.consistency }),
      credentials: { user: lab.cassandra.user, password: lab.cassandra.password },
      timeoutMs: 5000,
    }),
  )
}

t.test('replaying the same entries again changes nothing; a newer write survives it', async (t) => {
  const before = await cells()
  await direct.execute(`UPDATE ${KS}.queued_cql SET v = 'newer' WHERE k = ?`, [hinted('execute')], {
    consistency: cassandra.types.consistencies.all,
  })
  const queue = replayQueue(copyDir)
  await queue.start()
  t.equal(queue.depth, queued.size, 'the copy holds every queued write')
  t.match(await queue.replay(), { replayed: queued.size, deadLettered: 0, stoppedBy: null })
  await queue.stop()
  const after = await cells()
  const newer = after.get('execute')!
  t.equal(newer.v, 'newer', 'the write made after the replay is not overwritten by replaying an older one')
  after.delete('execute')
  before.delete('execute')
  t.same(after, before, 'every other cell and writetime is as the first replay left it')
})

t.test('a write that cannot succeed is dead-lettered; a Cassandra out of reach keeps the queue', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-cql-queue-dead-'))
  const input = (query: string): CqlQueueInput => ({ keyspace: KS, query, values: [], names: null, consistency: LOCAL_QUORUM })
  const unreachable = replayQueue(dir, 1)
  await unreachable.start()
  t.match(await unreachable.enqueue(input(`INSERT INTO queued_cql (k, v) VALUES ('${hinted('dead')}', 'x')`)), { protocol: 'cql' })
  t.match(await unreachable.replay(), { replayed: 0, stoppedBy: /cannot connect to Cassandra/ }, 'transient: the pass stops')
  t.equal(unreachable.depth, 1, 'and the write stays queued')
  await unreachable.stop()
  const queue = replayQueue(dir)
  await queue.start()
  t.match(await queue.enqueue(input("INSERT INTO no_such_table (k) VALUES ('x')")), { protocol: 'cql' })
  t.match(await queue.enqueue({ ...input("INSERT INTO t (k) VALUES ('x')"), keyspace: 'no_such_keyspace' }), { protocol: 'cql' })
  t.match(await queue.replay(), { replayed: 1, deadLettered: 2, stoppedBy: null })
  await queue.stop()
  const letters = readFileSync(join(dir, 'cql-dead-letter.jsonl'), 'utf8').trim().split('\n')
  t.equal(letters.length, 2)
  t.match(letters[0], /error 0x2200: .*no_such_table/, 'dead-lettered with the Invalid error')
  t.match(letters[1], /no_such_keyspace/, 'a keyspace that does not exist: dead-lettered too')
})
