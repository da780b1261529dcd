// Which writes a cut-off region may queue, decided from the client's real messages (node-postgres' serializer, Grey's
// frontend parser) and Grey's SQL classifier; the entry encoding; the replay plan.
import t from 'tap'
import { serialize } from 'pg-protocol/dist/serializer'
import { decideQueueable, type QueueableFlight } from '../../src/partition/decide-queueable.js'
import { decodeQueuedWrite, encodeQueuedWrite, paramValue, queuedParams, type PgQueuedWrite } from '../../src/partition/queued-write.js'
import {
  fenceQueueAdvice,
  markerIsNew,
  queuedMessage,
  QUEUED_SQLSTATE,
  replayFailure,
  replayOrder,
  replayPrelude,
} from '../../src/partition/replay-plan.js'
import { redisDurabilityProblem } from '../../src/partition/redis-queue-store.js'
import { FrontendParser } from '../../src/pg/protocol/frontend-parser.js'
import type { RegularMessage } from '../../src/pg/protocol/frontend-messages.js'
import { classifySql } from '../../src/routing/sql-classifier.js'

/** The messages a client sends, parsed as Grey parses them. */
function messages(...frames: Buffer[]): RegularMessage[] {
  const parser = new FrontendParser({ phase: 'regular' })
  parser.push(Buffer.concat(frames))
  const out: RegularMessage[] = []
  for (let m = parser.read(); m; m = parser.read()) out.push(m as RegularMessage)
  return out
}

const classify = (sql: string) => classifySql(sql, { writingFunctions: [] })

function flight(sqls: string[], frames: Buffer[], more: Partial<QueueableFlight> = {}): QueueableFlight {
  return {
    messages: messages(...frames),
    classes: sqls.map(classify),
    inTransaction: false,
    tables: new Set(['audit_events']),
    storeConfigured: true,
    prepared: () => undefined,
    ...more,
  }
}

const simple = (sql: string, more: Partial<QueueableFlight> = {}) => decideQueueable(flight([sql], [serialize.query(sql)], more))

t.test('simple queries: the hint or the configured tables opt in; one autocommit INSERT/UPDATE/DELETE/MERGE is queued', async (t) => {
  const queued = simple("/* grey: queue */ INSERT INTO orders (note) VALUES ('a')")
  t.match(queued, { queue: true, mode: 'simple', tag: 'INSERT 0 0', paramTypes: [], params: [], why: /hint/ })
  t.match(simple('/* grey: queue */ UPDATE orders SET note = 1'), { queue: true, tag: 'UPDATE 0' })
  t.match(simple('/* grey: queue */ DELETE FROM orders'), { queue: true, tag: 'DELETE 0' })
  t.match(simple('/* grey: queue */ MERGE INTO orders o USING src s ON o.id = s.id WHEN MATCHED THEN DELETE'), { tag: 'MERGE 0' })
  t.match(simple("INSERT INTO audit_events VALUES ('x')"), { queue: true, why: /audit_events \(partition.queue.tables\)/ })
  t.same(simple("INSERT INTO orders VALUES ('x')"), { queue: false, asked: false, why: 'the statement did not ask to be queued' })
  t.match(simple('INSERT INTO audit_events SELECT * FROM orders'), { queue: false, asked: false }, 'orders is not configured')
  t.match(simple('SELECT * FROM audit_events'), { queue: false, asked: false }, 'a read is never queued by its table')
})

t.test('what opted in but cannot be queued says why', async (t) => {
  const cases: [string, Partial<QueueableFlight>, RegExp][] = [
    ['/* grey: queue */ INSERT INTO t VALUES (1)', { storeConfigured: false }, /partition.queue.store is none/],
    ['/* grey: queue */ INSERT INTO t VALUES (1)', { inTransaction: true }, /not one inside a transaction/],
    ['/* grey: queue */ INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)', {}, /not a multi-statement query/],
    ['/* grey: queue */ INSERT INTO t VALUES (1) RETURNING id', {}, /RETURNING cannot be queued/],
    ['/* grey: queue */ COPY t FROM STDIN', {}, /only INSERT, UPDATE, DELETE and MERGE/],
    ['/* grey: queue */ CREATE TABLE x (a int)', {}, /only INSERT, UPDATE, DELETE and MERGE/],
    ['/* grey: queue */ SELECT 1', {}, /only INSERT, UPDATE, DELETE and MERGE/],
  ]
  for (const [sql, more, why] of cases) t.match(simple(sql, more), { queue: false, asked: true, why }, sql)
  t.match(simple("/* grey: queue */ INSERT INTO t VALUES ('returning')"), { queue: true }, 'a string is not RETURNING')
  const two = decideQueueable(
    flight(['/* grey: queue */ INSERT INTO t VALUES (1)', 'INSERT INTO t VALUES (2)'], [serialize.query('x'), serialize.query('y')]),
  )
  t.match(two, { queue: false, asked: true, why: /not a round trip of several/ })
})

