// The pure parts of the CQL partition queue: which requests a cut-off Grey may queue (Grey's own CQL classifier and
// describeCql), the stored entry and its strict decoding, and the replay plan (the QUERY sent, order, failure kinds).
import t from 'tap'
import { describeCql } from '../../src/cql/cql-statement-routing.js'
import { CqlErrorCode } from '../../src/cql/protocol/cql-error-code.js'
import { NOT_SET } from '../../src/cql/protocol/cql-value.js'
import { formatHlc } from '../../src/clock/hlc.js'
import { cqlReplayFailure, cqlReplayRequest } from '../../src/partition/cql-replay-plan.js'
import { CqlWriteReplayer } from '../../src/partition/cql-write-replayer.js'
import { decideCqlQueueable, type CqlQueueableRequest } from '../../src/partition/decide-cql-queueable.js'
import { cqlValue, decodeQueuedWrite, encodeQueuedWrite, queuedCqlValues, type CqlQueuedWrite } from '../../src/partition/queued-write.js'
import { fenceQueueAdvice, queuedMessage, replayOrder } from '../../src/partition/replay-plan.js'

const decide = (query: string, more: Partial<CqlQueueableRequest> = {}) =>
  decideCqlQueueable({
    info: describeCql(query),
    sessionKeyspace: 'app',
    keyspaces: new Set(['events']),
    storeConfigured: true,
    version: 4,
    ...more,
  })

t.test('what is queued: an opted-in single INSERT, UPDATE or DELETE', async (t) => {
  const cases: [string, Partial<CqlQueueableRequest>, object][] = [
    ["/* grey: queue */ INSERT INTO t (k, v) VALUES ('a', 1)", {}, { queue: true, keyspace: 'app', why: /hint/ }],
    ['/* grey: queue */ UPDATE other.t SET v = 1 WHERE k = ?', {}, { queue: true, keyspace: 'other' }],
    ['/* grey: queue */ DELETE FROM t WHERE k = ?', {}, { queue: true }],
    ['INSERT INTO events.t (k) VALUES (?)', {}, { queue: true, keyspace: 'events', why: /keyspace events \(partition.queue.keyspaces\)/ }],
    ['INSERT INTO t (k) VALUES (?)', { sessionKeyspace: 'events' }, { queue: true, keyspace: 'events' }],
    ['/* grey: queue */ UPDATE t USING TTL 60 SET v = ? WHERE k = ?', {}, { queue: true }],
  ]
  for (const [query, more, expected] of cases) t.match(decide(query, more), expected, query)
})

t.test('what is not queued, and whether it asked', async (t) => {
  const cases: [string, Partial<CqlQueueableRequest>, boolean, RegExp][] = [
    ["INSERT INTO t (k) VALUES ('a')", {}, false, /did not ask/],
    ['SELECT * FROM events.t', {}, false, /did not ask/],
    ['/* grey: queue */ INSERT INTO t (k) VALUES (?)', { storeConfigured: false }, true, /partition.queue.store is none/],
    ['/* grey: queue */ BEGIN BATCH INSERT INTO t (k) VALUES (1); APPLY BATCH', {}, true, /a BATCH cannot be queued/],
    ['/* grey: queue */ TRUNCATE t', {}, true, /only INSERT, UPDATE and DELETE can be queued, not ddl/],
    ['CREATE TABLE events.x (k int PRIMARY KEY)', {}, true, /not ddl/],
    ['/* grey: queue */ INSERT INTO t (k) VALUES (?) IF NOT EXISTS', {}, true, /lightweight transaction \(IF …\) cannot be queued/],
    ['/* grey: queue */ UPDATE t SET v = ? WHERE k = ? IF v = ?', {}, true, /lightweight transaction/],
    ['/* grey: queue */ UPDATE t SET c = c + 1 WHERE k = ?', {}, true, /counter update .* not idempotent/],
    ['/* grey: queue */ UPDATE t SET l = l + [1] WHERE k = ?', {}, true, /not idempotent/],
    ['/* grey: queue */ UPDATE t SET l = [1] + l WHERE k = ?', {}, true, /not idempotent/],
    ['/* grey: queue */ INSERT INTO t (k) VALUES (?)', { sessionKeyspace: null }, true, /names no keyspace/],
    ['/* grey: queue */ INSERT INTO t (k) VALUES (?)', { version: 3 }, true, /protocol v3 has no warnings/],
  ]
  for (const [query, more, asked, why] of cases) t.match(decide(query, more), { queue: false, asked, why }, query)
})

t.test('the refusal says how to opt in (CQL wording), or why this write could not be', async (t) => {
  t.match(fenceQueueAdvice({ asked: false, why: '' }, true, 'cql'), /A single INSERT, UPDATE or DELETE .*partition.queue.keyspaces/)
  t.match(fenceQueueAdvice({ asked: false, why: '' }, true), /MERGE marked/, 'PostgreSQL keeps its own')
  t.equal(fenceQueueAdvice({ asked: false, why: '' }, false, 'cql'), '')
  t.equal(fenceQueueAdvice({ asked: true, why: 'x' }, true, 'cql'), '. This write asked to be queued but cannot be: x')
})

