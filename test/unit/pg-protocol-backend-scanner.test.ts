import t from 'tap'
import { hex } from '../fixtures/hex-dump.js'
import {
  BackendScanner,
  DEFAULT_MAX_FRAME_LENGTH,
  DEFAULT_STREAM_THRESHOLD,
  authenticationRequestType,
  commandCompleteTag,
  dataRowFirstColumn,
  FrameAssembler,
  parseAuthenticationRequest,
  parseBackendKeyData,
  parseNoticeFields,
  parseParameterStatus,
  readyForQueryStatus,
  type BackendFrame,
  type BackendScannerOptions,
} from '../../src/pg/protocol/backend-scanner.js'
import { AuthenticationCode, BackendMessageType } from '../../src/pg/protocol/backend-message-type.js'
import { ProtocolError } from '../../src/pg/protocol/protocol-error.js'
import * as msg from '../../src/pg/protocol/backend-serializer.js'

/** Snapshots of every frame or piece the scanner returns (it reuses one object). */
function scan(chunks: Buffer[], options?: BackendScannerOptions): BackendFrame[] {
  const scanner = new BackendScanner(options)
  const frames: BackendFrame[] = []
  for (const chunk of chunks) {
    scanner.push(chunk)
    for (let frame = scanner.next(); frame !== undefined; frame = scanner.next()) frames.push({ ...frame })
  }
  return frames
}

/** Whole frames as (type, bytes), gluing streamed pieces back together. */
function wholeFrames(pieces: BackendFrame[]): { type: number; bytes: Buffer }[] {
  const frames: { type: number; bytes: Buffer }[] = []
  let current: Buffer[] = []
  for (const piece of pieces) {
    if (piece.head) current = []
    current.push(piece.buffer.subarray(piece.offset, piece.offset + piece.length))
    if (piece.tail) {
      const bytes = Buffer.concat(current)
      if (bytes.length !== piece.frameLength) throw new Error('pieces do not add up to the frame')
      frames.push({ type: piece.type, bytes })
    }
  }
  return frames
}

function frameOf(dump: string): BackendFrame {
  const [frame] = scan([hex(dump)])
  if (frame === undefined) throw new Error(`no frame in ${dump}`)
  return frame
}

const small = hex(`
  31 00000004                       # ParseComplete
  32 00000004                       # BindComplete
  44 0000000b 0001 00000001 '1'     # DataRow
  43 0000000d 'SELECT 1' 00         # CommandComplete
  5a 00000005 'I'                   # ReadyForQuery`)

t.test('many frames in one chunk are views of it, without copies', async (t) => {
  const frames = scan([small])
  t.same(
    frames.map(({ type, offset, length, head, tail }) => ({ type: String.fromCharCode(type), offset, length, head, tail })),
    [
      { type: '1', offset: 0, length: 5, head: true, tail: true },
      { type: '2', offset: 5, length: 5, head: true, tail: true },
      { type: 'D', offset: 10, length: 12, head: true, tail: true },
      { type: 'C', offset: 22, length: 14, head: true, tail: true },
      { type: 'Z', offset: 36, length: 6, head: true, tail: true },
    ],
  )
  t.ok(
    frames.every((f) => f.buffer === small),
    'every frame points into the chunk',
  )
  t.ok(
    frames.every((f) => f.frameLength === f.length),
    'whole frames',
  )
})

t.test('next() returns one reused frame object', async (t) => {
  const scanner = new BackendScanner()
  scanner.push(small)
  const first = scanner.next()
  const second = scanner.next()
  t.equal(first, second)
  t.equal(second?.type, BackendMessageType.BindComplete)
})

const stream = Buffer.concat([
  small,
  hex(`45 00000019 'S' 'ERROR' 00 'C' '42P01' 00 'M' 'no t' 00 00`),
  hex(`4e 0000000c 'M' 'hello' 00 00`), // a NoticeResponse with only M, which PostgreSQL never sends but must be scanned
  Buffer.concat([hex('44 00030d4a 0001 00030d40'), Buffer.alloc(200_000, 0x78)]), // a 200 kB DataRow
  small,
])
const reference = wholeFrames(scan([stream]))

