import t from 'tap'
import { hex } from '../fixtures/hex-dump.js'
import {
  CqlConsistency as Consistency,
  cqlConsistencyName as consistencyName,
  isCqlConsistency as isConsistency,
} from '../../src/routing/cql-consistency.js'
import { CqlBufferReader } from '../../src/cql/protocol/cql-buffer-reader.js'
import { CqlBufferWriter } from '../../src/cql/protocol/cql-buffer-writer.js'
import { CqlErrorCode } from '../../src/cql/protocol/cql-error-code.js'
import { CqlProtocolError } from '../../src/cql/protocol/cql-protocol-error.js'
import { MAX_TYPE_NESTING, NATIVE_TYPE_IDS, readCqlType, writeCqlType, type CqlType } from '../../src/cql/protocol/cql-type.js'
import { NOT_SET } from '../../src/cql/protocol/cql-value.js'
import { formatIpAddress, parseIpAddress } from '../../src/cql/protocol/inet-address.js'

t.test('CqlProtocolError carries a CQL error code, 0x000A unless told, and the stream', async (t) => {
  const error = new CqlProtocolError('bad frame', 7)
  t.ok(error instanceof Error)
  t.equal(error.name, 'CqlProtocolError')
  t.equal(error.code, CqlErrorCode.ProtocolError)
  t.equal(error.streamId, 7)
  t.equal(new CqlProtocolError('x').streamId, undefined)
  t.equal(new CqlProtocolError('too big', 1, CqlErrorCode.Invalid).code, 0x2200)
})

t.test('consistency levels', async (t) => {
  t.equal(Consistency.LOCAL_QUORUM, 6)
  t.equal(consistencyName(6), 'LOCAL_QUORUM')
  t.equal(consistencyName(10), 'LOCAL_ONE')
  t.equal(consistencyName(11), '0x000b')
  t.notOk(isConsistency(-1))
  t.notOk(isConsistency(1.5))
})

// Every notation of v4 spec §3, inside a body that has other bytes on both sides.
const NOTATIONS = hex(`
  ee                                      # not ours
  7f                                      # byte
  ffff                                    # [short] 65535
  fffffffe                                # [int] -2
  fffffffffffffffd                        # [long] -3
  0002 'ab'                               # [string]
  00000003 'é!'                           # [long string]
  00112233445566778899aabbccddeeff        # [uuid]
  0002 0001 'x' 0000                      # [string list]
  00000001 2a  ffffffff  ffffff00         # [bytes] ×3: one byte, null, null (any negative)
  0002 cafe                               # [short bytes]
  00000000  ffffffff  fffffffe            # [value] ×3: empty, null, not set
  04 0a000001 00002352                    # [inet] 10.0.0.1:9042
  10 fe800000000000000000000000000001 00000001 # [inet] [fe80::1]:1
  000a                                    # [consistency] LOCAL_ONE
  0002 0001 'k' 0001 'a' 0001 'k' 0001 'b' # [string map], a repeated key
  0001 0001 'm' 0002 0001 'x' 0001 'y'    # [string multimap]
  0001 0001 'p' ffffffff                  # [bytes map]
  ee                                      # not ours`)

t.test('CqlBufferReader reads every notation inside its bounds', async (t) => {
  const reader = new CqlBufferReader(NOTATIONS, 1, NOTATIONS.length - 1, 'Test message', 3)
  t.equal(reader.what, 'Test message')
  t.equal(reader.offset, 1)
  t.equal(reader.byte(), 0x7f)
  t.equal(reader.short(), 65535)
  t.equal(reader.int(), -2)
  t.equal(reader.long(), -3n)
  t.equal(reader.string(), 'ab')
  t.equal(reader.longString(), 'é!')
  t.same(reader.uuid(), hex('00112233445566778899aabbccddeeff'))
  t.same(reader.stringList(), ['x', ''])
  const one = reader.bytes()
  t.same(one, hex('2a'))
  t.equal(one?.buffer, NOTATIONS.buffer, 'a view, not a copy')
  t.equal(reader.bytes(), null)
  t.equal(reader.bytes(), null)
  t.same(reader.shortBytes(), hex('cafe'))
  t.same(reader.value(), Buffer.alloc(0))
  t.equal(reader.value(), null)
  t.equal(reader.value(), NOT_SET)
  t.same(reader.inet(), { address: '10.0.0.1', port: 9042 })
  t.same(reader.inet(), { address: 'fe80::1', port: 1 })
  t.equal(reader.consistency(), Consistency.LOCAL_ONE)
  t.same(reader.stringMap(), new Map([['k', 'b']]))
  t.same(reader.stringMultimap(), new Map([['m', ['x', 'y']]]))
  t.same(reader.bytesMap(), new Map([['p', null]]))
  t.equal(reader.remaining, 0)
  reader.expectEnd()
})