const WRITE: CqlQueuedWrite = {
  id: 'grey-us-east-0000018f00000001',
  hlc: '0000018f00000001',
  protocol: 'cql',
  region: 'us-east',
  keyspace: 'app',
  query: '/* grey: queue */ INSERT INTO t (k, v) VALUES (:k, :v)',
  values: [{ bytes: 'AAAAAQ==' }, null, { unset: true }],
  names: ['k', 'v', 'w'],
  consistency: 6,
  timestampMicros: '1717000000000001',
  queuedAt: '2026-11-22T11:00:00.000Z',
}

t.test('a CQL entry round-trips through its stored text; malformed text is named, not trusted', async (t) => {
  t.same(decodeQueuedWrite(encodeQueuedWrite(WRITE)), WRITE)
  t.same(decodeQueuedWrite(JSON.stringify({ ...WRITE, names: null, values: [] })), { ...WRITE, names: null, values: [] })
  const broken: [Partial<Record<keyof CqlQueuedWrite, unknown>>, string][] = [
    [{ keyspace: null }, 'keyspace'],
    [{ query: 1 }, 'query'],
    [{ values: {} }, 'values'],
    [{ values: ['AAAA'] }, 'values'],
    [{ values: [{ bytes: 'not base64!' }] }, 'values'],
    [{ values: [{ bytes: 'AA==', unset: true }] }, 'values'],
    [{ values: [{ unset: false }] }, 'values'],
    [{ names: ['k'] }, 'names'],
    [{ names: 'k' }, 'names'],
    [{ consistency: 11 }, 'consistency'],
    [{ consistency: -1 }, 'consistency'],
    [{ consistency: '6' }, 'consistency'],
    [{ timestampMicros: 1717000000000001 }, 'timestampMicros'],
    [{ timestampMicros: '17e14' }, 'timestampMicros'],
    [{ hlc: 'soon' }, 'hlc'],
  ]
  for (const [change, key] of broken) {
    t.match(decodeQueuedWrite(JSON.stringify({ ...WRITE, ...change })), new RegExp(`${key} is missing or malformed`), key)
  }
  const pgShaped = { ...WRITE, protocol: 'pg' }
  t.match(decodeQueuedWrite(JSON.stringify(pgShaped)), /user is missing or malformed/, 'a CQL entry is not a PostgreSQL one')
})

t.test('bound values are kept as their bytes, null and not-set', async (t) => {
  const values = queuedCqlValues([Buffer.from([0, 0, 0, 1]), null, NOT_SET])
  t.same(values, WRITE.values)
  t.same(values.map(cqlValue), [Buffer.from([0, 0, 0, 1]), null, NOT_SET])
})

t.test('the replay QUERY: the same text and value bytes, the original timestamp as the default timestamp', async (t) => {
  t.same(cqlReplayRequest(WRITE, 10), {
    type: 'QUERY',
    query: WRITE.query,
    parameters: {
      consistency: 10,
      values: [Buffer.from([0, 0, 0, 1]), null, NOT_SET],
      names: ['k', 'v', 'w'],
      skipMetadata: true,
      timestamp: 1717000000000001n,
    },
  })
  t.same(cqlReplayRequest({ ...WRITE, values: [], names: null }, 6).parameters, {
    consistency: 6,
    skipMetadata: true,
    timestamp: 1717000000000001n,
  })
})

t.test('replay order is HLC order, id breaking ties, as for PostgreSQL', async (t) => {
  const at = (hlc: string, id = `x-${hlc}`): CqlQueuedWrite => ({ ...WRITE, hlc, id })
  const order = replayOrder([at('0000000000000003'), at('0000000000000001'), at('0000000000000002', 'b'), at('0000000000000002', 'a')])
  t.same(
    order.map((w) => w.id),
    ['x-0000000000000001', 'a', 'b', 'x-0000000000000003'],
  )
})

t.test('replay failures: request errors are permanent, the rest transient', async (t) => {
  for (const code of [CqlErrorCode.SyntaxError, CqlErrorCode.Invalid, CqlErrorCode.Unauthorized, CqlErrorCode.ConfigError]) {
    t.equal(cqlReplayFailure(code), 'permanent', `0x${code.toString(16)}`)
  }
  for (const code of [CqlErrorCode.ServerError, CqlErrorCode.Unavailable, CqlErrorCode.WriteTimeout, CqlErrorCode.Overloaded]) {
    t.equal(cqlReplayFailure(code), 'transient', `0x${code.toString(16)}`)
  }
})

t.test('an entry takes its write timestamp from its HLC stamp; the warning names both', async (t) => {
  const replayer = new CqlWriteReplayer({
    route: () => ({ node: { region: 'x', datacenter: 'x', host: '', port: 0 }, consistency: 6 }),
    credentials: {},
    timeoutMs: 1,
  })
  const stamp = { wallMs: 1_717_000_000_000, logical: 7 }
  const base = { id: 'i', hlc: formatHlc(stamp), region: 'us-east', queuedAt: 'now' }
  const input = { keyspace: 'app', query: 'INSERT', values: [], names: null, consistency: 6 }
  const entry = replayer.entry(base, stamp, input)
  t.same(entry, { ...base, protocol: 'cql', ...input, timestampMicros: '1717000000000007' })
  t.equal(replayer.target(), 'Cassandra')
  t.match(
    queuedMessage('us-east', entry),
    /\(id i, HLC [0-9a-f]{16}, write timestamp 1717000000000007\) will be applied once the region rejoins/,
  )
  t.notMatch(queuedMessage('us-east', { id: 'i', hlc: base.hlc }), /write timestamp/, 'PostgreSQL writes have none')
})
