import t from 'tap'
import { hex } from '../fixtures/hex-dump.js'
import fc from 'fast-check'
import {
  AUTH_MESSAGE_LIMIT,
  DEFAULT_MAX_MESSAGE_LENGTH,
  FrontendParser,
  MAX_STARTUP_PACKET_LENGTH,
  SMALL_MESSAGE_LIMIT,
  type FrontendParserOptions,
} from '../../src/pg/protocol/frontend-parser.js'
import { parsePasswordMessage, parseSaslInitialResponse, type FrontendMessage } from '../../src/pg/protocol/frontend-messages.js'
import { ProtocolError } from '../../src/pg/protocol/protocol-error.js'

/** Everything the parser returns for `chunks`, pushed one after the other, reading after each. */
function parseAll(chunks: Buffer[], options?: FrontendParserOptions): FrontendMessage[] {
  const parser = new FrontendParser(options)
  const messages: FrontendMessage[] = []
  for (const chunk of chunks) {
    parser.push(chunk)
    for (let message = parser.read(); message !== undefined; message = parser.read()) messages.push(message)
  }
  if (parser.pendingBytes !== 0) throw new Error(`${parser.pendingBytes} bytes left over`)
  return messages
}

function parseError(chunks: Buffer[], options?: FrontendParserOptions): ProtocolError {
  const parser = new FrontendParser(options)
  try {
    for (const chunk of chunks) {
      parser.push(chunk)
      while (parser.read() !== undefined);
    }
  } catch (error) {
    if (error instanceof ProtocolError) return error
    throw error
  }
  throw new Error('no ProtocolError')
}

const b = (text: string) => Buffer.from(text)

const startupCases: { name: string; dump: string; expected: object }[] = [
  { name: 'SSLRequest', dump: '00000008 04d2162f # 1234.5679', expected: { type: 'SSLRequest' } },
  { name: 'GSSENCRequest', dump: '00000008 04d21630 # 1234.5680', expected: { type: 'GSSENCRequest' } },
  {
    name: 'CancelRequest, 4-byte key (protocol 3.0)',
    dump: '00000010 04d2162e 00003039 deadbeef',
    expected: { type: 'CancelRequest', processId: 12345, secretKey: hex('deadbeef') },
  },
  {
    name: 'CancelRequest, 32-byte key (protocol 3.2)',
    dump: `0000002c 04d2162e 00000007 ${'ab'.repeat(32)}`,
    expected: { type: 'CancelRequest', processId: 7, secretKey: Buffer.alloc(32, 0xab) },
  },
  {
    name: 'StartupMessage 3.0',
    dump: `00000022 00030000
           'user' 00 'alice' 00
           'database' 00 'shop' 00
           00 # end of parameters`,
    expected: {
      type: 'StartupMessage',
      majorVersion: 3,
      minorVersion: 0,
      parameters: new Map([
        ['user', 'alice'],
        ['database', 'shop'],
      ]),
    },
  },
  {
    name: 'StartupMessage 3.2 with a protocol option',
    dump: `0000001e 00030002 'user' 00 'bob' 00 '_pq_.foo' 00 'on' 00 00`,
    expected: {
      type: 'StartupMessage',
      majorVersion: 3,
      minorVersion: 2,
      parameters: new Map([
        ['user', 'bob'],
        ['_pq_.foo', 'on'],
      ]),
    },
  },
  {
    name: 'StartupMessage: a repeated parameter keeps the last value',
    dump: `00000017 00030000 'user' 00 'a' 00 'user' 00 'b' 00 00`,
    expected: { type: 'StartupMessage', parameters: new Map([['user', 'b']]) },
  },
]

