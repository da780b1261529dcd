import t from 'tap'
import { hex } from '../fixtures/hex-dump.js'
import { CqlProtocolError } from '../../src/cql/protocol/cql-protocol-error.js'
import { decodeResponse, decodeResponseExtras } from '../../src/cql/protocol/decode-response.js'
import { encodeResponse, type ResponseFrameOptions } from '../../src/cql/protocol/encode-response.js'
import { FrameSplitter, type SplitFrame } from '../../src/cql/protocol/frame-splitter.js'
import type { ResponseMessage, RowsResult } from '../../src/cql/protocol/response-messages.js'

function frameOf(dump: string): SplitFrame {
  const splitter = new FrameSplitter({ direction: 'response' })
  splitter.push(hex(dump))
  const frame = splitter.next()
  if (frame?.type !== 'frame') throw new Error(`not one whole frame: ${JSON.stringify(frame)}`)
  if (splitter.pendingBytes !== 0) throw new Error(`${splitter.pendingBytes} bytes after the frame`)
  return frame
}

const TRACING_ID = hex('0123456789abcdef0123456789abcdef')

const cases: { name: string; dump: string; expected: ResponseMessage; options?: ResponseFrameOptions }[] = [
  { name: 'READY', dump: '84 00 0000 02 00000000', expected: { type: 'READY' } },
  {
    name: 'AUTHENTICATE',
    dump: `84 00 0000 03 00000031 002f 'org.apache.cassandra.auth.PasswordAuthenticator'`,
    expected: { type: 'AUTHENTICATE', authenticator: 'org.apache.cassandra.auth.PasswordAuthenticator' },
  },
  {
    name: 'SUPPORTED, without compression',
    dump: `84 00 0000 06 00000027 0002
           000b 'CQL_VERSION' 0001 0005 '3.4.7'
           000b 'COMPRESSION' 0000`,
    expected: {
      type: 'SUPPORTED',
      options: new Map([
        ['CQL_VERSION', ['3.4.7']],
        ['COMPRESSION', []],
      ]),
    },
  },
  { name: 'AUTH_CHALLENGE', dump: '84 00 0001 0e 00000006 00000002 abcd', expected: { type: 'AUTH_CHALLENGE', token: hex('abcd') } },
  { name: 'AUTH_SUCCESS, no token', dump: '84 00 0001 10 00000004 ffffffff', expected: { type: 'AUTH_SUCCESS', token: null } },
  {
    name: 'ERROR Server error',
    dump: `84 00 0002 00 0000000a 00000000 0004 'boom'`,
    expected: { type: 'ERROR', code: 0x0000, message: 'boom' },
  },
  {
    name: 'ERROR Bad credentials',
    dump: `84 00 0002 00 00000009 00000100 0003 'bad'`,
    expected: { type: 'ERROR', code: 0x0100, message: 'bad' },
  },
  { name: 'ERROR Overloaded', dump: `84 00 0002 00 00000008 00001001 0002 'ol'`, expected: { type: 'ERROR', code: 0x1001, message: 'ol' } },
  {
    name: 'ERROR Invalid',
    dump: `84 00 0002 00 0000000d 00002200 0007 'invalid'`,
    expected: { type: 'ERROR', code: 0x2200, message: 'invalid' },
  },
  {
    name: 'ERROR Unavailable',
    dump: `84 00 0002 00 0000001b 00001000 000b 'unavailable' 0004 00000003 00000001`,
    expected: {
      type: 'ERROR',
      code: 0x1000,
      message: 'unavailable',
      details: { kind: 'unavailable', consistency: 4, required: 3, alive: 1 },
    },
  },
  {
    name: 'ERROR Write_timeout',
    dump: `84 00 0002 00 0000001f 00001100 0007 'timeout' 0006 00000001 00000002 0006 'SIMPLE'`,
    expected: {
      type: 'ERROR',
      code: 0x1100,
      message: 'timeout',
      details: { kind: 'write-timeout', consistency: 6, received: 1, blockFor: 2, writeType: 'SIMPLE' },
    },
  },
  {
    name: 'ERROR Read_timeout',
    dump: `84 00 0002 00 00000018 00001200 0007 'timeout' 0001 00000000 00000001 00`,
    expected: {
      type: 'ERROR',
      code: 0x1200,
      message: 'timeout',
      details: { kind: 'read-timeout', consistency: 1, received: 0, blockFor: 1, dataPresent: false },
    },
  },
  {
    name: 'ERROR Read_failure',
    dump: `84 00 0002 00 00000019 00001300 0004 'fail' 0004 00000001 00000002 00000001 01`,
    expected: {
      type: 'ERROR',
      code: 0x1300,
      message: 'fail',
      details: { kind: 'read-failure', consistency: 4, received: 1, blockFor: 2, failures: 1, dataPresent: true },
    },
  },
  {
    name: 'ERROR Function_failure',
    dump: `84 00 0002 00 00000018 00001400 0004 'fail' 0002 'ks' 0001 'f' 0001 0003 'int'`,
    expected: {
      type: 'ERROR',
      code: 0x1400,
      message: 'fail',
      details: { kind: 'function-failure', keyspace: 'ks', functionName: 'f', argTypes: ['int'] },
    },
  },
  {
    name: 'ERROR Write_failure',
    dump: `84 00 0002 00 0000001f 00001500 0004 'fail' 0004 00000001 00000002 00000001 0005 'BATCH'`,
    expected: {
      type: 'ERROR',
      code: 0x1500,
      message: 'fail',
      details: { kind: 'write-failure', consistency: 4, received: 1, blockFor: 2, failures: 1, writeType: 'BATCH' },
    },
  },
  {
    name: 'ERROR Already_exists',
    dump: `84 00 0002 00 00000012 00002400 0006 'exists' 0002 'ks' 0000`,
    expected: { type: 'ERROR', code: 0x2400, message: 'exists', details: { kind: 'already-exists', keyspace: 'ks', table: '' } },
  },
  {
    name: 'ERROR Unprepared',
    dump: `84 00 0002 00 00000014 00002500 000a 'unprepared' 0002 beef`,
    expected: { type: 'ERROR', code: 0x2500, message: 'unprepared', details: { kind: 'unprepared', id: hex('beef') } },
  },
  { name: 'RESULT Void', dump: '84 00 0003 08 00000004 00000001', expected: { type: 'RESULT', kind: 'Void' } },
  {
    name: 'RESULT Set_keyspace',
    dump: `84 00 0003 08 00000008 00000003 0002 'ks'`,
    expected: { type: 'RESULT', kind: 'Set_keyspace', keyspace: 'ks' },
  },
  {
    name: 'RESULT Rows with a global table spec',
    dump: `84 00 0003 08 00000047 00000002
           00000001 00000002 0006 'system' 0005 'local' # flags: global; 2 columns
           0003 'key' 000d                               # varchar
           0004 'tags' 0020 0009                         # list<int>
           00000002                                      # 2 rows
           00000005 'local' ffffffff
           00000000 00000002 abcd`,
    expected: {
      type: 'RESULT',
      kind: 'Rows',
      metadata: {
        columnCount: 2,
        columns: [
          { keyspace: 'system', table: 'local', name: 'key', type: { kind: 'varchar' } },
          { keyspace: 'system', table: 'local', name: 'tags', type: { kind: 'list', element: { kind: 'int' } } },
        ],
      },
      rows: [
        [hex(`'local'`), null],
        [hex(''), hex('abcd')],
      ],
    },
  },
  {
    name: 'RESULT Rows with a paging state and no metadata',
    dump: '84 00 0003 08 0000001c 00000002 00000006 00000001 00000003 abcdef 00000001 00000001 2a',
    expected: { type: 'RESULT', kind: 'Rows', metadata: { columnCount: 1, pagingState: hex('abcdef') }, rows: [[hex('2a')]] },
  },
  {
    name: 'RESULT Rows with a table spec per column',
    dump: `84 00 0003 08 0000002e 00000002 00000000 00000002
           0002 'ks' 0001 'a' 0001 'x' 0009
           0002 'ks' 0001 'b' 0001 'y' 0021 000d 0022 0003 # map<varchar, set<blob>>
           00000000`,
    expected: {
      type: 'RESULT',
      kind: 'Rows',
      metadata: {
        columnCount: 2,
        columns: [
          { keyspace: 'ks', table: 'a', name: 'x', type: { kind: 'int' } },
          {
            keyspace: 'ks',
            table: 'b',
            name: 'y',
            type: { kind: 'map', key: { kind: 'varchar' }, value: { kind: 'set', element: { kind: 'blob' } } },
          },
        ],
      },
      rows: [],
    },
  },
  {
    name: 'RESULT Prepared with a UDT, a tuple and a custom type',
    dump: `84 00 0003 08 00000057 00000004 0002 beef
           00000001 00000002 00000001 0000  # global; 2 bind markers; partition key = marker 0
           0002 'ks' 0001 't'
           0001 'k' 0009
           0001 'v' 0030 0002 'ks' 0004 'addr' 0002 0006 'street' 000d 0003 'zip' 0031 0002 0009 0000 0003 'a.B'
           00000004 00000000                # result metadata: none`,
    expected: {
      type: 'RESULT',
      kind: 'Prepared',
      id: hex('beef'),
      metadata: {
        partitionKeyIndexes: [0],
        columns: [
          { keyspace: 'ks', table: 't', name: 'k', type: { kind: 'int' } },
          {
            keyspace: 'ks',
            table: 't',
            name: 'v',
            type: {
              kind: 'udt',
              keyspace: 'ks',
              name: 'addr',
              fields: [
                { name: 'street', type: { kind: 'varchar' } },
                { name: 'zip', type: { kind: 'tuple', elements: [{ kind: 'int' }, { kind: 'custom', className: 'a.B' }] } },
              ],
            },
          },
        ],
      },
      resultMetadata: { columnCount: 0 },
    },
  },
  {
    name: 'RESULT Prepared in v3 (no partition key indexes)',
    dump: '83 00 0003 08 00000017 00000004 0001 01 00000000 00000000 00000004 00000000',
    options: { version: 3 },
    expected: {
      type: 'RESULT',
      kind: 'Prepared',
      id: hex('01'),
      metadata: { columns: [], partitionKeyIndexes: [] },
      resultMetadata: { columnCount: 0 },
    },
  },
  {
    name: 'RESULT Rows without metadata: more columns than bytes is fine when there are no rows',
    dump: '84 00 0003 08 00000010 00000002 00000004 0000000a 00000000',
    expected: { type: 'RESULT', kind: 'Rows', metadata: { columnCount: 10 }, rows: [] },
  },
  {
    name: 'RESULT Schema_change of a table',
    dump: `84 00 0003 08 0000001b 00000005 0007 'CREATED' 0005 'TABLE' 0002 'ks' 0001 't'`,
    expected: { type: 'RESULT', kind: 'Schema_change', change: 'CREATED', target: 'TABLE', keyspace: 'ks', name: 't' },
  },
  {
    name: 'RESULT Schema_change of a keyspace',
    dump: `84 00 0003 08 0000001b 00000005 0007 'DROPPED' 0008 'KEYSPACE' 0002 'ks'`,
    expected: { type: 'RESULT', kind: 'Schema_change', change: 'DROPPED', target: 'KEYSPACE', keyspace: 'ks' },
  },
  {
    name: 'EVENT SCHEMA_CHANGE of a function',
    dump: `84 00 ffff 0c 00000036 000d 'SCHEMA_CHANGE' 0007 'UPDATED' 0008 'FUNCTION' 0002 'ks' 0001 'f' 0002 0003 'int' 0004 'text'`,
    expected: {
      type: 'EVENT',
      event: { kind: 'SCHEMA_CHANGE', change: 'UPDATED', target: 'FUNCTION', keyspace: 'ks', name: 'f', argTypes: ['int', 'text'] },
    },
  },
  {
    name: 'EVENT STATUS_CHANGE',
    dump: `84 00 ffff 0c 0000001c 000d 'STATUS_CHANGE' 0002 'UP' 04 7f000001 00002352`,
    expected: { type: 'EVENT', event: { kind: 'STATUS_CHANGE', change: 'UP', node: { address: '127.0.0.1', port: 9042 } } },
  },
  {
    name: 'EVENT TOPOLOGY_CHANGE of an IPv6 node',
    dump: `84 00 ffff 0c 00000030 000f 'TOPOLOGY_CHANGE' 0008 'NEW_NODE' 10 20010db8000000000000000000000001 00002352`,
    expected: { type: 'EVENT', event: { kind: 'TOPOLOGY_CHANGE', change: 'NEW_NODE', node: { address: '2001:db8::1', port: 9042 } } },
  },
  {
    name: 'a RESULT with a tracing id, warnings and a custom payload',
    dump: `84 0e 0004 08 00000025
           0123456789abcdef0123456789abcdef # tracing id
           0001 0004 'warn'                 # warnings
           0001 0001 'k' 00000000           # custom payload
           00000001`,
    options: { tracingId: TRACING_ID, warnings: ['warn'], customPayload: new Map([['k', hex('')]]) },
    expected: { type: 'RESULT', kind: 'Void' },
  },
]

