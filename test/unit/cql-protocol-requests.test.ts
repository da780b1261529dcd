import t from 'tap'
import { hex } from '../fixtures/hex-dump.js'
import { CqlProtocolError } from '../../src/cql/protocol/cql-protocol-error.js'
import { NOT_SET } from '../../src/cql/protocol/cql-value.js'
import { decodeRequest } from '../../src/cql/protocol/decode-request.js'
import { encodeRequest } from '../../src/cql/protocol/encode-request.js'
import { FrameSplitter, type SplitFrame } from '../../src/cql/protocol/frame-splitter.js'
import type { DecodedRequest, RequestMessage } from '../../src/cql/protocol/request-messages.js'

/** The one frame of `dump`, through the splitter, so that every declared length is checked. */
function frameOf(dump: string): SplitFrame {
  const splitter = new FrameSplitter()
  splitter.push(hex(dump))
  const frame = splitter.next()
  if (frame?.type !== 'frame') throw new Error(`not one whole frame: ${JSON.stringify(frame)}`)
  if (splitter.pendingBytes !== 0) throw new Error(`${splitter.pendingBytes} bytes after the frame`)
  return frame
}

/** The message without its offsets, as encodeRequest takes it. */
function withoutOffsets(message: DecodedRequest): RequestMessage {
  const { offsets: _offsets, ...rest } = message as DecodedRequest & { offsets?: unknown }
  return rest as RequestMessage
}

const cases: { name: string; dump: string; expected: DecodedRequest; tracing?: boolean }[] = [
  {
    name: 'STARTUP',
    dump: `04 00 0000 01 00000016
           0001 000b 'CQL_VERSION' 0005 '3.0.0'`,
    expected: { type: 'STARTUP', options: new Map([['CQL_VERSION', '3.0.0']]) },
  },
  { name: 'OPTIONS', dump: '04 00 0000 05 00000000', expected: { type: 'OPTIONS' } },
  {
    name: 'AUTH_RESPONSE, a PLAIN token',
    dump: `04 00 0001 0f 00000018 00000014 00 'cassandra' 00 'cassandra'`,
    expected: { type: 'AUTH_RESPONSE', token: hex(`00 'cassandra' 00 'cassandra'`) },
  },
  { name: 'AUTH_RESPONSE, a null token', dump: '04 00 0001 0f 00000004 ffffffff', expected: { type: 'AUTH_RESPONSE', token: null } },
  {
    name: 'REGISTER',
    dump: `04 00 0002 0b 00000031
           0003 000f 'TOPOLOGY_CHANGE' 000d 'STATUS_CHANGE' 000d 'SCHEMA_CHANGE'`,
    expected: { type: 'REGISTER', events: ['TOPOLOGY_CHANGE', 'STATUS_CHANGE', 'SCHEMA_CHANGE'] },
  },
  {
    name: 'PREPARE',
    dump: `04 00 0003 09 00000022 0000001e 'SELECT * FROM ks.t WHERE k = ?'`,
    expected: { type: 'PREPARE', query: 'SELECT * FROM ks.t WHERE k = ?' },
  },
  {
    name: 'QUERY without parameters',
    dump: `04 00 0004 07 00000016 0000000f 'SELECT * FROM t'
           0001 # ONE
           00   # no flags`,
    expected: {
      type: 'QUERY',
      query: 'SELECT * FROM t',
      parameters: { consistency: 1, skipMetadata: false },
      offsets: { consistency: 19, flags: 21, timestamp: 22 },
    },
  },
  {
    name: 'QUERY with every flag',
    dump: `04 00 0005 07 0000004c 00000020 'UPDATE t SET v = :v WHERE k = :k'
           0006                      # LOCAL_QUORUM
           7f                        # all seven flags
           0002 0001 'k' 00000001 2a # named values
                0001 'v' fffffffe    # not set
           00001388                  # page size 5000
           00000002 abcd             # paging state
           0009                      # serial: LOCAL_SERIAL
           0005f0a1b2c3d4e5          # default timestamp`,
    expected: {
      type: 'QUERY',
      query: 'UPDATE t SET v = :v WHERE k = :k',
      parameters: {
        consistency: 6,
        skipMetadata: true,
        values: [hex('2a'), NOT_SET],
        names: ['k', 'v'],
        pageSize: 5000,
        pagingState: hex('abcd'),
        serialConsistency: 9,
        timestamp: 0x0005f0a1b2c3d4e5n,
      },
      offsets: { consistency: 36, flags: 38, timestamp: 68 },
    },
  },
  {
    name: 'QUERY with a null paging state and a null value',
    dump: `04 00 0006 07 00000012 00000001 'Q' 0001 09 0001 ffffffff ffffffff`,
    expected: {
      type: 'QUERY',
      query: 'Q',
      parameters: { consistency: 1, skipMetadata: false, values: [null], pagingState: null },
      offsets: { consistency: 5, flags: 7, timestamp: 18 },
    },
  },
  {
    name: 'EXECUTE',
    dump: `04 00 0007 0a 00000023 0010 00112233445566778899aabbccddeeff
           000a 05 0001 00000004 0000002a 00000064`,
    expected: {
      type: 'EXECUTE',
      id: hex('00112233445566778899aabbccddeeff'),
      parameters: { consistency: 10, skipMetadata: false, values: [hex('0000002a')], pageSize: 100 },
      offsets: { consistency: 18, flags: 20, timestamp: 35 },
    },
  },
  {
    name: 'EXECUTE with tracing and a custom payload',
    dump: `04 06 0008 0a 00000019
           0001 0001 'p' 00000001 ff # custom payload before the message
           0002 cafe 0001 20 0000000000000001`,
    tracing: true,
    expected: {
      type: 'EXECUTE',
      id: hex('cafe'),
      parameters: { consistency: 1, skipMetadata: false, timestamp: 1n },
      offsets: { consistency: 14, flags: 16, timestamp: 17 },
      customPayload: new Map([['p', hex('ff')]]),
    },
  },
  {
    name: 'BATCH of a query and a prepared statement',
    dump: `04 00 0009 0d 00000047
           01 0002                                             # unlogged, 2 statements
           00 0000001c 'INSERT INTO t (k) VALUES (?)' 0001 00000001 01
           01 0002 beef 0002 ffffffff fffffffe
           0004 30 0008 00000000000003e8                       # QUORUM, serial SERIAL, timestamp 1000`,
    expected: {
      type: 'BATCH',
      batchType: 1,
      statements: [
        { kind: 'query', query: 'INSERT INTO t (k) VALUES (?)', values: [hex('01')] },
        { kind: 'prepared', id: hex('beef'), values: [null, NOT_SET] },
      ],
      consistency: 4,
      serialConsistency: 8,
      timestamp: 1000n,
      offsets: { consistency: 58, flags: 60, timestamp: 63 },
    },
  },
  {
    name: 'an empty BATCH',
    dump: '04 00 000a 0d 00000006 00 0000 0001 00',
    expected: { type: 'BATCH', batchType: 0, statements: [], consistency: 1, offsets: { consistency: 3, flags: 5, timestamp: 6 } },
  },
  {
    name: 'PREPARE in v3',
    dump: `03 00 000b 09 00000005 00000001 'Q'`,
    expected: { type: 'PREPARE', query: 'Q' },
  },
]