t.test('split at every byte position, the frames are the same', async (t) => {
  t.equal(reference.length, 13)
  const head = stream.subarray(0, 200)
  for (let at = 0; at <= head.length; at++) {
    const pieces = scan([stream.subarray(0, at), stream.subarray(at)])
    if (!t.same(wholeFrames(pieces), reference, `split at ${at}`)) break
  }
  for (let at = stream.length - 120; at <= stream.length; at++) {
    const pieces = scan([stream.subarray(0, at), stream.subarray(at)])
    if (!t.same(wholeFrames(pieces), reference, `split at ${at}`)) break
  }
})

t.test('one byte at a time', async (t) => {
  const bytes = Buffer.concat([small, small])
  const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))
  t.same(wholeFrames(scan(chunks)), wholeFrames(scan([bytes])))
})

t.test('a large DataRow that spans chunks is relayed in pieces', async (t) => {
  const chunks: Buffer[] = []
  for (let at = 0; at < stream.length; at += 16_384) chunks.push(stream.subarray(at, at + 16_384))
  const pieces = scan(chunks)
  const row = pieces.filter((p) => p.frameLength === 200_011)
  t.ok(row.length > 10, `${row.length} pieces`)
  t.ok(row[0]?.head && !row[0].tail, 'the first piece starts the frame')
  t.ok(row.at(-1)?.tail && !row.at(-1)?.head, 'the last piece ends it')
  t.ok(
    row.every((p) => chunks.includes(p.buffer)),
    'every piece is a view of a chunk: nothing was assembled',
  )
  t.same(wholeFrames(pieces), reference)
})

t.test('a streamed frame whose header is split', async (t) => {
  const row = Buffer.concat([hex('44 00030d4a 0001 00030d40'), Buffer.alloc(200_000, 0x78)])
  const pieces = scan([row.subarray(0, 3), row.subarray(3, 100_000), row.subarray(100_000)])
  t.same(
    pieces.map((p) => [p.length, p.head, p.tail]),
    [
      [5, true, false],
      [99_995, false, false],
      [100_011, false, true],
    ],
  )
  t.same(wholeFrames(pieces)[0]?.bytes, row)
})

t.test('streaming follows the threshold and the type', async (t) => {
  const row = Buffer.concat([hex('44 00030d4a 0001 00030d40'), Buffer.alloc(200_000, 0x78)])
  const halves = [row.subarray(0, 100_000), row.subarray(100_000)]
  t.equal(scan(halves, { streamThreshold: Infinity }).length, 1, 'Infinity: assembled into one frame')
  t.equal(scan(halves).length, 2, 'default threshold: two pieces')
  t.equal(scan([row]).length, 1, 'a frame inside one chunk is never cut')
  const copy = Buffer.concat([hex('64 00000068'), Buffer.alloc(100, 0x79)])
  t.equal(scan([copy.subarray(0, 50), copy.subarray(50)], { streamThreshold: 64 }).length, 2, 'CopyData streams too')
  const error = Buffer.concat([hex(`45 0000006b 'M'`), Buffer.alloc(100, 0x7a), hex('00 00')])
  const frames = scan([error.subarray(0, 50), error.subarray(50)], { streamThreshold: 64 })
  t.equal(frames.length, 1, 'an ErrorResponse is always assembled: the proxy reads it')
  t.match(parseNoticeFields(frames[0]!), { message: 'z'.repeat(100) })
})

t.test('chunks pushed before scanning queue up in order', async (t) => {
  const scanner = new BackendScanner()
  for (let at = 0; at < small.length; at += 4) scanner.push(small.subarray(at, at + 4))
  scanner.push(Buffer.alloc(0))
  const frames: number[] = []
  for (let frame = scanner.next(); frame !== undefined; frame = scanner.next()) frames.push(frame.type)
  t.same(frames, [0x31, 0x32, 0x44, 0x43, 0x5a])
  t.equal(scanner.next(), undefined)
})

const garbage: [string, string, RegExp, BackendScannerOptions?][] = [
  ['length 3', '5a 00000003', /backend sent a ReadyForQuery message with invalid length 3/],
  ['negative length', '44 80000000', /DataRow message with invalid length -2147483648/],
  ['over the cap', '44 00000065', /DataRow message of 101 bytes, over the limit of 100/, { maxFrameLength: 100 }],
  ['unknown type', '78 00000004', /unknown message type 0x78: the stream is out of step/],
  ['a NUL type byte', '00 00000004', /unknown message type 0x00/],
]

