// The CQL partition queue on its Redis store (partition.queue.store: redis), against the test lab's real Redis (run
// with appendonly yes and appendfsync always, which the store insists on) and real Cassandra. A cut-off us-east Grey
// queues a hinted strong write on its own stream (…:cql), not on the PostgreSQL one, and nothing reaches Cassandra; on
// heal it is replayed from the stream with its HLC stamp as the write time and the stream empties.
// cql-partition-queue.test.ts covers the rest of the behaviour on the file store.
import t from 'tap'
import cassandra from 'cassandra-driver'
import { Redis } from 'ioredis'
import { cassandraClient } from '../fixtures/cassandra-client.js'
import { cutOffGrey } from '../fixtures/cut-off-grey.js'
import type { GreyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, metricValue, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab({ cassandra: true })
const KS = lab.cassandra.keyspace
const RUN = `r${Date.now().toString(36)}`
const INSTANCE = `cql-queue-redis-${RUN}`
const STREAM = `grey:partition-queue:${INSTANCE}:cql`
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const clients: cassandra.Client[] = []
const greys: GreyInProcess[] = []
const redis = new Redis(`redis://${lab.regions['us-east']!.redis}`)
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.shutdown()))
  await Promise.all(greys.map((g) => g.stop()))
  await redis.del(STREAM, `${STREAM}:dead-letter`)
  redis.disconnect()
})

const direct = cassandraClient(lab, clients, lab.regions['us-east']!.cassandra, 'us-east', lab.cassandra)
await direct.execute(`CREATE TABLE IF NOT EXISTS ${KS}.queued_cql_redis (k text PRIMARY KEY, v text)`)
const env = {
  GREY_PROXY__INSTANCE_ID: INSTANCE,
  GREY_PARTITION__QUEUE__STORE: 'redis',
  GREY_PARTITION__QUEUE__REPLAY_INTERVAL: '250ms',
}
const grey = await cutOffGrey('cql-queue-redis', true, { cql: true, env })
greys.push(grey)
const credentials = { user: lab.pg.user, password: lab.pg.password }
const viaGrey = cassandraClient(lab, clients, grey.cql, 'us-east', credentials)
// The member is cut off once its election timeout has passed without hearing anyone.
await sleep(1500)

const key = `${RUN}-redis`
const atAll = { consistency: cassandra.types.consistencies.all }
let micros = ''

t.test('cut off, a hinted strong write is queued on the CQL stream of the Redis store', async (t) => {
  const result = await viaGrey.execute(
    `/* grey: queue, consistency=strong */ INSERT INTO queued_cql_redis (k, v) VALUES ('${key}', 'via redis')`,
    [],
    { prepare: false },
  )
  const warning = /^grey: queued, not committed: .* write timestamp (\d+)\)/.exec(result.info.warnings?.[0] ?? '')
  t.ok(warning, 'answered with the queued warning')
  micros = warning?.[1] ?? ''
  t.equal(await redis.xlen(STREAM), 1, `held on ${STREAM}`)
  t.equal(await redis.exists(`grey:partition-queue:${INSTANCE}`), 0, 'not on the PostgreSQL queue')
  const none = await direct.execute(`SELECT k FROM ${KS}.queued_cql_redis WHERE k = ?`, [key], atAll)
  t.equal(none.rowLength, 0, 'not in Cassandra')
})

t.test('healed, the write is replayed from Redis with its HLC stamp as write time, and the stream empties', async (t) => {
  greys.push(...(await grey.heal()))
  const deadline = Date.now() + 30_000
  while ((await redis.xlen(STREAM)) !== 0) {
    if (Date.now() > deadline) throw new Error('the Redis CQL queue was not replayed within 30 s')
    await sleep(200)
  }
  const row = (await direct.execute(`SELECT v, writetime(v) AS w FROM ${KS}.queued_cql_redis WHERE k = ?`, [key], atAll)).first()
  t.same({ v: row?.get('v'), w: String(row?.get('w')) }, { v: 'via redis', w: micros }, 'in Cassandra with writetime() = its stamp')
  t.equal(
    metricValue(await grey.metrics(), 'grey_partition_queue_writes_total{protocol="cql",outcome="replayed"}'),
    1,
    'counted as replayed',
  )
})