for (const { name, dump, expected, options = {} } of cases) {
  t.test(`decodes and encodes ${name}`, async (t) => {
    const { header, frame, body } = frameOf(dump)
    const { message, messageOffset, ...extras } = decodeResponse(header, body)
    t.same(message, expected)
    const { version: _version, ...expectedExtras } = options
    t.same(extras, expectedExtras)
    t.same(decodeResponseExtras(header, body), { ...extras, messageOffset })
    t.equal(encodeResponse(expected, header.stream, options).toString('hex'), frame.toString('hex'), 'encodeResponse writes the same bytes')
  })
}

t.test('row cells are views into the frame', async (t) => {
  const { header, body } = frameOf(cases.find((c) => c.name.startsWith('RESULT Rows with a global'))!.dump)
  const rows = (decodeResponse(header, body).message as RowsResult).rows
  t.equal(rows[0]![0]!.buffer, body.buffer)
})

t.test('the extras of a response are skipped without decoding its message', async (t) => {
  const { header, body } = frameOf(`84 08 0005 08 00000009 0001 0001 'w' ffffffff # warnings, then a RESULT of unknown kind`)
  t.same(decodeResponseExtras(header, body), { warnings: ['w'], messageOffset: 5 })
  t.throws(() => decodeResponse(header, body), /RESULT message has an unknown result kind 0xffffffff|unknown result kind/)
})