const regularCases: { name: string; dump: string; expected: object }[] = [
  { name: 'Query', dump: `51 0000000d 'SELECT 1' 00`, expected: { type: 'Query', query: 'SELECT 1' } },
  { name: 'Query, empty', dump: '51 00000005 00', expected: { type: 'Query', query: '' } },
  { name: 'Query, UTF-8', dump: `51 0000000e 'SELECT ' c3a9 00`, expected: { type: 'Query', query: 'SELECT é' } },
  {
    name: 'Parse, named, one parameter type',
    dump: `50 0000001c 's1' 00 'SELECT $1::int' 00 0001 00000017 # int4`,
    expected: { type: 'Parse', name: 's1', query: 'SELECT $1::int', paramTypes: [23] },
  },
  {
    name: 'Parse, unnamed, unsigned OID',
    dump: `50 00000014 00 'SELECT 1' 00 0001 b2d05e00`,
    expected: { type: 'Parse', name: '', query: 'SELECT 1', paramTypes: [3000000000] },
  },
  {
    name: 'Bind: binary format for all, a value, a NULL and an empty value',
    dump: `42 00000022 00 's1' 00
           0001 0001                       # one format code: binary for all
           0003 00000004 0000002a ffffffff 00000000
           0001 0000                       # results in text`,
    expected: {
      type: 'Bind',
      portal: '',
      statement: 's1',
      paramFormats: [1],
      params: [hex('0000002a'), null, Buffer.alloc(0)],
      resultFormats: [0],
    },
  },
  {
    name: 'Bind: no parameters, no result formats',
    dump: `42 00000010 'p1' 00 's1' 00 0000 0000 0000`,
    expected: { type: 'Bind', portal: 'p1', statement: 's1', paramFormats: [], params: [], resultFormats: [] },
  },
  { name: 'Describe statement', dump: `44 00000008 53 's1' 00`, expected: { type: 'Describe', kind: 'S', name: 's1' } },
  { name: 'Describe unnamed portal', dump: '44 00000006 50 00', expected: { type: 'Describe', kind: 'P', name: '' } },
  { name: 'Execute unnamed, no limit', dump: '45 00000009 00 00000000', expected: { type: 'Execute', portal: '', maxRows: 0 } },
  { name: 'Execute with a row limit', dump: `45 0000000b 'c1' 00 00000064`, expected: { type: 'Execute', portal: 'c1', maxRows: 100 } },
  { name: 'Close portal', dump: `43 00000008 50 'c1' 00`, expected: { type: 'Close', kind: 'P', name: 'c1' } },
  { name: 'Close statement', dump: `43 00000008 53 's1' 00`, expected: { type: 'Close', kind: 'S', name: 's1' } },
  { name: 'Sync', dump: '53 00000004', expected: { type: 'Sync' } },
  { name: 'Flush', dump: '48 00000004', expected: { type: 'Flush' } },
  { name: 'Terminate', dump: '58 00000004', expected: { type: 'Terminate' } },
  { name: 'CopyData', dump: '64 00000009 31 09 61 62 0a', expected: { type: 'CopyData', data: b('1\tab\n') } },
  { name: 'CopyDone', dump: '63 00000004', expected: { type: 'CopyDone' } },
  { name: 'CopyFail', dump: `66 0000000e 'disk full' 00`, expected: { type: 'CopyFail', message: 'disk full' } },
  {
    name: 'FunctionCall',
    dump: `46 00000018 00000517 0001 0001 0001 00000004 00000001 0001`,
    expected: { type: 'FunctionCall', functionOid: 1303, argFormats: [1], args: [hex('00000001')], resultFormat: 1 },
  },
  {
    name: 'FunctionCall with a NULL argument',
    dump: `46 00000012 00000517 0000 0001 ffffffff 0000`,
    expected: { type: 'FunctionCall', functionOid: 1303, argFormats: [], args: [null], resultFormat: 0 },
  },
  {
    name: "PasswordMessage ('p')",
    dump: `70 0000000c 'secret1' 00`,
    expected: { type: 'AuthenticationResponse', data: hex(`'secret1' 00`) },
  },
]

t.test('startup packets decode from hex', async (t) => {
  for (const { name, dump, expected } of startupCases) {
    const bytes = hex(dump)
    const messages = parseAll([bytes])
    t.equal(messages.length, 1, `${name}: one message`)
    t.match(messages[0], expected, name)
    t.same(messages[0]?.raw, bytes, `${name}: raw is the packet`)
  }
})

t.test('regular messages decode from hex', async (t) => {
  for (const { name, dump, expected } of regularCases) {
    const bytes = hex(dump)
    const messages = parseAll([bytes], { phase: 'regular' })
    t.equal(messages.length, 1, `${name}: one message`)
    t.match(messages[0], expected, name)
    t.same(messages[0]?.raw, bytes, `${name}: raw is the message`)
  }
})

