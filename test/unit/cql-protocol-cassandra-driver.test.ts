import t from 'tap'
import { createRequire } from 'node:module'
import { hex } from '../fixtures/hex-dump.js'
import { CqlConsistency as Consistency } from '../../src/routing/cql-consistency.js'
import { NOT_SET } from '../../src/cql/protocol/cql-value.js'
import { decodeRequest } from '../../src/cql/protocol/decode-request.js'
import { encodeResponse, type ResponseFrameOptions } from '../../src/cql/protocol/encode-response.js'
import { FrameSplitter } from '../../src/cql/protocol/frame-splitter.js'
import type { DecodedRequest } from '../../src/cql/protocol/request-messages.js'
import type { ColumnSpec, ResponseMessage } from '../../src/cql/protocol/response-messages.js'

// Interop with cassandra-driver 4.x, the driver Grey's users run: its own request writers must decode with our
// decoder, and our responses must parse with its own reader (lib/streams.js Protocol → Parser → readers.js).

const require = createRequire(import.meta.url)

interface DriverRequest {
  write(encoder: DriverEncoder, streamId: number): Buffer
}
interface DriverEncoder {
  encode(value: unknown, type?: unknown): Buffer | null
}
interface DriverLong {
  toString(): string
}
const requests = require('cassandra-driver/lib/requests.js') as {
  StartupRequest: new (options?: object) => DriverRequest
  RegisterRequest: new (events: string[]) => DriverRequest
  AuthResponseRequest: new (token: Buffer) => DriverRequest
  PrepareRequest: new (query: string, keyspace?: string) => DriverRequest
  QueryRequest: new (query: string, params: unknown[], options: object, named?: boolean) => DriverRequest
  ExecuteRequest: new (query: string, id: Buffer, params: unknown[], options: object, meta: object) => DriverRequest
  BatchRequest: new (queries: object[], options: object) => DriverRequest
  options: DriverRequest
}
const Encoder = require('cassandra-driver/lib/encoder.js') as new (version: number, options: object) => DriverEncoder
const streams = require('cassandra-driver/lib/streams.js') as {
  Protocol: new (options: object) => NodeJS.ReadWriteStream
  Parser: new (options: object, encoder: DriverEncoder) => NodeJS.ReadWriteStream
}
const types = require('cassandra-driver/lib/types/index.js') as {
  Long: { fromString(text: string): DriverLong }
  unset: object
  dataTypes: Record<string, number>
}
const driverPackage = require('cassandra-driver/package.json') as { version: string; description: string }

const encoder = new Encoder(4, {})

interface DriverOptions {
  consistency?: number
  fetchSize?: number
  pageState?: Buffer
  serialConsistency?: number
  timestamp?: DriverLong
  customPayload?: Record<string, Buffer>
  tracing?: boolean
  hints?: unknown[]
  logged?: boolean
  counter?: boolean
}

/** The ExecutionOptions methods the request writers call. */
function executionOptions(o: DriverOptions): object {
  return {
    getConsistency: () => o.consistency,
    getFetchSize: () => o.fetchSize,
    getPageState: () => o.pageState,
    getSerialConsistency: () => o.serialConsistency,
    getOrGenerateTimestamp: () => o.timestamp ?? null,
    getKeyspace: () => undefined,
    getCustomPayload: () => o.customPayload,
    isQueryTracing: () => o.tracing === true,
    getHints: () => o.hints,
    isBatchCounter: () => o.counter === true,
    isBatchLogged: () => o.logged !== false,
  }
}

function decodeDriverFrame(request: DriverRequest, streamId = 5): DecodedRequest & { flags: number } {
  const splitter = new FrameSplitter()
  splitter.push(request.write(encoder, streamId))
  const frame = splitter.next()
  if (frame?.type !== 'frame') throw new Error(`not a frame: ${JSON.stringify(frame)}`)
  if (frame.header.stream !== streamId || frame.header.version !== 4) throw new Error('wrong header')
  return { ...decodeRequest(frame.header, frame.body), flags: frame.header.flags }
}