const INSERT = '/* grey: queue */ INSERT INTO t (a, b, c) VALUES ($1, $2, $3)'

t.test('extended protocol: one Parse/Bind/Describe/Execute/Sync with its values and types', async (t) => {
  const values = ['text value', Buffer.from([0, 0, 0, 7]), null]
  const frames = [
    serialize.parse({ text: INSERT, types: [25, 23, 0] }),
    serialize.bind({ values }),
    serialize.describe({ type: 'P' }),
    serialize.execute(),
    serialize.sync(),
  ]
  const d = decideQueueable(flight([INSERT], frames))
  t.match(d, { queue: true, mode: 'extended', sql: INSERT, paramTypes: [25, 23, 0], tag: 'INSERT 0 0' })
  if (!d.queue) return
  t.same(d.params, [{ text: 'text value' }, { binary: 'AAAABw==' }, null])
  t.same(d.params.map(paramValue), values, 'replayed as sent: strings as text, bytes as binary')

  const prepared = { sql: INSERT, paramTypes: [25, 23, 0] }
  const later = [serialize.bind({ statement: 'ins', values: ['a', 'b', 'c'] }), serialize.execute(), serialize.sync()]
  t.match(decideQueueable(flight([INSERT], later, { prepared: (n) => (n === 'ins' ? prepared : undefined) })), {
    queue: true,
    sql: INSERT,
    params: [{ text: 'a' }, { text: 'b' }, { text: 'c' }],
  })
  t.match(decideQueueable(flight([INSERT], later)), { queue: false, why: /one Parse\/Bind\/Execute\/Sync/ }, 'unknown statement')
})

t.test('extended round trips that are not one statement executed once are refused', async (t) => {
  const parse = serialize.parse({ text: INSERT })
  const bind = serialize.bind({ values: ['a', 'b', 'c'] })
  const shapes: [string, Buffer[]][] = [
    ['no Sync', [parse, bind, serialize.execute(), serialize.flush()]],
    ['two Executes', [parse, bind, serialize.execute(), serialize.execute(), serialize.sync()]],
    ['two Parses', [parse, parse, bind, serialize.execute(), serialize.sync()]],
    ['a Close', [parse, bind, serialize.execute(), serialize.close({ type: 'S', name: 'x' }), serialize.sync()]],
    ['another portal', [parse, bind, serialize.execute({ portal: 'p2' }), serialize.sync()]],
    ['a row limit', [parse, bind, serialize.execute({ rows: 10 }), serialize.sync()]],
    ['Execute before Bind', [parse, serialize.execute(), bind, serialize.sync()]],
    ['Bind of another statement', [parse, serialize.bind({ statement: 'other' }), serialize.execute(), serialize.sync()]],
  ]
  for (const [name, frames] of shapes) {
    t.match(decideQueueable(flight([INSERT], frames)), { queue: false, asked: true, why: /one Parse\/Bind\/Execute\/Sync/ }, name)
  }
})

t.test('Bind format codes: none is all text, one applies to all, else one each', async (t) => {
  const v = [Buffer.from('a'), Buffer.from('b')]
  t.same(queuedParams(v, []), [{ text: 'a' }, { text: 'b' }])
  t.same(queuedParams(v, [1]), [{ binary: 'YQ==' }, { binary: 'Yg==' }])
  t.same(queuedParams(v, [0, 1]), [{ text: 'a' }, { binary: 'Yg==' }])
})

const WRITE: PgQueuedWrite = {
  id: 'grey-us-east-0000018f00000001',
  hlc: '0000018f00000001',
  protocol: 'pg',
  region: 'us-east',
  user: 'grey',
  database: 'app',
  sql: "INSERT INTO t VALUES ($1, 'it''s')",
  mode: 'extended',
  paramTypes: [23],
  params: [{ text: '1' }],
  settings: ["SET search_path TO 'app'"],
  queuedAt: '2026-11-22T11:00:00.000Z',
}