t.test('Bind values and arrays compare exactly', async (t) => {
  const [bind] = parseAll([hex(regularCases.find((c) => c.name.startsWith('Bind:'))!.dump)], { phase: 'regular' })
  t.same(bind, { ...regularCases.find((c) => c.name.startsWith('Bind:'))!.expected, raw: bind?.raw })
})

t.test("'p' bodies decode with the helper for the auth phase", async (t) => {
  const [password] = parseAll([hex(`70 0000000c 'secret1' 00`)], { phase: 'regular' })
  t.equal(password?.type === 'AuthenticationResponse' && parsePasswordMessage(password.data), 'secret1')

  const initial = hex(`70 00000024 'SCRAM-SHA-256' 00 0000000e 'n,,n=,r=abcdef'`)
  const [sasl] = parseAll([initial], { phase: 'regular' })
  t.ok(sasl?.type === 'AuthenticationResponse')
  if (sasl?.type !== 'AuthenticationResponse') return
  t.same(parseSaslInitialResponse(sasl.data), { mechanism: 'SCRAM-SHA-256', data: b('n,,n=,r=abcdef') })

  t.same(parseSaslInitialResponse(hex(`'SCRAM-SHA-256' 00 ffffffff`)), { mechanism: 'SCRAM-SHA-256', data: null })
  t.throws(() => parseSaslInitialResponse(hex(`'SCRAM-SHA-256' 00 fffffffe`)), /invalid response length \(-2\)/)
  t.throws(() => parseSaslInitialResponse(hex(`'SCRAM-SHA-256' 00 00000002 'abc'`)), /1 unexpected bytes/)
  t.throws(() => parseSaslInitialResponse(hex(`'SCRAM-SHA-256'`)), /unterminated string in SASLInitialResponse/)
  t.throws(() => parsePasswordMessage(hex(`'pw' 00 'x'`)), /password message has 1 unexpected bytes/)
})

// A session as a client sends it: encryption refused, startup, an extended-protocol round, a simple query with COPY.
const stream = [
  '00000008 04d2162f',
  `00000022 00030000 'user' 00 'alice' 00 'database' 00 'shop' 00 00`,
  `70 0000000c 'secret1' 00`,
  `50 0000001c 's1' 00 'SELECT $1::int' 00 0001 00000017`,
  `42 00000022 00 's1' 00 0001 0001 0003 00000004 0000002a ffffffff 00000000 0001 0000`,
  '44 00000006 50 00',
  '45 00000009 00 00000000',
  '53 00000004',
  `51 00000024 'COPY t FROM STDIN (FORMAT text)' 00`,
  '64 00000009 31 09 61 62 0a',
  '64 00000009 32 09 63 64 0a',
  '63 00000004',
  '58 00000004',
].map(hex)
const streamBytes = Buffer.concat(stream)
const reference = parseAll([streamBytes])

t.test('a whole session in one chunk', async (t) => {
  t.same(
    reference.map((m) => m.type),
    [
      'SSLRequest',
      'StartupMessage',
      'AuthenticationResponse',
      'Parse',
      'Bind',
      'Describe',
      'Execute',
      'Sync',
      'Query',
      'CopyData',
      'CopyData',
      'CopyDone',
      'Terminate',
    ],
  )
  reference.forEach((message, i) => t.same(message.raw, stream[i], `raw bytes of ${message.type} #${i}`))
  t.ok(
    reference.every((m) => m.raw.buffer === streamBytes.buffer),
    'every message inside the chunk is a view of it, not a copy',
  )
})

t.test('split at every byte position, the messages are the same', async (t) => {
  for (let at = 0; at <= streamBytes.length; at++) {
    const messages = parseAll([streamBytes.subarray(0, at), streamBytes.subarray(at)])
    if (!t.same(messages, reference, `split at ${at}`)) break
  }
})

t.test('one byte at a time', async (t) => {
  const chunks = Array.from({ length: streamBytes.length }, (_, i) => streamBytes.subarray(i, i + 1))
  t.same(parseAll(chunks), reference)
})