const TIMESTAMP = types.Long.fromString('1700000000000001')

t.test('STARTUP, OPTIONS, REGISTER, AUTH_RESPONSE and PREPARE from the driver', async (t) => {
  const startup = decodeDriverFrame(new requests.StartupRequest({ noCompact: true }))
  t.same(startup.type === 'STARTUP' && Object.fromEntries(startup.options), {
    CQL_VERSION: '3.0.0',
    DRIVER_NAME: driverPackage.description,
    DRIVER_VERSION: driverPackage.version,
    NO_COMPACT: 'true',
  })
  t.same(decodeDriverFrame(requests.options), { type: 'OPTIONS', flags: 0 })
  t.same(decodeDriverFrame(new requests.RegisterRequest(['SCHEMA_CHANGE', 'STATUS_CHANGE'])), {
    type: 'REGISTER',
    events: ['SCHEMA_CHANGE', 'STATUS_CHANGE'],
    flags: 0,
  })
  const token = hex(`00 'grey_lab' 00 'secret'`)
  t.same(decodeDriverFrame(new requests.AuthResponseRequest(token)), { type: 'AUTH_RESPONSE', token, flags: 0 })
  t.same(decodeDriverFrame(new requests.PrepareRequest('SELECT * FROM ks.t WHERE k = ?', 'ks')), {
    type: 'PREPARE',
    query: 'SELECT * FROM ks.t WHERE k = ?',
    flags: 0,
  })
})

t.test('QUERY from the driver, positional values with hints', async (t) => {
  const options = executionOptions({
    consistency: Consistency.LOCAL_QUORUM,
    fetchSize: 5000,
    pageState: hex('0badf00d'),
    serialConsistency: Consistency.LOCAL_SERIAL,
    timestamp: TIMESTAMP,
    hints: ['int', 'text'],
  })
  const message = decodeDriverFrame(
    new requests.QueryRequest('INSERT INTO t (k, v, a, b) VALUES (?, ?, ?, ?)', [42, 'abc', null, types.unset], options),
  )
  t.same(message, {
    type: 'QUERY',
    query: 'INSERT INTO t (k, v, a, b) VALUES (?, ?, ?, ?)',
    parameters: {
      consistency: Consistency.LOCAL_QUORUM,
      skipMetadata: false,
      values: [hex('0000002a'), hex(`'abc'`), null, NOT_SET],
      pageSize: 5000,
      pagingState: hex('0badf00d'),
      serialConsistency: Consistency.LOCAL_SERIAL,
      timestamp: 1700000000000001n,
    },
    offsets: message.type === 'QUERY' ? message.offsets : undefined,
    flags: 0,
  })
})

t.test('QUERY from the driver, named values, tracing and a custom payload', async (t) => {
  const options = executionOptions({ consistency: Consistency.ONE, tracing: true, customPayload: { grey: hex('01') }, hints: ['int'] })
  const message = decodeDriverFrame(new requests.QueryRequest('SELECT * FROM t WHERE k = :k', [{ name: 'k', value: 7 }], options, true))
  t.equal(message.flags, 0x06, 'tracing and custom payload flags')
  t.same(message.type === 'QUERY' && message.customPayload, new Map([['grey', hex('01')]]))
  t.same(message.type === 'QUERY' && message.parameters, {
    consistency: Consistency.ONE,
    skipMetadata: false,
    values: [hex('00000007')],
    names: ['k'],
  })
})

t.test('EXECUTE from the driver, values typed by the prepared metadata', async (t) => {
  const id = hex('00112233445566778899aabbccddeeff')
  const meta = { columns: [{ type: { code: types.dataTypes.bigint } }, { type: { code: types.dataTypes.blob } }] }
  const options = executionOptions({ consistency: Consistency.QUORUM, timestamp: TIMESTAMP })
  const message = decodeDriverFrame(
    new requests.ExecuteRequest('UPDATE t SET v = ? WHERE k = ?', id, [types.Long.fromString('-2'), hex('cafe')], options, meta),
  )
  t.same(message.type === 'EXECUTE' && { id: message.id, parameters: message.parameters }, {
    id,
    parameters: {
      consistency: Consistency.QUORUM,
      skipMetadata: false,
      values: [hex('fffffffffffffffe'), hex('cafe')],
      timestamp: 1700000000000001n,
    },
  })
})