const nested = (depth: number) => '0020 '.repeat(depth) + '0009'
const malformed: { name: string; dump: string; error: RegExp }[] = [
  { name: 'an unknown result kind', dump: '84 00 0001 08 00000004 00000006', error: /RESULT message has an unknown result kind 0x0006/ },
  {
    name: 'an unknown column type',
    dump: `84 00 0001 08 00000015 00000002 00000001 00000001 0000 0000 0001 'c' 0040`,
    error: /RESULT message has an unknown column type id 0x0040/,
  },
  {
    name: 'column types nested too deep',
    dump: `84 00 0001 08 ${(19 + 2 * 65).toString(16).padStart(8, '0')} 00000002 00000001 00000001 0000 0000 0001 'c' ${nested(64)}`,
    error: /nests column types more than 64 deep/,
  },
  { name: 'a negative column count', dump: '84 00 0001 08 0000000c 00000002 00000004 ffffffff', error: /declares -1 columns/ },
  {
    name: 'a negative bind marker count',
    dump: '84 00 0001 08 0000000e 00000004 0000 00000000 ffffffff',
    error: /declares -1 bind markers, more than/,
  },
  {
    name: 'more columns than bytes',
    dump: '84 00 0001 08 0000000c 00000002 00000000 7fffffff',
    error: /declares 2147483647 columns, more than its 0 remaining bytes can hold/,
  },
  { name: 'a negative row count', dump: '84 00 0001 08 00000010 00000002 00000004 00000001 ffffffff', error: /declares -1 rows/ },
  {
    name: 'rows of no columns',
    dump: '84 00 0001 08 00000010 00000002 00000004 00000000 7fffffff',
    error: /declares 2147483647 rows of no columns/,
  },
  { name: 'more cells than bytes', dump: '84 00 0001 08 00000010 00000002 00000004 00000002 00100000', error: /declares 2097152 cells/ },
  {
    name: 'more partition key indexes than bytes',
    dump: '84 00 0001 08 00000012 00000004 0000 00000000 00000000 00001000',
    error: /declares 4096 partition key indexes/,
  },
  {
    name: 'an unknown schema change target',
    dump: `84 00 0001 08 00000013 00000005 0007 'CREATED' 0004 'VIEW'`,
    error: /has an unknown schema change target "VIEW"/,
  },
  { name: 'an unknown event', dump: `84 00 ffff 0c 00000006 0004 'PING'`, error: /EVENT message has an unknown event type "PING"/ },
  {
    name: 'an [inet] of 5 bytes',
    dump: `84 00 ffff 0c 00000014 000d 'STATUS_CHANGE' 0002 'UP' 05`,
    error: /has an \[inet\] address of 5 bytes; only 4 \(IPv4\) and 16 \(IPv6\) exist/,
  },
  { name: 'a request opcode', dump: '84 00 0001 07 00000000', error: /QUERY is not a response opcode/ },
  { name: 'a truncated tracing id', dump: '84 02 0001 02 00000004 00000000', error: /READY message is too short: it needs 16 more bytes/ },
]