t.test('any partition into chunks gives the same messages', async (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: streamBytes.length - 1 }), { maxLength: 30 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), streamBytes.length]
      const chunks = points.slice(1).map((end, i) => streamBytes.subarray(points[i], end))
      t.same(parseAll(chunks), reference)
    }),
    { numRuns: 300 },
  )
})

t.test('chunks pushed before reading queue up in order', async (t) => {
  const parser = new FrontendParser()
  for (let at = 0; at < streamBytes.length; at += 7) parser.push(streamBytes.subarray(at, at + 7))
  parser.push(Buffer.alloc(0))
  t.equal(parser.pendingBytes, streamBytes.length)
  const messages: FrontendMessage[] = []
  for (let message = parser.read(); message; message = parser.read()) messages.push(message)
  t.same(messages, reference)
  t.equal(parser.pendingBytes, 0)
  t.equal(parser.read(), undefined, 'and then nothing')
})

t.test('a large CopyData split into many chunks is assembled once', async (t) => {
  const payload = Buffer.alloc(300_000, 0x61)
  const message = Buffer.concat([hex('64'), Buffer.from([0, 0x04, 0x93, 0xe4]), payload]) // 4 + 300000 = 0x000493e4
  const chunks: Buffer[] = []
  for (let at = 0; at < message.length; at += 1000) chunks.push(message.subarray(at, at + 1000))
  const [copy] = parseAll(chunks, { phase: 'regular' })
  t.equal(copy?.type, 'CopyData')
  t.ok(copy?.type === 'CopyData' && copy.data.equals(payload))
  t.same(copy?.raw, message)
})

t.test('phases: startup, then typed messages, and back after declining encryption', async (t) => {
  const parser = new FrontendParser()
  t.equal(parser.phase, 'startup')
  parser.push(hex('00000008 04d2162f'))
  t.equal(parser.read()?.type, 'SSLRequest')
  t.equal(parser.phase, 'startup', 'still expecting a startup packet after SSLRequest')
  parser.expectStartup()
  parser.push(stream[1]!)
  t.equal(parser.read()?.type, 'StartupMessage')
  t.equal(parser.phase, 'regular')
  parser.push(hex('51'))
  t.throws(() => parser.expectStartup(), /still buffered/, 'not while typed bytes are buffered')
  const fresh = new FrontendParser({ phase: 'regular' })
  fresh.expectStartup()
  t.equal(fresh.phase, 'startup')
  fresh.push(stream[0]!)
  t.equal(fresh.read()?.type, 'SSLRequest')
})

t.test('pendingBytes shows data sent ahead of the TLS handshake (CVE-2021-23214)', async (t) => {
  const parser = new FrontendParser()
  parser.push(Buffer.concat([stream[0]!, stream[1]!.subarray(0, 10)]))
  t.equal(parser.read()?.type, 'SSLRequest')
  t.equal(parser.pendingBytes, 10, 'the session must refuse TLS: these bytes were not encrypted')
  t.equal(parser.read(), undefined)
  t.equal(parser.pendingBytes, 10, 'bytes of a half-received message count too')
})