t.test('a queued write round-trips through its stored text; malformed text is named, not trusted', async (t) => {
  t.same(decodeQueuedWrite(encodeQueuedWrite(WRITE)), WRITE)
  t.match(decodeQueuedWrite('{'), /not JSON/)
  t.match(decodeQueuedWrite('[1]'), /not a JSON object/)
  t.match(decodeQueuedWrite('null'), /not a JSON object/)
  const broken: [Partial<Record<keyof PgQueuedWrite, unknown>>, string][] = [
    [{ id: 7 }, 'id'],
    [{ hlc: 'soon' }, 'hlc'],
    [{ protocol: 'mysql' }, 'protocol'],
    [{ user: null }, 'user'],
    [{ mode: 'batch' }, 'mode'],
    [{ paramTypes: [-1] }, 'paramTypes'],
    [{ paramTypes: 'x' }, 'paramTypes'],
    [{ params: [{ text: 1 }] }, 'params'],
    [{ params: [{ text: 'a', binary: 'b' }] }, 'params'],
    [{ params: ['a'] }, 'params'],
    [{ params: {} }, 'params'],
    [{ settings: [1] }, 'settings'],
    [{ settings: null }, 'settings'],
  ]
  for (const [change, key] of broken) {
    t.match(decodeQueuedWrite(JSON.stringify({ ...WRITE, ...change })), new RegExp(`${key} is missing or malformed`), key)
  }
  t.same(decodeQueuedWrite(JSON.stringify({ ...WRITE, params: [null, { binary: 'AA==' }] })), {
    ...WRITE,
    params: [null, { binary: 'AA==' }],
  })
})

t.test('the replay plan: HLC order, the marker insert first, settings for the transaction only', async (t) => {
  const at = (hlc: string, id = `x-${hlc}`): PgQueuedWrite => ({ ...WRITE, hlc, id })
  const order = replayOrder([at('0000000000000003'), at('0000000000000001'), at('0000000000000002', 'b'), at('0000000000000002', 'a')])
  t.same(
    order.map((w) => w.id),
    ['x-0000000000000001', 'a', 'b', 'x-0000000000000003'],
  )
  t.same(replayOrder([at('0000000000000001', 'a'), at('0000000000000001', 'a')]).length, 2, 'equal entries keep their places')
  for (const pair of [
    ['a', 'b'],
    ['b', 'a'],
  ]) {
    t.same(
      replayOrder(pair.map((id) => at('0000000000000001', id))).map((w) => w.id),
      ['a', 'b'],
      'the id breaks a tie',
    )
  }
  t.equal(
    replayPrelude(WRITE),
    "BEGIN; SET LOCAL grey.hlc = '0000018f00000001'; SET LOCAL search_path TO 'app'; " +
      "INSERT INTO grey_queue_applied (id, hlc, region, queued_at) VALUES ('grey-us-east-0000018f00000001', '0000018f00000001', " +
      "'us-east', '2026-11-22T11:00:00.000Z') ON CONFLICT (id) DO NOTHING",
  )
  t.ok(markerIsNew('INSERT 0 1'))
  t.notOk(markerIsNew('INSERT 0 0'), 'replayed before: skipped')
  t.notOk(markerIsNew(undefined))
})

t.test('replay failures: the connection and the server state are transient, the statement itself is permanent', async (t) => {
  for (const code of [null, '08006', '40001', '40P01', '53300', '55P03', '57P01', '58030', 'XX000', '25006']) {
    t.equal(replayFailure(code), 'transient', String(code))
  }
  for (const code of ['23505', '23503', '22P02', '42P01', '42501', '0A000', '2BP01']) t.equal(replayFailure(code), 'permanent', code)
})

t.test('what the client is told', async (t) => {
  t.match(QUEUED_SQLSTATE, /^01[0-9A-Z]{3}$/, 'a warning (class 01)')
  t.equal(
    queuedMessage('us-east', WRITE),
    'grey: queued, not committed: us-east is cut off from the Raft majority; the write (id grey-us-east-0000018f00000001, ' +
      'HLC 0000018f00000001) will be applied once the region rejoins. Do not count it as committed',
  )
  t.equal(fenceQueueAdvice({ asked: true, why: 'no RETURNING' }, true), '. This write asked to be queued but cannot be: no RETURNING')
  t.match(fenceQueueAdvice({ asked: false, why: '' }, true), /marked \/\* grey: queue \*\/ is queued here/)
  t.equal(fenceQueueAdvice({ asked: false, why: '' }, false), '', 'no queue: nothing to advise')
})

t.test('a Redis store must fsync every write', async (t) => {
  t.equal(redisDurabilityProblem('redis://r', 'yes', 'always'), null)
  t.match(redisDurabilityProblem('redis://r', 'yes', 'everysec'), /does not fsync every write \(appendonly yes, appendfsync everysec\)/)
  t.match(redisDurabilityProblem('redis://r', undefined, undefined), /appendonly \?, appendfsync \?/)
})