t.test('CqlBufferReader errors name the message, the problem and the stream', async (t) => {
  const reader = (dump: string) => new CqlBufferReader(hex(dump), 0, hex(dump).length, 'QUERY message', 9)
  const error = t.throws(() => reader('0000').int()) as CqlProtocolError
  t.equal(error.message, 'QUERY message is too short: it needs 4 more bytes at body offset 0 but has 2')
  t.equal(error.streamId, 9)
  t.throws(() => reader('0003 6162').string(), /needs 3 more bytes at body offset 2 but has 2/)
  t.throws(() => reader('ffffff00').longString(), /QUERY message has a \[long string\] of negative length -256/)
  t.throws(() => reader('0001 ff').string(), /QUERY message has a string that is not valid UTF-8 at body offset 2/)
  t.throws(() => reader('fffffffd').value(), /\[value\] of length -3/)
  t.throws(() => reader('00 00000000').inet(), /\[inet\] address of 0 bytes/)
  t.throws(() => reader('ffff').consistency(), /unknown consistency level 0xffff/)
  t.throws(() => reader('00').expectEnd(), /QUERY message has 1 unexpected bytes after its last field/)
  const defaults = new CqlBufferReader()
  t.equal(defaults.remaining, 0)
  t.throws(() => defaults.byte(), /frame body is too short/)
  t.equal(defaults.reset(hex('0102'), 1, 2, 'x').byte(), 2, 'reset points at another body')
})

t.test('CqlBufferWriter writes every notation as the reader reads it', async (t) => {
  const writer = new CqlBufferWriter(4) // tiny, to make it grow
  writer
    .raw(hex('ee'))
    .byte(0x7f)
    .short(65535)
    .int(-2)
    .long(-3n)
    .string('ab')
    .longString('é!')
    .uuid(hex('00112233445566778899aabbccddeeff'))
    .stringList(['x', ''])
    .bytes(hex('2a'))
    .bytes(null)
    .int(-256)
    .shortBytes(hex('cafe'))
    .value(Buffer.alloc(0))
    .value(null)
    .value(NOT_SET)
    .inet({ address: '10.0.0.1', port: 9042 })
    .inet({ address: 'fe80::1', port: 1 })
    .consistency(Consistency.LOCAL_ONE)
    .short(2)
    .string('k')
    .string('a')
    .string('k')
    .string('b')
    .stringMultimap(new Map([['m', ['x', 'y']]]))
    .bytesMap(new Map([['p', null]]))
    .raw(hex('ee'))
  t.equal(writer.length, NOTATIONS.length)
  t.same(writer.toBuffer(), NOTATIONS)
  t.equal(writer.length, 0, 'toBuffer empties the writer')
  t.same(writer.stringMap(new Map([['k', 'v']])).toBuffer(), hex(`0001 0001 'k' 0001 'v'`))
})

t.test('CqlBufferWriter frames: a 9-byte header whose length is patched', async (t) => {
  const writer = new CqlBufferWriter()
  writer.startFrame(0x84, 0, -1, 0x0c).string('x').endFrame().startFrame(0x04, 0x02, 1, 0x05).endFrame()
  t.same(writer.toBuffer(), hex(`84 00 ffff 0c 00000003 0001 'x'   04 02 0001 05 00000000`), 'two frames in one flight')
  t.throws(() => writer.startFrame(4, 0, 0, 5).startFrame(4, 0, 0, 5), /previous frame was not ended/)
  t.throws(() => writer.toBuffer(), /a frame is still open/)
  writer.reset()
  t.throws(() => writer.endFrame(), /no frame was started/)
})