t.test('garbage from a backend is a ProtocolError', async (t) => {
  for (const [name, dump, error, options] of garbage) {
    const bytes = hex(dump)
    for (const chunks of [[bytes], Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))]) {
      const scanner = new BackendScanner(options)
      const thrown = t.throws(
        () => {
          for (const chunk of chunks) {
            scanner.push(chunk)
            while (scanner.next() !== undefined);
          }
        },
        error,
        name,
      )
      t.ok(thrown instanceof ProtocolError && thrown.sqlState === '08P01', `${name}: 08P01`)
    }
  }
})

t.test('after garbage the scanner stays failed', async (t) => {
  const scanner = new BackendScanner()
  scanner.push(hex('78 00000004'))
  const first = t.throws(() => scanner.next())
  scanner.push(small)
  t.throws(() => scanner.next(), first as Error)
})

t.test('options', async (t) => {
  t.equal(DEFAULT_MAX_FRAME_LENGTH, 0x3fffffff)
  t.equal(DEFAULT_STREAM_THRESHOLD, 65536)
  t.throws(() => new BackendScanner({ maxFrameLength: 3 }), RangeError)
  t.throws(() => new BackendScanner({ maxFrameLength: 2 ** 31 }), RangeError)
  t.throws(() => new BackendScanner({ streamThreshold: 4 }), RangeError)
  t.throws(() => new BackendScanner({ streamThreshold: NaN }), RangeError)
})

t.test('ReadyForQuery status', async (t) => {
  t.equal(readyForQueryStatus(frameOf(`5a 00000005 'I'`)), 'I')
  t.equal(readyForQueryStatus(frameOf(`5a 00000005 'T'`)), 'T')
  t.equal(readyForQueryStatus(frameOf(`5a 00000005 'E'`)), 'E')
  t.throws(() => readyForQueryStatus(frameOf(`5a 00000005 'X'`)), /unknown transaction status 0x58/)
  t.throws(() => readyForQueryStatus(frameOf(`5a 00000006 'I' 00`)), /ReadyForQuery message has 1 unexpected bytes/)
  t.throws(() => readyForQueryStatus(frameOf(`5a 00000004`)), /ReadyForQuery message is too short/)
})

t.test('ErrorResponse and NoticeResponse fields', async (t) => {
  t.same(parseNoticeFields(frameOf(`45 00000025 'S' 'ERROR' 00 'V' 'ERROR' 00 'C' '40001' 00 'M' 'serialize' 00 00`)), {
    severity: 'ERROR',
    severityNonLocalized: 'ERROR',
    code: '40001',
    message: 'serialize',
  })
  t.same(parseNoticeFields(frameOf(`4e 00000010 'Z' 'future' 00 'M' 'm' 00 00`)), { message: 'm' }, 'unknown field codes are skipped')
  t.throws(() => parseNoticeFields(frameOf(`45 00000007 'M' 'ab'`)), /unterminated string in ErrorResponse\/NoticeResponse message/)
  t.throws(() => parseNoticeFields(frameOf(`45 00000007 'M' 'a' 00`)), /too short/, 'no final terminator')
})

t.test('CommandComplete, ParameterStatus, BackendKeyData', async (t) => {
  t.equal(commandCompleteTag(frameOf(`43 0000000f 'INSERT 0 1' 00`)), 'INSERT 0 1')
  t.throws(() => commandCompleteTag(frameOf(`43 00000008 'ab' 00 00`)), /1 unexpected bytes/)
  t.same(parseParameterStatus(frameOf(`53 00000016 'in_hot_standby' 00 'on' 00`)), { name: 'in_hot_standby', value: 'on' })
  t.throws(() => parseParameterStatus(frameOf(`53 00000009 'ab' 00 00 00`)), /ParameterStatus message has 1 unexpected bytes/)

  const keyFrame = frameOf('4b 0000000c 00003039 deadbeef')
  const key = parseBackendKeyData(keyFrame)
  t.same(key, { processId: 12345, secretKey: hex('deadbeef') })
  keyFrame.buffer.fill(0)
  t.same(key.secretKey, hex('deadbeef'), 'the key is a copy: it outlives the chunk')
  t.same(parseBackendKeyData(frameOf(`4b 00000028 00000007 ${'ab'.repeat(32)}`)).secretKey, Buffer.alloc(32, 0xab), 'a 3.2 key')
  t.throws(() => parseBackendKeyData(frameOf('4b 0000000a 00000007 abcd')), /secret key of 2 bytes; it must have 4 to 256/)
  t.throws(() => parseBackendKeyData(frameOf(`4b 00000109 00000007 ${'ab'.repeat(257)}`)), /secret key of 257 bytes/)
})

