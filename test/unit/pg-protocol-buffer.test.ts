import t from 'tap'
import { BufferReader } from '../../src/pg/protocol/buffer-reader.js'
import { BufferWriter } from '../../src/pg/protocol/buffer-writer.js'
import { FrameAccumulator } from '../../src/pg/protocol/frame-accumulator.js'
import { FEATURE_NOT_SUPPORTED, PROTOCOL_VIOLATION, ProtocolError } from '../../src/pg/protocol/protocol-error.js'

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex')

t.test('ProtocolError carries a SQLSTATE, 08P01 unless told', async (t) => {
  const error = new ProtocolError('invalid frontend message type 0x00')
  t.ok(error instanceof Error)
  t.equal(error.name, 'ProtocolError')
  t.equal(error.sqlState, '08P01')
  t.equal(PROTOCOL_VIOLATION, '08P01')
  t.equal(new ProtocolError('unsupported frontend protocol 2.0', FEATURE_NOT_SUPPORTED).sqlState, '0A000')
})

t.test('BufferReader reads big-endian fields inside its bounds', async (t) => {
  // Bytes before and after the body belong to other messages and must never be read.
  const buffer = hex(`ee  ff 80 ff fe ffff ffffffff ffffffff 'x' 61626300 6465 00000002 6667 ffffffff  ee`.replace(/'x'/, '78'))
  const reader = new BufferReader(buffer, 1, buffer.length - 1, 'Test message')
  t.equal(reader.what, 'Test message')
  t.equal(reader.offset, 1)
  t.equal(reader.remaining, buffer.length - 2)
  t.equal(reader.byte(), 0xff)
  t.equal(reader.int8(), -128)
  t.equal(reader.int16(), -2)
  t.equal(reader.uint16(), 65535)
  t.equal(reader.int32(), -1)
  t.equal(reader.uint32(), 4294967295)
  t.equal(reader.string(1), 'x')
  t.equal(reader.cstring(), 'abc')
  const view = reader.bytes(2)
  t.same(view, Buffer.from('de'))
  t.equal(view.buffer, buffer.buffer, 'bytes() is a view, not a copy')
  t.same(reader.nullableBytes(), Buffer.from('fg'))
  t.equal(reader.nullableBytes(), null)
  t.equal(reader.remaining, 0)
  reader.expectEnd()
  t.same(reader.rest(), Buffer.alloc(0))
})

t.test('BufferReader errors name the message and the problem', async (t) => {
  const reader = () => new BufferReader(hex('00 01 02'), 0, 2, 'Bind message')
  t.throws(() => reader().int32(), new ProtocolError('Bind message is too short: it needs 4 more bytes at body offset 0 but has 2'))
  const r = reader()
  r.int16()
  t.throws(() => r.byte(), /needs 1 more bytes at body offset 2 but has 0/)
  t.throws(
    () => new BufferReader(hex('61 62 00'), 0, 2, 'Query message').cstring(),
    /unterminated string in Query message/,
    'a NUL past the end does not count',
  )
  t.throws(() => new BufferReader(hex('61'), 0, 1, 'Query message').cstring(), /unterminated string in Query message/)
  t.throws(() => reader().bytes(-1), /Bind message declares a negative length \(-1\)/)
  t.throws(
    () => new BufferReader(hex('fffffffd'), 0, 4, 'DataRow message').nullableBytes(),
    /value of length -3; only -1 \(NULL\) may be negative/,
  )
  t.throws(() => reader().expectEnd(), /Bind message has 2 unexpected bytes after its last field/)
  const defaults = new BufferReader()
  t.equal(defaults.remaining, 0)
  t.throws(() => defaults.int8(), /message is too short/)
  t.equal(defaults.reset(hex('0102'), 1, 2, 'x').byte(), 2, 'reset points at another body')
})

t.test('BufferWriter writes, patches lengths and frames messages', async (t) => {
  const writer = new BufferWriter(4) // tiny, to make it grow
  writer.int8(-1).byte(0x1ff).int16(-2).int32(-3).uint32(4294967295).cstring('é').string('ab').bytes(hex('0102'))
  const at = writer.reserveInt32()
  writer.patchInt32(at, 0x01020304)
  t.equal(writer.length, 1 + 1 + 2 + 4 + 4 + 3 + 2 + 2 + 4)
  t.same(writer.toBuffer(), hex('ff ff fffe fffffffd ffffffff c3a900 6162 0102 01020304'))
  t.equal(writer.length, 0, 'toBuffer empties the writer')

  writer.startMessage(0x43).cstring('BEGIN').endMessage().startMessage(0x5a).byte(0x54).endMessage()
  t.same(writer.toBuffer(), hex('43 0000000a 424547494e00 5a 00000005 54'), 'two messages in one flight, lengths patched')
  t.same(writer.startMessage(0x49).endMessage().toBuffer(), hex('49 00000004'), 'an empty body has length 4')
})

t.test('BufferWriter refuses misuse', async (t) => {
  const writer = new BufferWriter()
  t.throws(() => writer.endMessage(), /no message was started/)
  writer.startMessage(0x51)
  t.throws(() => writer.startMessage(0x51), /previous message was not ended/)
  t.throws(() => writer.toBuffer(), /a message is still open/)
  writer.reset()
  t.throws(() => writer.cstring('a\0b'), RangeError)
  t.equal(writer.toBuffer().length, 0)
})

t.test('BufferWriter keeps a small scratch buffer and drops a big one', async (t) => {
  const writer = new BufferWriter(16)
  const big = Buffer.alloc(100_000, 1)
  t.same(writer.bytes(big).toBuffer(), big)
  t.same(writer.int16(1).toBuffer(), hex('0001'), 'usable again after dropping the big buffer')
})

t.test('FrameAccumulator collects a frame across chunks', async (t) => {
  const frame = Buffer.alloc(100_000)
  for (let i = 0; i < frame.length; i++) frame[i] = i & 0xff
  const accumulator = new FrameAccumulator()
  t.notOk(accumulator.active)
  accumulator.begin(5) // the header first
  t.ok(accumulator.active)
  t.equal(accumulator.append(frame, 0, 3), 3)
  t.notOk(accumulator.complete)
  t.equal(accumulator.append(frame, 3, 100), 2, 'takes only what it wants')
  t.ok(accumulator.complete)
  t.same(accumulator.bytes.subarray(0, 5), frame.subarray(0, 5), 'the header can be read in place')
  accumulator.expect(frame.length)
  for (let at = 5; at < frame.length; at += 777) accumulator.append(frame, at, Math.min(at + 777, frame.length))
  t.equal(accumulator.length, frame.length)
  t.ok(accumulator.complete)
  t.equal(accumulator.append(frame, 0, 10), 0, 'a full frame takes nothing more')
  const taken = accumulator.take()
  t.same(taken, frame)
  t.equal(taken.buffer.byteLength >= frame.length, true)
  t.notOk(accumulator.active, 'inactive after take')
  t.equal(accumulator.length, 0)
})

t.test('FrameAccumulator grows with what arrives, not with what is announced', async (t) => {
  const accumulator = new FrameAccumulator()
  accumulator.begin(64 * 1024 * 1024) // a peer announces 64 MiB …
  accumulator.append(Buffer.alloc(10), 0, 10) // … and sends 10 bytes
  t.ok(accumulator.bytes.length <= 16 * 1024, `holds ${accumulator.bytes.length} bytes, not 64 MiB`)
  accumulator.clear()
  t.notOk(accumulator.active)
})