t.test('CqlBufferWriter refuses values that do not fit their notation', async (t) => {
  const writer = new CqlBufferWriter()
  t.throws(() => writer.string('x'.repeat(65536)), /a \[string\] holds at most 65535 bytes, not 65536/)
  t.throws(() => writer.shortBytes(Buffer.alloc(65536)), /\[short bytes\] hold at most 65535 bytes/)
  t.throws(() => writer.uuid(Buffer.alloc(15)), /a \[uuid\] is 16 bytes, not 15/)
  t.throws(() => writer.consistency(11), /11 is not a consistency level/)
  t.throws(() => writer.stringList(new Array<string>(65536).fill('')), /a \[string list\] holds at most 65535 entries/)
  t.throws(() => writer.short(-1), RangeError)
  t.throws(() => writer.int16(32768), RangeError)
  writer.reset()
  writer.raw(Buffer.alloc(100_000))
  t.equal(writer.toBuffer().length, 100_000, 'a large flight is written, and its scratch buffer dropped afterwards')
})

t.test('IP addresses in text and bytes', async (t) => {
  const cases: [string, string, string?][] = [
    ['127.0.0.1', '7f000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::', '20010db8000000000000000000000000'],
    ['2001:db8:0:1:0:0:0:1', '20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304', '::ffff:102:304'],
    ['FE80:0:0:0:1:2:3:4', 'fe800000000000000001000200030004', 'fe80::1:2:3:4'],
  ]
  for (const [text, bytes, canonical = text] of cases) {
    t.same(parseIpAddress(text), hex(bytes), `parse ${text}`)
    t.equal(formatIpAddress(hex(bytes)), canonical, `format ${bytes}`)
  }
  for (const bad of ['localhost', '1.2.3', 'fe80::1%eth0', '']) t.throws(() => parseIpAddress(bad), /not an IPv4 or IPv6 address/)
  t.throws(() => formatIpAddress(Buffer.alloc(5)), /an IP address has 4 or 16 bytes, not 5/)
})

const types: CqlType[] = [
  ...Object.keys(NATIVE_TYPE_IDS).map((kind) => ({ kind }) as CqlType),
  { kind: 'custom', className: 'org.apache.cassandra.db.marshal.DurationType' },
  { kind: 'list', element: { kind: 'int' } },
  { kind: 'set', element: { kind: 'varchar' } },
  { kind: 'map', key: { kind: 'varchar' }, value: { kind: 'list', element: { kind: 'blob' } } },
  { kind: 'udt', keyspace: 'ks', name: 'address', fields: [{ name: 'zip', type: { kind: 'int' } }] },
  { kind: 'tuple', elements: [{ kind: 'int' }, { kind: 'tuple', elements: [] }] },
]

t.test('column types round-trip as [option]', async (t) => {
  for (const type of types) {
    const writer = new CqlBufferWriter()
    writeCqlType(writer, type)
    const bytes = writer.toBuffer()
    const reader = new CqlBufferReader(bytes)
    t.same(readCqlType(reader), type, type.kind)
    t.equal(reader.remaining, 0)
  }
  const nativeIds = Object.values(NATIVE_TYPE_IDS)
  t.same(nativeIds, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15], 'v4 spec §4.2.5.2 ids')
})

t.test('column types: unknown ids and deep nesting are protocol errors', async (t) => {
  t.throws(
    () => readCqlType(new CqlBufferReader(hex('000a'), 0, 2, 'RESULT message')),
    /RESULT message has an unknown column type id 0x000a/,
  )
  const deep = hex('0022'.repeat(MAX_TYPE_NESTING) + '0009')
  t.throws(() => readCqlType(new CqlBufferReader(deep)), /nests column types more than 64 deep/)
  const fine = hex('0022'.repeat(MAX_TYPE_NESTING - 1) + '0009')
  t.equal(readCqlType(new CqlBufferReader(fine)).kind, 'set', `${MAX_TYPE_NESTING - 1} levels are fine`)
})