t.test('Authentication requests', async (t) => {
  const cases: [string, string, object][] = [
    ['Ok', '52 00000008 00000000', { type: 'Ok' }],
    ['CleartextPassword', '52 00000008 00000003', { type: 'CleartextPassword' }],
    ['MD5Password', '52 0000000c 00000005 01020304', { type: 'MD5Password', salt: hex('01020304') }],
    [
      'SASL',
      `52 0000002a 0000000a 'SCRAM-SHA-256-PLUS' 00 'SCRAM-SHA-256' 00 00`,
      { type: 'SASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
    ],
    ['SASLContinue', `52 0000000c 0000000b 'r=ab'`, { type: 'SASLContinue', data: Buffer.from('r=ab') }],
    ['SASLFinal', `52 0000000c 0000000c 'v=xy'`, { type: 'SASLFinal', data: Buffer.from('v=xy') }],
    ['GSS', '52 00000008 00000007', { type: 'Unsupported', code: AuthenticationCode.GSS }],
  ]
  for (const [name, dump, expected] of cases) t.same(parseAuthenticationRequest(frameOf(dump)), expected, name)
  t.equal(authenticationRequestType(frameOf(`52 00000017 0000000a 'SCRAM-SHA-256' 00 00`)), AuthenticationCode.SASL)
  t.throws(() => parseAuthenticationRequest(frameOf('52 0000000d 00000005 01020304 05')), /1 unexpected bytes/)
  t.throws(() => parseAuthenticationRequest(frameOf('52 0000000a 00000005 0102')), /too short/)
  t.throws(
    () => parseAuthenticationRequest(frameOf(`52 0000000f 0000000a 'SCRAM' 00 'x'`)),
    /unterminated string in Authentication message/,
  )
})

t.test('decoding the wrong frame is a programming error, not a ProtocolError', async (t) => {
  const complete = frameOf(`43 0000000d 'SELECT 1' 00`)
  const wrong = t.throws(() => readyForQueryStatus(complete), /cannot decode a CommandComplete frame as ReadyForQuery/)
  t.notOk(wrong instanceof ProtocolError)
  t.throws(() => parseNoticeFields({ ...complete, type: 0x7f }), /cannot decode a 127 frame as ErrorResponse/)
  t.throws(() => commandCompleteTag({ ...complete, tail: false }), /cannot decode a piece of a CommandComplete frame/)
  t.throws(() => commandCompleteTag({ ...complete, head: false }), /cannot decode a piece/)
})

t.test('FrameAssembler joins the pieces of a frame split over chunks; dataRowFirstColumn reads Grey’s one-column rows', async (t) => {
  const row = msg.dataRow(['0/3000060'])
  const whole = scan([row])
  const assembler = new FrameAssembler()
  t.equal(assembler.push(whole[0]!), whole[0], 'a whole frame passes through')
  const pieces = scan([row.subarray(0, 3), row.subarray(3, 9), row.subarray(9)], { streamThreshold: 5 })
  t.ok(pieces.length > 1, 'the scanner streamed it in pieces')
  const joined = pieces.map((p) => assembler.push(p))
  t.same(joined.slice(0, -1), Array(pieces.length - 1).fill(null), 'nothing until the last piece')
  t.equal(dataRowFirstColumn(joined.at(-1)!), '0/3000060')
  t.equal(dataRowFirstColumn(scan([msg.dataRow([null])])[0]!), null, 'SQL NULL')
  t.throws(() => dataRowFirstColumn(scan([msg.dataRow([])])[0]!), /no columns/)
})
