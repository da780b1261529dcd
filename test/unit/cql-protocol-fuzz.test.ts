import t from 'tap'
import fc from 'fast-check'
import { requestMessage, stream } from '../fixtures/cql-arbitraries.js'
import { CqlProtocolError } from '../../src/cql/protocol/cql-protocol-error.js'
import { decodeRequest } from '../../src/cql/protocol/decode-request.js'
import { decodeResponse } from '../../src/cql/protocol/decode-response.js'
import { encodeRequest } from '../../src/cql/protocol/encode-request.js'
import { encodeResponse } from '../../src/cql/protocol/encode-response.js'
import { decodeFrameHeader } from '../../src/cql/protocol/frame-header.js'
import { FrameSplitter, type FrameDirection } from '../../src/cql/protocol/frame-splitter.js'
import type { ResponseMessage } from '../../src/cql/protocol/response-messages.js'

// Whatever bytes a peer sends, the codec answers with a frame, a null, or a CqlProtocolError: never a RangeError from
// a Buffer read, a TypeError, a hang or a stack overflow.

function onlyProtocolErrors(action: () => void): void {
  try {
    action()
  } catch (error) {
    if (!(error instanceof CqlProtocolError)) throw error
  }
}

/** Splits and decodes everything in `bytes`, as a session would. */
function consume(bytes: Buffer, direction: FrameDirection): void {
  const splitter = new FrameSplitter({ direction, maxBodyBytes: 1024 })
  splitter.push(bytes)
  for (let item = splitter.next(); item !== null; item = splitter.next()) {
    if (item.type !== 'frame') continue
    if (direction === 'request') decodeRequest(item.header, item.body)
    else decodeResponse(item.header, item.body)
  }
}

/** Decodes the body with the original header, so that the mutation reaches the message decoder. */
function decodeBody(frame: Buffer, body: Buffer, direction: FrameDirection): void {
  const header = decodeFrameHeader(frame)
  if (direction === 'request') decodeRequest(header, body)
  else decodeResponse(header, body)
}

const mutations = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })

function mutated(frame: Buffer, changes: [number, number][]): Buffer {
  const copy = Buffer.from(frame)
  for (const [at, byte] of changes) copy[at % copy.length] = byte
  return copy
}

function fuzz(frame: Buffer, changes: [number, number][], cut: number, direction: FrameDirection): void {
  const bad = mutated(frame, changes)
  onlyProtocolErrors(() => consume(bad, direction))
  onlyProtocolErrors(() => decodeBody(frame, bad.subarray(9), direction))
  onlyProtocolErrors(() => decodeBody(frame, frame.subarray(9, 9 + (cut % Math.max(1, frame.length - 9))), direction))
  onlyProtocolErrors(() => consume(frame.subarray(0, cut % frame.length), direction))
}

t.test('mutated or truncated requests only ever raise CqlProtocolError', async (t) => {
  fc.assert(
    fc.property(requestMessage, stream, mutations, fc.nat(), (request, streamId, changes, cut) => {
      fuzz(encodeRequest(request, streamId), changes, cut, 'request')
    }),
    { numRuns: 3000 },
  )
  t.pass('3000 requests')
})