for (const { name, dump, error } of malformed) {
  t.test(`refuses ${name}`, async (t) => {
    const { header, body } = frameOf(dump)
    const thrown = t.throws(() => decodeResponse(header, body), error)
    t.ok(thrown instanceof CqlProtocolError)
    t.equal((thrown as CqlProtocolError).streamId, header.stream)
  })
}

t.test('refuses headers the splitter would not pass', async (t) => {
  const header = { version: 4, response: false, flags: 0, stream: 3, opcode: 0x02, bodyLength: 0 }
  t.throws(() => decodeResponse(header, Buffer.alloc(0)), /READY message lacks the response direction bit/)
  t.throws(() => decodeResponseExtras({ ...header, response: true, flags: 0x01 }, Buffer.alloc(0)), /is compressed/)
})

t.test('encodeResponse refuses what it cannot write', async (t) => {
  t.throws(() => encodeResponse({ type: 'ERROR', code: 0x2500, message: 'x' }, 0), /ERROR 0x2500 takes 'unprepared' details, not none/)
  t.throws(
    () => encodeResponse({ type: 'ERROR', code: 0x2200, message: 'x', details: { kind: 'unprepared', id: hex('01') } }, 0),
    /ERROR 0x2200 takes no details, not 'unprepared'/,
  )
  const columns = [{ keyspace: 'ks', table: 't', name: 'c', type: { kind: 'int' as const } }]
  t.throws(
    () => encodeResponse({ type: 'RESULT', kind: 'Rows', metadata: { columnCount: 1, columns }, rows: [[null, null]] }, 0),
    /a row has 2 cells but the result has 1 columns/,
  )
  t.throws(
    () => encodeResponse({ type: 'RESULT', kind: 'Rows', metadata: { columnCount: 2, columns }, rows: [] }, 0),
    /columnCount is 2 but 1 column specs are given/,
  )
  t.throws(
    () => encodeResponse({ type: 'RESULT', kind: 'Schema_change', change: 'CREATED', target: 'VIEW', keyspace: 'ks' }, 0),
    /unknown schema change target "VIEW"/,
  )
  t.throws(
    () => encodeResponse({ type: 'RESULT', kind: 'Schema_change', change: 'CREATED', target: 'TABLE', keyspace: 'ks' }, 0),
    /a TABLE schema change names its table/,
  )
  t.throws(
    () => encodeResponse({ type: 'READY' }, 0, { version: 3, warnings: [] }),
    /warnings and custom payloads do not exist before protocol v4/,
  )
  t.throws(
    () => encodeResponse({ type: 'EVENT', event: { kind: 'STATUS_CHANGE', change: 'UP', node: { address: 'localhost', port: 1 } } }, -1),
    /not an IPv4 or IPv6 address: "localhost"/,
  )
  t.same(encodeResponse({ type: 'READY' }, 7), hex('84 00 0007 02 00000000'), 'a failed encoding leaves nothing behind')
})

t.test('an AGGREGATE schema change without argument types is written with an empty list', async (t) => {
  const frame = encodeResponse(
    { type: 'EVENT', event: { kind: 'SCHEMA_CHANGE', change: 'CREATED', target: 'AGGREGATE', keyspace: 'ks', name: 'a' } },
    -1,
  )
  t.same(frame.subarray(-2), hex('0000'))
})