t.test('BATCH from the driver, of a query and a prepared statement', async (t) => {
  const id = hex('beef')
  const queries = [
    { query: 'INSERT INTO t (k) VALUES (?)', params: ['x'] },
    { queryId: id, params: [1], meta: { columns: [{ type: { code: types.dataTypes.int } }] } },
  ]
  const options = executionOptions({
    consistency: Consistency.EACH_QUORUM,
    serialConsistency: Consistency.SERIAL,
    timestamp: TIMESTAMP,
    logged: false,
  })
  const message = decodeDriverFrame(new requests.BatchRequest(queries, options))
  t.same(message.type === 'BATCH' && { ...message, offsets: undefined }, {
    type: 'BATCH',
    batchType: 1,
    statements: [
      { kind: 'query', query: 'INSERT INTO t (k) VALUES (?)', values: [hex(`'x'`)] },
      { kind: 'prepared', id, values: [hex('00000001')] },
    ],
    consistency: Consistency.EACH_QUORUM,
    serialConsistency: Consistency.SERIAL,
    timestamp: 1700000000000001n,
    offsets: undefined,
    flags: 0,
  })
})

// Responses, through the driver's own frame reader.

interface DriverMetadata {
  partitionKeys?: number[]
  keyspace?: string
  table?: string
  columns: { name: string; ksname?: string; type: { code: number; info: unknown } }[]
  pageState?: Buffer
}

interface DriverItem {
  header: { streamId: number; opcode: number; version: number }
  error?: { code: number; message: string; queryId?: Buffer; consistencies?: number; required?: number; alive?: number; writeType?: string }
  ready?: boolean
  mustAuthenticate?: boolean
  authenticatorName?: string
  authChallenge?: boolean
  token?: Buffer
  supported?: Record<string, string[]>
  event?: { eventType: string; up?: boolean; inet?: { address: { toString(): string }; port: number }; keyspace?: string; table?: string }
  row?: Record<string, unknown>
  result?: { rows: unknown[]; meta: DriverMetadata }
  id?: Buffer
  meta?: DriverMetadata
  keyspaceSet?: string
  schemaChange?: { schemaChangeType: string; target: string; keyspace: string; table: string | null }
  flags?: { traceId?: { toString(): string }; warnings?: string[]; customPayload?: Record<string, Buffer> }
  frameEnded?: boolean
}

async function driverParse(...frames: Buffer[]): Promise<DriverItem[]> {
  const protocol = new streams.Protocol({ objectMode: true })
  const parser = new streams.Parser({ objectMode: true }, new Encoder(4, {}))
  const items: DriverItem[] = []
  parser.on('data', (item: DriverItem) => {
    if (item.frameEnded !== true) items.push(item)
  })
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve)
    parser.on('error', reject)
  })
  protocol.pipe(parser)
  for (const frame of frames) protocol.write(frame)
  protocol.end()
  await ended
  return items
}

async function driverParseOne(message: ResponseMessage, stream = 3, options?: ResponseFrameOptions): Promise<DriverItem> {
  const [item, ...more] = await driverParse(encodeResponse(message, stream, options))
  if (item === undefined || more.length > 0) throw new Error(`expected one item, got ${more.length + (item ? 1 : 0)}`)
  return item
}

t.test('the handshake responses', async (t) => {
  t.equal((await driverParseOne({ type: 'READY' })).ready, true)
  const authenticate = await driverParseOne({ type: 'AUTHENTICATE', authenticator: 'org.apache.cassandra.auth.PasswordAuthenticator' })
  t.same([authenticate.mustAuthenticate, authenticate.authenticatorName], [true, 'org.apache.cassandra.auth.PasswordAuthenticator'])
  const challenge = await driverParseOne({ type: 'AUTH_CHALLENGE', token: hex('abcd') })
  t.same([challenge.authChallenge, challenge.token], [true, hex('abcd')])
  t.equal((await driverParseOne({ type: 'AUTH_SUCCESS', token: null })).ready, true)
  const supported = await driverParseOne({
    type: 'SUPPORTED',
    options: new Map([
      ['CQL_VERSION', ['3.4.7']],
      ['COMPRESSION', []],
    ]),
  })
  t.same(supported.supported, { CQL_VERSION: ['3.4.7'], COMPRESSION: [] })
})