const malformed: {
  name: string
  dump: string
  phase: 'startup' | 'regular'
  error: RegExp
  sqlState?: string
  options?: FrontendParserOptions
}[] = [
  {
    name: 'length 3',
    phase: 'regular',
    dump: '51 00000003',
    error: /invalid length 3 in the header of a Query message: the length counts its own 4 bytes/,
  },
  { name: 'negative length', phase: 'regular', dump: '50 ffffffff', error: /invalid length -1 in the header of a Parse message/ },
  {
    name: 'length over the configured maximum',
    phase: 'regular',
    dump: '51 00000401',
    options: { maxMessageLength: 1024 },
    error: /Query message of 1025 bytes exceeds the limit of 1024 bytes/,
  },
  {
    name: 'default maximum is 64 MiB',
    phase: 'regular',
    dump: '64 04000001',
    error: /CopyData message of 67108865 bytes exceeds the limit of 67108864/,
  },
  {
    name: 'small message over 10000',
    phase: 'regular',
    dump: '53 00002711',
    error: /Sync message of 10001 bytes exceeds the limit of 10000/,
  },
  {
    name: 'auth message over 65535',
    phase: 'regular',
    dump: '70 00010000',
    error: /AuthenticationResponse message of 65536 bytes exceeds the limit of 65535/,
  },
  { name: 'unknown type', phase: 'regular', dump: '7a 00000004', error: /invalid frontend message type 'z' \(0x7a\)/ },
  { name: 'unknown unprintable type', phase: 'regular', dump: '00 00000008 04d2162f', error: /invalid frontend message type 0x00$/ },
  { name: 'truncated cstring', phase: 'regular', dump: `51 00000008 'abcd'`, error: /unterminated string in Query message/ },
  { name: 'truncated cstring in Parse', phase: 'regular', dump: `50 00000009 's1' 00 'SE'`, error: /unterminated string in Parse message/ },
  {
    name: 'Bind parameter length -2',
    phase: 'regular',
    dump: '42 00000010 00 00 0000 0001 fffffffe 0000',
    error: /Bind message has a value of length -2; only -1 \(NULL\) may be negative/,
  },
  {
    name: 'Bind parameter longer than the message',
    phase: 'regular',
    dump: `42 00000012 00 00 0000 0001 00000010 'ab' 0000`,
    error: /Bind message is too short: it needs 16 more bytes at body offset 10 but has 4/,
  },
  {
    name: 'Describe subtype',
    phase: 'regular',
    dump: '44 00000006 58 00',
    error: /invalid Describe message subtype 'X' \(0x58\): expected 'S'/,
  },
  { name: 'Close subtype', phase: 'regular', dump: '43 00000006 00 00', error: /invalid Close message subtype 0x00/ },
  { name: 'Sync with a body', phase: 'regular', dump: '53 00000005 00', error: /Sync message has 1 unexpected bytes after its last field/ },
  { name: 'Execute without row count', phase: 'regular', dump: '45 00000005 00', error: /Execute message is too short/ },
  {
    name: 'protocol 2.0',
    phase: 'startup',
    dump: `00000010 00020000 'user' 00 'x' 00 00`,
    error: /unsupported frontend protocol 2\.0: Grey speaks protocol 3\.0/,
    sqlState: '0A000',
  },
  { name: 'protocol 4.0', phase: 'startup', dump: `00000009 00040000 00`, error: /unsupported frontend protocol 4\.0/, sqlState: '0A000' },
  { name: 'request code 1234.5677', phase: 'startup', dump: '00000008 04d2162d', error: /unknown startup request code 1234\.5677/ },
  {
    name: 'CancelRequest without a key',
    phase: 'startup',
    dump: '0000000c 04d2162e 00000001',
    error: /invalid length of CancelRequest packet: 12 bytes/,
  },
  {
    name: 'CancelRequest key of 257 bytes',
    phase: 'startup',
    dump: `0000010d 04d2162e 00000001 ${'00'.repeat(257)}`,
    error: /invalid length of CancelRequest packet: 269 bytes/,
  },
  {
    name: 'SSLRequest of 12 bytes',
    phase: 'startup',
    dump: '0000000c 04d2162f 00000000',
    error: /invalid length of SSLRequest packet: 12 bytes instead of 8/,
  },
  {
    name: 'GSSENCRequest of 12 bytes',
    phase: 'startup',
    dump: '0000000c 04d21630 00000000',
    error: /invalid length of GSSENCRequest packet/,
  },
  {
    name: 'startup length 4',
    phase: 'startup',
    dump: '00000004',
    error: /invalid length of startup packet: 4 \(a startup packet is 8 to 10004 bytes long\)\.$/,
  },
  { name: 'startup length 10005', phase: 'startup', dump: '00002715', error: /invalid length of startup packet: 10005/ },
  { name: 'startup negative length', phase: 'startup', dump: 'ffffff00', error: /invalid length of startup packet: -256/ },
  {
    name: 'direct TLS',
    phase: 'startup',
    dump: '16030100 c4010000',
    error: /TLS handshake: the client skipped SSLRequest \(sslnegotiation=direct\)/,
  },
  {
    name: 'startup without terminator',
    phase: 'startup',
    dump: `0000000e 00030000 'user' 00 'a'`,
    error: /expected a zero byte as terminator/,
  },
  { name: 'startup with no parameters at all', phase: 'startup', dump: '00000008 00030000', error: /expected a zero byte as terminator/ },
  {
    name: 'startup name without value',
    phase: 'startup',
    dump: `0000000e 00030000 'user' 00 00`,
    error: /unterminated string in StartupMessage/,
  },
  {
    name: 'startup bytes after the terminator',
    phase: 'startup',
    dump: `0000000f 00030000 00 'user' 00 00`,
    error: /StartupMessage has 6 unexpected bytes/,
  },
]

