import t from 'tap'
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { hex } from '../fixtures/hex-dump.js'
import { CqlProtocolError } from '../../src/cql/protocol/cql-protocol-error.js'
import { decodeRequest } from '../../src/cql/protocol/decode-request.js'
import { encodeResponse } from '../../src/cql/protocol/encode-response.js'
import {
  CqlOpcode,
  decodeFrameHeader,
  encodeFrame,
  encodeFrameHeader,
  FrameFlag,
  opcodeName,
  restampStreamId,
} from '../../src/cql/protocol/frame-header.js'
import {
  DEFAULT_MAX_FRAME_BODY_BYTES,
  FrameSplitter,
  PROTOCOL_MAX_FRAME_BODY_BYTES,
  type FrameSplitterOptions,
  type SplitterOutput,
} from '../../src/cql/protocol/frame-splitter.js'
import { unsupportedVersionError } from '../../src/cql/protocol/unsupported-version-error.js'

const OPTIONS = hex('04 00 0001 05 00000000')
const QUERY = hex(`04 00 0002 07 00000012 00000001 'Q' 0001 09 0001 ffffffff ffffffff`)
const PREPARE = hex(`04 00 0003 09 00000005 00000001 'P'`)

/** Everything the splitter gives for `chunks`, pushed one after the other, reading after each. */
function split(chunks: Buffer[], options?: FrameSplitterOptions): SplitterOutput[] {
  const splitter = new FrameSplitter(options)
  const out: SplitterOutput[] = []
  for (const chunk of chunks) {
    splitter.push(chunk)
    for (let item = splitter.next(); item !== null; item = splitter.next()) out.push(item)
  }
  return out
}

function frames(chunks: Buffer[], options?: FrameSplitterOptions): Buffer[] {
  return split(chunks, options).map((item) => {
    if (item.type !== 'frame') throw new Error(`not a frame: ${item.type}`)
    return item.frame
  })
}

function splitError(chunks: Buffer[], options?: FrameSplitterOptions): CqlProtocolError {
  try {
    split(chunks, options)
  } catch (error) {
    if (error instanceof CqlProtocolError) return error
    throw error
  }
  throw new Error('no CqlProtocolError')
}

t.test('frames inside one chunk are views of it, with their header and body', async (t) => {
  const chunk = Buffer.concat([OPTIONS, QUERY])
  const splitter = new FrameSplitter()
  t.equal(splitter.version, undefined)
  splitter.push(chunk)
  const first = splitter.next()
  t.same(first, {
    type: 'frame',
    header: { version: 4, response: false, flags: 0, stream: 1, opcode: 5, bodyLength: 0 },
    frame: OPTIONS,
    body: Buffer.alloc(0),
  })
  t.equal(splitter.version, 4, 'the first frame fixes the version')
  const second = splitter.next()
  t.equal(second?.type === 'frame' && second.frame.buffer, chunk.buffer, 'no copy')
  t.same(second?.type === 'frame' && second.body, QUERY.subarray(9))
  t.equal(splitter.next(), null)
  t.equal(splitter.pendingBytes, 0)
  splitter.push(Buffer.alloc(0))
  t.equal(splitter.next(), null, 'an empty chunk changes nothing')
})

t.test('frames split anywhere across chunks come out whole and in order', async (t) => {
  const stream = Buffer.concat([OPTIONS, QUERY, PREPARE, QUERY])
  t.same(frames([...stream].map((byte) => Buffer.from([byte]))), [OPTIONS, QUERY, PREPARE, QUERY], 'one byte at a time')
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 8 }), (cuts) => {
      const points = [0, ...new Set(cuts)].sort((a, b) => a - b)
      const chunks = points.map((at, i) => stream.subarray(at, points[i + 1] ?? stream.length))
      return Buffer.concat(frames(chunks)).equals(stream) && frames(chunks).length === 4
    }),
    { numRuns: 200 },
  )
})

t.test('pendingBytes counts what is buffered', async (t) => {
  const splitter = new FrameSplitter()
  splitter.push(QUERY.subarray(0, 5))
  t.equal(splitter.next(), null)
  splitter.push(QUERY.subarray(5, 12))
  splitter.push(QUERY.subarray(12, 14))
  t.equal(splitter.pendingBytes, 14)
  t.equal(splitter.next(), null)
  t.equal(splitter.pendingBytes, 14)
})

const unsupported: { name: string; dump: string; version: number; stream: number }[] = [
  { name: 'v5', dump: '05 00 0001 01 00000000', version: 5, stream: 1 },
  { name: 'DSE v1', dump: '41 00 0102 01 00000000', version: 0x41, stream: 0x0102 },
  { name: 'DSE v2, the node driver’s first try', dump: '42 00 0000 01 00000000', version: 0x42, stream: 0 },
  { name: 'v2 (a 1-byte stream id)', dump: '02 00 07 01 00000000', version: 2, stream: 7 },
  { name: 'v1, stream -1', dump: '01 00 ff 01 00000000', version: 1, stream: -1 },
  { name: 'a v5 response', dump: '85 00 8000 02 00000000', version: 5, stream: -32768 },
  { name: 'not CQL at all (HTTP)', dump: `'GET / HTTP/1.1'`, version: 0x47, stream: 0x5420 },
]