for (const { name, dump, expected, tracing } of cases) {
  t.test(`decodes and encodes ${name}`, async (t) => {
    const { header, frame } = frameOf(dump)
    t.same(decodeRequest(header, frame.subarray(9)), expected)
    const again = encodeRequest(withoutOffsets(expected), header.stream, { version: header.version as 3 | 4, tracing })
    t.same(again.toString('hex'), frame.toString('hex'), 'encodeRequest writes the same bytes')
  })
}

t.test('byte fields are views into the frame, not copies', async (t) => {
  const { header, body } = frameOf(cases.find((c) => c.name === 'EXECUTE')!.dump)
  const message = decodeRequest(header, body)
  t.equal(message.type === 'EXECUTE' && message.id.buffer, body.buffer)
})

const malformed: { name: string; dump: string; error: RegExp }[] = [
  {
    name: 'a truncated QUERY',
    dump: `04 00 0001 07 00000006 00000001 'Q' 00`,
    error: /QUERY message is too short: it needs 2 more bytes at body offset 5 but has 1/,
  },
  {
    name: 'a negative [long string]',
    dump: '04 00 0001 09 00000004 ffffffff',
    error: /PREPARE message has a \[long string\] of negative length -1/,
  },
  {
    name: 'invalid UTF-8',
    dump: '04 00 0001 09 00000006 00000002 c328',
    error: /PREPARE message has a string that is not valid UTF-8 at body offset 4/,
  },
  {
    name: 'an unknown consistency',
    dump: `04 00 0001 07 00000008 00000001 'Q' 000b 00`,
    error: /QUERY message has an unknown consistency level 0x000b/,
  },
  {
    name: 'v5 query flags',
    dump: `04 00 0001 07 00000008 00000001 'Q' 0001 80`,
    error: /QUERY message has query flags 0x80; protocol v4 defines only 0x01 to 0x40/,
  },
  {
    name: 'a [value] of length -3',
    dump: `04 00 0001 07 0000000e 00000001 'Q' 0001 01 0001 fffffffd`,
    error: /has a \[value\] of length -3; only -1 \(null\) and -2 \(not set\) may be negative/,
  },
  {
    name: 'the "no timestamp" marker as a timestamp',
    dump: `04 00 0001 07 00000010 00000001 'Q' 0001 20 8000000000000000`,
    error: /QUERY message has default timestamp -9223372036854775808, which is out of bounds/,
  },
  { name: 'bytes after OPTIONS', dump: '04 00 0001 05 00000001 00', error: /OPTIONS message has 1 unexpected bytes after its last field/ },
  {
    name: 'batch type 3',
    dump: '04 00 0001 0d 00000006 03 0000 0001 00',
    error: /BATCH message has batch type 3; only 0 \(logged\), 1 \(unlogged\) and 2 \(counter\) exist/,
  },
  {
    name: 'statement kind 2',
    dump: '04 00 0001 0d 00000004 00 0001 02',
    error: /BATCH message has statement kind 2; only 0 \(query string\) and 1 \(prepared id\) exist/,
  },
  {
    name: 'names for values in BATCH',
    dump: '04 00 0001 0d 00000006 00 0000 0001 40',
    error: /BATCH message sets flag 0x40 \(names for values\), which BATCH does not support/,
  },
  {
    name: 'a QUERY flag in BATCH',
    dump: '04 00 0001 0d 00000006 00 0000 0001 04',
    error: /BATCH message has batch flags 0x04; only 0x10 and 0x20 are allowed/,
  },
  { name: 'a response opcode', dump: '04 00 0001 02 00000000', error: /READY is a response; a client cannot send it/ },
  { name: 'an unknown opcode', dump: '04 00 0001 04 00000000', error: /unknown opcode 0x04 in a request/ },
  {
    name: 'a custom payload on STARTUP',
    dump: '04 04 0001 01 00000004 0000 0000',
    error: /STARTUP message has a custom payload; only QUERY, PREPARE, EXECUTE and BATCH may carry one/,
  },
]