const columns = [
  { keyspace: 'system', table: 'local', name: 'key', type: { kind: 'varchar' as const } },
  { keyspace: 'system', table: 'local', name: 'tokens', type: { kind: 'set' as const, element: { kind: 'varchar' as const } } },
  {
    keyspace: 'ks',
    table: 't',
    name: 'v',
    type: {
      kind: 'udt' as const,
      keyspace: 'ks',
      name: 'u',
      fields: [
        {
          name: 'm',
          type: {
            kind: 'map' as const,
            key: { kind: 'int' as const },
            value: { kind: 'list' as const, element: { kind: 'blob' as const } },
          },
        },
        {
          name: 't',
          type: { kind: 'tuple' as const, elements: [{ kind: 'custom' as const, className: 'a.B' }, { kind: 'inet' as const }] },
        },
      ],
    },
  },
]
const responses: ResponseMessage[] = [
  { type: 'READY' },
  { type: 'AUTHENTICATE', authenticator: 'org.apache.cassandra.auth.PasswordAuthenticator' },
  {
    type: 'SUPPORTED',
    options: new Map([
      ['CQL_VERSION', ['3.4.7']],
      ['COMPRESSION', []],
    ]),
  },
  { type: 'AUTH_CHALLENGE', token: Buffer.from('abc') },
  { type: 'AUTH_SUCCESS', token: null },
  { type: 'ERROR', code: 0x1000, message: 'u', details: { kind: 'unavailable', consistency: 6, required: 2, alive: 1 } },
  {
    type: 'ERROR',
    code: 0x1100,
    message: 'w',
    details: { kind: 'write-timeout', consistency: 6, received: 1, blockFor: 2, writeType: 'SIMPLE' },
  },
  {
    type: 'ERROR',
    code: 0x1200,
    message: 'r',
    details: { kind: 'read-timeout', consistency: 6, received: 1, blockFor: 2, dataPresent: true },
  },
  {
    type: 'ERROR',
    code: 0x1300,
    message: 'rf',
    details: { kind: 'read-failure', consistency: 6, received: 1, blockFor: 2, failures: 1, dataPresent: false },
  },
  {
    type: 'ERROR',
    code: 0x1400,
    message: 'ff',
    details: { kind: 'function-failure', keyspace: 'ks', functionName: 'f', argTypes: ['int'] },
  },
  {
    type: 'ERROR',
    code: 0x1500,
    message: 'wf',
    details: { kind: 'write-failure', consistency: 6, received: 1, blockFor: 2, failures: 1, writeType: 'BATCH' },
  },
  { type: 'ERROR', code: 0x2400, message: 'ae', details: { kind: 'already-exists', keyspace: 'ks', table: 't' } },
  { type: 'ERROR', code: 0x2500, message: 'up', details: { kind: 'unprepared', id: Buffer.from('0123456789abcdef') } },
  { type: 'RESULT', kind: 'Void' },
  { type: 'RESULT', kind: 'Set_keyspace', keyspace: 'ks' },
  {
    type: 'RESULT',
    kind: 'Rows',
    metadata: { columnCount: 3, columns, pagingState: Buffer.from('next') },
    rows: [
      [Buffer.from('local'), null, Buffer.alloc(0)],
      [null, null, null],
    ],
  },
  { type: 'RESULT', kind: 'Rows', metadata: { columnCount: 2 }, rows: [[null, Buffer.from('x')]] },
  {
    type: 'RESULT',
    kind: 'Prepared',
    id: Buffer.from('0123456789abcdef'),
    metadata: { columns, partitionKeyIndexes: [0, 2] },
    resultMetadata: { columnCount: 2, columns: columns.slice(0, 2) },
  },
  { type: 'RESULT', kind: 'Schema_change', change: 'CREATED', target: 'FUNCTION', keyspace: 'ks', name: 'f', argTypes: ['int'] },
  { type: 'EVENT', event: { kind: 'STATUS_CHANGE', change: 'UP', node: { address: '::1', port: 9042 } } },
  { type: 'EVENT', event: { kind: 'TOPOLOGY_CHANGE', change: 'NEW_NODE', node: { address: '10.0.0.1', port: 9042 } } },
  { type: 'EVENT', event: { kind: 'SCHEMA_CHANGE', change: 'DROPPED', target: 'TABLE', keyspace: 'ks', name: 't' } },
]
const extras = fc.record(
  {
    tracingId: fc.constant(Buffer.alloc(16, 7)),
    warnings: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
    customPayload: fc.constant(new Map([['k', Buffer.from('v')]])),
  },
  { requiredKeys: [] },
)

t.test('mutated or truncated responses only ever raise CqlProtocolError', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...responses), extras, stream, mutations, fc.nat(), (response, options, streamId, changes, cut) => {
      fuzz(encodeResponse(response, streamId, options), changes, cut, 'response')
    }),
    { numRuns: 3000 },
  )
  t.pass('3000 responses')
})

t.test('random bytes only ever raise CqlProtocolError', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom<FrameDirection>('request', 'response'), (bytes, direction) => {
      const frame = Buffer.concat([Buffer.from([direction === 'request' ? 0x04 : 0x84]), Buffer.from(bytes)])
      onlyProtocolErrors(() => consume(frame, direction))
      if (frame.length >= 9) onlyProtocolErrors(() => decodeBody(frame, frame.subarray(9), direction))
    }),
    { numRuns: 3000 },
  )
  t.pass('3000 byte strings')
})