for (const { name, dump, version, stream } of unsupported) {
  t.test(`an unsupported version, ${name}, is reported with its stream id`, async (t) => {
    t.same(split([hex(dump)]), [{ type: 'unsupported-version', version, stream }])
    const oneByteStream = version === 1 || version === 2
    t.same(split([hex(dump).subarray(0, oneByteStream ? 2 : 3)]), [], 'not before the stream id has arrived')
    t.same(
      split([...hex(dump)].map((byte) => Buffer.from([byte]))),
      [{ type: 'unsupported-version', version, stream }],
      'as soon as it has',
    )
  })
}

t.test('after an unsupported version the splitter is done', async (t) => {
  const splitter = new FrameSplitter()
  splitter.push(Buffer.concat([hex('05 00 0001 01 00000000'), OPTIONS]))
  t.same(splitter.next(), { type: 'unsupported-version', version: 5, stream: 1 })
  t.equal(splitter.next(), null)
  splitter.push(OPTIONS)
  t.equal(splitter.next(), null)
  t.equal(splitter.pendingBytes, 0)
})

t.test('the answer to an unsupported version', async (t) => {
  const frame = unsupportedVersionError(0x42, 0)
  t.same(frame, hex(`84 00 0000 00 00000032 0000000a 002c 'Invalid or unsupported protocol version (66)'`))
  t.same(unsupportedVersionError(5, -2).subarray(2, 4), hex('fffe'), 'on the client’s stream')
  t.same(unsupportedVersionError(2, 7).subarray(0, 1), hex('84'), 'a v4 response whatever the version asked for')
})