t.test('ERROR frames read as the driver’s ResponseError', async (t) => {
  const unprepared = await driverParseOne(
    { type: 'ERROR', code: 0x2500, message: 'Prepared query with ID beef not found', details: { kind: 'unprepared', id: hex('beef') } },
    9,
  )
  t.equal(unprepared.header.streamId, 9)
  t.same(
    [unprepared.error?.code, unprepared.error?.message, unprepared.error?.queryId],
    [0x2500, 'Prepared query with ID beef not found', hex('beef')],
  )
  const unavailable = await driverParseOne({
    type: 'ERROR',
    code: 0x1000,
    message: 'x',
    details: { kind: 'unavailable', consistency: Consistency.LOCAL_QUORUM, required: 2, alive: 1 },
  })
  t.same([unavailable.error?.consistencies, unavailable.error?.required, unavailable.error?.alive], [6, 2, 1])
  t.match(unavailable.error?.message, /LOCAL_QUORUM/)
  const timeout = await driverParseOne({
    type: 'ERROR',
    code: 0x1100,
    message: 'x',
    details: { kind: 'write-timeout', consistency: 1, received: 0, blockFor: 1, writeType: 'BATCH_LOG' },
  })
  t.equal(timeout.error?.writeType, 'BATCH_LOG')
  const grey = await driverParseOne({ type: 'ERROR', code: 0x2200, message: 'grey: system.peers_v2 is not served; use system.peers' })
  t.same([grey.error?.code, grey.error?.message], [0x2200, 'grey: system.peers_v2 is not served; use system.peers'])
})

const LOCAL: ColumnSpec[] = [
  { keyspace: 'system', table: 'local', name: 'key', type: { kind: 'varchar' } },
  { keyspace: 'system', table: 'local', name: 'rpc_port', type: { kind: 'int' } },
  { keyspace: 'system', table: 'local', name: 'tokens', type: { kind: 'set', element: { kind: 'varchar' } } },
  { keyspace: 'system', table: 'local', name: 'host_id', type: { kind: 'uuid' } },
  { keyspace: 'system', table: 'local', name: 'broadcast_address', type: { kind: 'inet' } },
]

t.test('a system.local Rows result, cells encoded by the driver and read back by it', async (t) => {
  const dataTypes = types.dataTypes
  const cells = [
    encoder.encode('local', dataTypes.varchar),
    encoder.encode(9042, dataTypes.int),
    encoder.encode(['-9223372036854775808'], { code: dataTypes.set, info: { code: dataTypes.varchar } }),
    hex('f6d8f3a2c1b04e6f9a3d2b1c0e4f5a6b'),
    hex('7f000001'),
  ]
  const items = await driverParse(
    encodeResponse({ type: 'RESULT', kind: 'Rows', metadata: { columnCount: LOCAL.length, columns: LOCAL }, rows: [cells] }, 4),
  )
  t.equal(items.length, 1)
  const row = items[0]?.row ?? {}
  t.same(
    { ...row, host_id: String(row['host_id']), broadcast_address: String(row['broadcast_address']) },
    {
      key: 'local',
      rpc_port: 9042,
      tokens: ['-9223372036854775808'],
      host_id: 'f6d8f3a2-c1b0-4e6f-9a3d-2b1c0e4f5a6b',
      broadcast_address: '127.0.0.1',
    },
  )
  const meta = items[0]?.meta
  t.same([meta?.keyspace, meta?.table], ['system', 'local'], 'one global table spec')
  t.same(
    meta?.columns.map((c) => [c.name, c.type.code]),
    LOCAL.map((c, i) => [c.name, [dataTypes.varchar, dataTypes.int, dataTypes.set, dataTypes.uuid, dataTypes.inet][i]]),
  )
  const empty = await driverParseOne({
    type: 'RESULT',
    kind: 'Rows',
    metadata: { columnCount: 1, columns: LOCAL.slice(0, 1), pagingState: hex('0102') },
    rows: [],
  })
  t.same([empty.result?.rows, empty.result?.meta.pageState], [[], hex('0102')], 'an empty page with a paging state')
})