for (const { name, dump, error } of malformed) {
  t.test(`refuses ${name}`, async (t) => {
    const { header, body } = frameOf(dump)
    const thrown = t.throws(() => decodeRequest(header, body), error) as CqlProtocolError
    t.ok(thrown instanceof CqlProtocolError)
    t.equal(thrown.code, 0x000a, 'Protocol error')
    t.equal(thrown.streamId, 1, 'on the frame’s stream')
  })
}

t.test('refuses headers the splitter would not pass', async (t) => {
  const header = { version: 4, response: true, flags: 0, stream: 3, opcode: 0x05, bodyLength: 0 }
  t.throws(() => decodeRequest(header, Buffer.alloc(0)), /OPTIONS message has the response direction bit set/)
  t.throws(
    () => decodeRequest({ ...header, response: false, flags: 0x01 }, Buffer.alloc(0)),
    /is compressed, but no compression was negotiated/,
  )
})

t.test('encodeRequest checks what it cannot write', async (t) => {
  const query = (parameters: object): RequestMessage => ({
    type: 'QUERY',
    query: 'Q',
    parameters: { consistency: 1, skipMetadata: false, ...parameters },
  })
  t.throws(() => encodeRequest(query({ names: ['a'] }), 0), /1 value names for 0 values/)
  t.throws(() => encodeRequest(query({ values: [null], names: ['a', 'b'] }), 0), /2 value names for 1 values/)
  t.throws(() => encodeRequest(query({ consistency: 11 }), 0), /11 is not a consistency level/)
  t.throws(() => encodeRequest({ type: 'OPTIONS' }, 32768), RangeError, 'a stream id is a signed short')
  t.same(encodeRequest({ type: 'OPTIONS' }, 1), hex('04 00 0001 05 00000000'), 'a failed encoding leaves nothing behind')
})