// The node driver starts at DSE v2 (0x42) unless told a version; the first answer's version byte tells it which to
// try next (connection.js startup → decreaseVersion). Grey must bring it down to v4 in one round trip.
t.test('cassandra-driver downgrades to v4 on our answer', async (t) => {
  const require = createRequire(import.meta.url)
  const Connection = require('cassandra-driver/lib/connection.js') as new (
    endpoint: string,
    version: number | null,
    options: object,
  ) => { protocolVersion: number; open(callback: (error?: Error) => void): void; close(callback?: () => void): void }
  const clientOptions = require('cassandra-driver/lib/client-options.js') as { extend(options: object): object }
  const versionsSeen: number[] = []
  const server = createServer((socket: Socket) => {
    const splitter = new FrameSplitter()
    socket.on('data', (chunk: Buffer) => {
      splitter.push(chunk)
      for (let item = splitter.next(); item !== null; item = splitter.next()) {
        if (item.type === 'unsupported-version') {
          versionsSeen.push(item.version)
          socket.end(unsupportedVersionError(item.version, item.stream))
        } else if (item.type === 'frame') {
          versionsSeen.push(item.header.version)
          t.equal(decodeRequest(item.header, item.body).type, 'STARTUP')
          socket.write(encodeResponse({ type: 'READY' }, item.header.stream))
        }
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const logs: string[] = []
  const options = clientOptions.extend({
    contactPoints: ['127.0.0.1'],
    logEmitter: (_event: string, level: string, _source: string, message: string) => logs.push(`${level}: ${message}`),
  })
  const connection = new Connection(`127.0.0.1:${port}`, null, options)
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  try {
    await new Promise<void>((resolve, reject) => connection.open((error) => (error ? reject(error) : resolve())))
    t.equal(connection.protocolVersion, 4)
    t.same(versionsSeen, [0x42, 4], 'one refused STARTUP, then v4')
    t.ok(
      logs.some((line) => line.includes('Protocol 0x42 not supported, using 0x4')),
      'the driver took the downgrade path',
    )
  } finally {
    await new Promise<void>((resolve) => connection.close(() => resolve()))
  }
})

const broken: { name: string; chunks: string[]; options?: FrameSplitterOptions; error: RegExp; stream: number }[] = [
  {
    name: 'a response from a client',
    chunks: ['84 00 0003 02 00000000'],
    error: /a client sent a frame with the response direction bit set \(version byte 0x84\)/,
    stream: 3,
  },
  {
    name: 'a request from a server',
    chunks: ['04 00 0003 05 00000000'],
    options: { direction: 'response' },
    error: /a server sent a frame without the response direction bit \(version byte 0x04\)/,
    stream: 3,
  },
  {
    name: 'a version change',
    chunks: ['04 00 0001 05 00000000', '03 00 0002 05 00000000'],
    error: /invalid message version: got 3 but previous messages on this connection had version 4/,
    stream: 2,
  },
  {
    name: 'the compression flag',
    chunks: ['04 01 0004 07 00000000'],
    error: /compression flag set, but no compression was negotiated/,
    stream: 4,
  },
  { name: 'a length beyond an [int]', chunks: ['04 00 0005 07 80000000'], error: /declares a body of 2147483648 bytes/, stream: 5 },
  { name: 'a broken header split across chunks', chunks: ['04 01 00', '06 07 00000000'], error: /compression flag set/, stream: 6 },
]

for (const { name, chunks, options, error, stream } of broken) {
  t.test(`refuses ${name}, for good`, async (t) => {
    const thrown = splitError(
      chunks.map((dump) => hex(dump)),
      options,
    )
    t.match(thrown.message, error)
    t.equal(thrown.code, 0x000a)
    t.equal(thrown.streamId, stream)
    const splitter = new FrameSplitter(options)
    for (const dump of chunks) splitter.push(hex(dump))
    t.throws(() => {
      while (splitter.next() !== null);
    }, error)
    splitter.push(OPTIONS)
    t.throws(() => splitter.next(), error, 'every later call throws the same error')
    t.equal(splitter.pendingBytes, 0)
  })
}

t.test('a frame over the size limit is skipped, and the next one read', async (t) => {
  const big = hex('04 00 0007 07 00000005 0102030405')
  const expected = [
    {
      type: 'frame-too-large',
      header: { version: 4, response: false, flags: 0, stream: 7, opcode: 7, bodyLength: 5 },
      maxBodyBytes: 4,
    },
    { type: 'frame', header: decodeFrameHeader(OPTIONS), frame: OPTIONS, body: Buffer.alloc(0) },
  ]
  const stream = Buffer.concat([big, OPTIONS])
  t.same(split([stream], { maxBodyBytes: 4 }), expected, 'in one chunk')
  t.same(
    split(
      [...stream].map((byte) => Buffer.from([byte])),
      { maxBodyBytes: 4 },
    ),
    expected,
    'one byte at a time',
  )
  t.same(split([stream.subarray(0, 11), stream.subarray(11)], { maxBodyBytes: 4 }), expected, 'header whole, body split')
  t.same(frames([big], { maxBodyBytes: 5 }), [big], 'the limit itself is allowed')
})

t.test('the size limit defaults to Cassandra’s 16 MiB and must be an [int]', async (t) => {
  t.equal(DEFAULT_MAX_FRAME_BODY_BYTES, 16 * 1024 * 1024)
  t.equal(PROTOCOL_MAX_FRAME_BODY_BYTES, 256 * 1024 * 1024)
  const header = Buffer.alloc(9)
  encodeFrameHeader({ version: 4, response: false, flags: 0, stream: 1, opcode: 7, bodyLength: DEFAULT_MAX_FRAME_BODY_BYTES + 1 }, header)
  t.equal(split([header])[0]?.type, 'frame-too-large')
  t.equal(split([header], { maxBodyBytes: PROTOCOL_MAX_FRAME_BODY_BYTES }).length, 0, 'a raised limit waits for the body')
  for (const bad of [-1, 1.5, 2 ** 31]) t.throws(() => new FrameSplitter({ maxBodyBytes: bad }), RangeError)
})

t.test('frame headers', async (t) => {
  const header = {
    version: 4,
    response: true,
    flags: FrameFlag.Warning | FrameFlag.Tracing,
    stream: -1,
    opcode: CqlOpcode.Event,
    bodyLength: 258,
  }
  const bytes = encodeFrameHeader(header)
  t.same(bytes, hex('84 0a ffff 0c 00000102'))
  t.same(decodeFrameHeader(bytes), header)
  t.same(decodeFrameHeader(Buffer.concat([hex('ee'), bytes]), 1), header, 'at an offset')
  t.throws(() => decodeFrameHeader(bytes.subarray(0, 8)), /a frame header is 9 bytes, but only 8 are there/)
  t.throws(() => decodeFrameHeader(bytes, 10), /but only 0 are there/)
  t.same(
    encodeFrame({ version: 3, response: false, flags: 0, stream: 5, opcode: CqlOpcode.Prepare }, hex(`00000001 'P'`)),
    hex(`03 00 0005 09 00000005 00000001 'P'`),
    'encodeFrame sets the length from the body',
  )
  t.equal(opcodeName(CqlOpcode.AuthSuccess), 'AUTH_SUCCESS')
  t.equal(opcodeName(0x04), 'opcode 0x04')
})

t.test('restampStreamId changes the 2 stream bytes and nothing else', async (t) => {
  const frame = Buffer.from(QUERY)
  t.equal(restampStreamId(frame, 0x1234), frame, 'in place')
  t.same(frame, Buffer.concat([hex('04 00 1234'), QUERY.subarray(4)]))
  restampStreamId(frame, -1)
  t.equal(decodeFrameHeader(frame).stream, -1)
  const two = Buffer.concat([OPTIONS, QUERY])
  restampStreamId(two, 9, OPTIONS.length)
  t.equal(decodeFrameHeader(two, OPTIONS.length).stream, 9, 'a frame at an offset')
  t.throws(() => restampStreamId(frame, 40000), RangeError)
})