t.test('Prepared, Set_keyspace, Void and Schema_change results', async (t) => {
  const prepared = await driverParseOne({
    type: 'RESULT',
    kind: 'Prepared',
    id: hex('0123'),
    metadata: { columns: LOCAL.slice(0, 2), partitionKeyIndexes: [1] },
    resultMetadata: { columnCount: 0 },
  })
  t.same([prepared.id, prepared.meta?.partitionKeys, prepared.meta?.columns.map((c) => c.name)], [hex('0123'), [1], ['key', 'rpc_port']])
  t.equal((await driverParseOne({ type: 'RESULT', kind: 'Set_keyspace', keyspace: 'grey' })).keyspaceSet, 'grey')
  const nothing = await driverParseOne({ type: 'RESULT', kind: 'Void' })
  t.same([nothing.header.opcode, nothing.error, nothing.row], [0x08, undefined, undefined])
  const change = await driverParseOne({
    type: 'RESULT',
    kind: 'Schema_change',
    change: 'CREATED',
    target: 'TABLE',
    keyspace: 'ks',
    name: 't',
  })
  t.same(change.schemaChange && { ...change.schemaChange }, {
    eventType: 'SCHEMA_CHANGE',
    schemaChangeType: 'CREATED',
    target: 'TABLE',
    keyspace: 'ks',
    table: 't',
    udt: null,
    signature: null,
    isKeyspace: false,
  })
})

t.test('EVENT frames', async (t) => {
  const status = await driverParseOne(
    { type: 'EVENT', event: { kind: 'STATUS_CHANGE', change: 'UP', node: { address: '10.1.2.3', port: 9042 } } },
    -1,
  )
  t.same(
    [status.header.streamId, status.event?.eventType, status.event?.up, String(status.event?.inet?.address), status.event?.inet?.port],
    [-1, 'STATUS_CHANGE', true, '10.1.2.3', 9042],
  )
  const schema = await driverParseOne(
    { type: 'EVENT', event: { kind: 'SCHEMA_CHANGE', change: 'DROPPED', target: 'KEYSPACE', keyspace: 'old' } },
    -1,
  )
  t.same([schema.event?.eventType, schema.event?.keyspace], ['SCHEMA_CHANGE', 'old'])
})

t.test('tracing id, warnings and custom payload reach the driver', async (t) => {
  const item = await driverParseOne({ type: 'RESULT', kind: 'Set_keyspace', keyspace: 'ks' }, 3, {
    tracingId: hex('0123456789abcdef0123456789abcdef'),
    warnings: ['Aggregation query used without partition key'],
    customPayload: new Map([['grey', hex('ff')]]),
  })
  t.equal(item.keyspaceSet, 'ks', 'the message after the extras is read in the right place')
  t.equal(String(item.flags?.traceId), '01234567-89ab-cdef-0123-456789abcdef')
  t.same(item.flags?.warnings, ['Aggregation query used without partition key'])
  t.same(item.flags?.customPayload, { grey: hex('ff') })
})

t.test('frames back to back are told apart by the driver', async (t) => {
  const items = await driverParse(
    encodeResponse({ type: 'READY' }, 1),
    Buffer.concat([
      encodeResponse({ type: 'RESULT', kind: 'Void' }, 2),
      encodeResponse({ type: 'RESULT', kind: 'Set_keyspace', keyspace: 'a' }, 3),
    ]),
  )
  t.same(
    items.map((item) => item.header.streamId),
    [1, 2, 3],
  )
})