t.test('malformed input is a ProtocolError with a SQLSTATE and a sentence', async (t) => {
  for (const { name, dump, phase, error, sqlState, options } of malformed) {
    const caught = parseError([hex(dump)], { phase, ...options })
    t.match(caught.message, error, name)
    t.equal(caught.sqlState, sqlState ?? '08P01', `${name}: SQLSTATE`)
    t.equal(caught.name, 'ProtocolError')
  }
})

t.test('malformed input fails the same when it arrives byte by byte', async (t) => {
  for (const { name, dump, phase, error, options } of malformed) {
    const bytes = hex(dump)
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))
    t.match(parseError(chunks, { phase, ...options }).message, error, name)
  }
})

t.test('a bad type byte fails at once, without waiting for a length', async (t) => {
  const parser = new FrontendParser({ phase: 'regular' })
  parser.push(hex('47'))
  t.throws(() => parser.read(), /invalid frontend message type 'G'/)
})

t.test('after an error the parser stays failed', async (t) => {
  const parser = new FrontendParser({ phase: 'regular' })
  parser.push(hex('51 00000002 53 00000004'))
  const first = t.throws(() => parser.read())
  parser.push(hex('53 00000004'))
  t.equal(parser.pendingBytes, 0, 'buffered and later bytes are dropped')
  t.throws(() => parser.read(), first as Error, 'the same error again')
})

t.test('limits and options', async (t) => {
  t.equal(DEFAULT_MAX_MESSAGE_LENGTH, 64 * 1024 * 1024)
  t.equal(MAX_STARTUP_PACKET_LENGTH, 10_000)
  t.equal(SMALL_MESSAGE_LIMIT, 10_000)
  t.equal(AUTH_MESSAGE_LIMIT, 65_535)
  t.throws(() => new FrontendParser({ maxMessageLength: 3 }), RangeError)
  t.throws(() => new FrontendParser({ maxMessageLength: 2 ** 31 }), RangeError)
  t.throws(() => new FrontendParser({ maxMessageLength: 1.5 }), RangeError)
  const tiny = parseError([hex(`50 00000011 00 'SELECT 1' 00 0000`)], { phase: 'regular', maxMessageLength: 16 })
  t.match(tiny.message, /Parse message of 17 bytes exceeds the limit of 16/)
  const capped = parseError([hex('53 00000009')], { phase: 'regular', maxMessageLength: 8 })
  t.match(capped.message, /Sync message of 9 bytes exceeds the limit of 8/, 'the configured cap also lowers the small limits')
  t.equal(
    parseAll([hex(`00002714 00030000 'user' 00 ${'61'.repeat(9989)} 00 00`)])[0]?.type,
    'StartupMessage',
    'a startup packet of exactly 10004 bytes',
  )
})

t.test('random bytes in any phase give messages or a ProtocolError, never another exception', async (t) => {
  let protocolErrors = 0
  fc.assert(
    fc.property(
      fc.constantFrom<'startup' | 'regular'>('startup', 'regular'),
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { minLength: 1, maxLength: 6 }),
      (phase, chunks) => {
        const parser = new FrontendParser({ phase, maxMessageLength: 4096 })
        try {
          for (const chunk of chunks) {
            parser.push(Buffer.from(chunk))
            while (parser.read());
          }
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err
          protocolErrors++
        }
      },
    ),
    { numRuns: 5000 },
  )
  t.ok(protocolErrors > 1000, `most random input is refused as a protocol error (${protocolErrors} of 5000)`)
})
