import { isCqlConsistency } from '../../routing/cql-consistency.js'
import { NOT_SET, type CqlValue } from './cql-value.js'
import { parseIpAddress, type InetAddress } from './inet-address.js'
import { FRAME_HEADER_LENGTH } from './frame-header.js'

/** Scratch buffers that grew past this are dropped after use rather than kept for the life of the process. */
const RETAINED_CAPACITY = 64 * 1024
const MAX_SHORT = 0xffff

/**
 * A growable big-endian writer for the notations of the v4 spec §3. `startFrame` writes a 9-byte header with a
 * placeholder length that `endFrame` patches; `toBuffer` copies out what was written and keeps the scratch buffer.
 * Values that do not fit their notation (a 70 000-byte [string], an unknown consistency) throw RangeError: they are
 * Grey's own bugs, not the peer's.
 */
export class CqlBufferWriter {
  private buffer: Buffer
  private offset = 0
  private frameStart = -1

  constructor(private readonly initialCapacity = 256) {
    this.buffer = Buffer.allocUnsafe(initialCapacity)
  }

  /** Bytes written since the last `toBuffer()` or `reset()`. */
  get length(): number {
    return this.offset
  }

  byte(value: number): this {
    this.ensure(1)
    this.buffer[this.offset++] = value & 0xff
    return this
  }

  /** [short]: unsigned 16 bits. */
  short(value: number): this {
    this.ensure(2)
    this.buffer.writeUInt16BE(value, this.offset)
    this.offset += 2
    return this
  }

  /** A signed 16-bit field: the stream id of a header. */
  int16(value: number): this {
    this.ensure(2)
    this.buffer.writeInt16BE(value, this.offset)
    this.offset += 2
    return this
  }

  /** [int]: signed 32 bits. */
  int(value: number): this {
    this.ensure(4)
    this.buffer.writeInt32BE(value, this.offset)
    this.offset += 4
    return this
  }

  /** [long]: signed 64 bits. */
  long(value: bigint): this {
    this.ensure(8)
    this.buffer.writeBigInt64BE(value, this.offset)
    this.offset += 8
    return this
  }

  /** [string]: at most 65 535 UTF-8 bytes. */
  string(value: string): this {
    const length = Buffer.byteLength(value)
    if (length > MAX_SHORT) throw new RangeError(`a [string] holds at most 65535 bytes, not ${length}`)
    this.short(length)
    return this.utf8(value, length)
  }

  /** [long string]. */
  longString(value: string): this {
    const length = Buffer.byteLength(value)
    this.int(length)
    return this.utf8(value, length)
  }

  /** [uuid]: exactly 16 bytes. */
  uuid(value: Uint8Array): this {
    if (value.length !== 16) throw new RangeError(`a [uuid] is 16 bytes, not ${value.length}`)
    return this.raw(value)
  }

  /** [string list]. */
  stringList(values: readonly string[]): this {
    this.count(values.length, '[string list]')
    for (const value of values) this.string(value)
    return this
  }

  /** [bytes]: null is length -1. */
  bytes(value: Uint8Array | null): this {
    if (value === null) return this.int(-1)
    return this.int(value.length).raw(value)
  }

  /** [short bytes]. */
  shortBytes(value: Uint8Array): this {
    if (value.length > MAX_SHORT) throw new RangeError(`[short bytes] hold at most 65535 bytes, not ${value.length}`)
    return this.short(value.length).raw(value)
  }

  /** [value]: null is -1, not set is -2. */
  value(value: CqlValue): this {
    if (value === NOT_SET) return this.int(-2)
    return this.bytes(value)
  }

  /** [inet]. */
  inet(value: InetAddress): this {
    const address = parseIpAddress(value.address)
    return this.byte(address.length).raw(address).int(value.port)
  }

  /** [consistency]. */
  consistency(code: number): this {
    if (!isCqlConsistency(code)) throw new RangeError(`${code} is not a consistency level (0 ANY to 10 LOCAL_ONE)`)
    return this.short(code)
  }

  /** [string map]. */
  stringMap(map: ReadonlyMap<string, string>): this {
    this.count(map.size, '[string map]')
    for (const [key, value] of map) this.string(key).string(value)
    return this
  }

  /** [string multimap]. */
  stringMultimap(map: ReadonlyMap<string, readonly string[]>): this {
    this.count(map.size, '[string multimap]')
    for (const [key, values] of map) this.string(key).stringList(values)
    return this
  }

  /** [bytes map]. */
  bytesMap(map: ReadonlyMap<string, Uint8Array | null>): this {
    this.count(map.size, '[bytes map]')
    for (const [key, value] of map) this.string(key).bytes(value)
    return this
  }

  /** Bytes as they are, without a length. */
  raw(value: Uint8Array): this {
    this.ensure(value.length)
    this.buffer.set(value, this.offset)
    this.offset += value.length
    return this
  }

  /** A 9-byte header whose length `endFrame` fills in. `versionByte` carries the direction bit (0x84 for a v4 response). */
  startFrame(versionByte: number, flags: number, stream: number, opcode: number): this {
    if (this.frameStart !== -1) throw new Error('CqlBufferWriter.startFrame: the previous frame was not ended')
    this.frameStart = this.offset
    this.byte(versionByte).byte(flags).int16(stream).byte(opcode)
    this.ensure(4)
    this.offset += 4
    return this
  }

  endFrame(): this {
    if (this.frameStart === -1) throw new Error('CqlBufferWriter.endFrame: no frame was started')
    const bodyStart = this.frameStart + FRAME_HEADER_LENGTH
    this.buffer.writeInt32BE(this.offset - bodyStart, bodyStart - 4)
    this.frameStart = -1
    return this
  }

  /** A copy of everything written, sized exactly; the writer is empty afterwards. */
  toBuffer(): Buffer {
    if (this.frameStart !== -1) throw new Error('CqlBufferWriter.toBuffer: a frame is still open')
    const out = Buffer.allocUnsafe(this.offset)
    this.buffer.copy(out, 0, 0, this.offset)
    this.reset()
    return out
  }

  reset(): void {
    this.offset = 0
    this.frameStart = -1
    if (this.buffer.length > RETAINED_CAPACITY) this.buffer = Buffer.allocUnsafe(this.initialCapacity)
  }

  private count(n: number, what: string): void {
    if (n > MAX_SHORT) throw new RangeError(`a ${what} holds at most 65535 entries, not ${n}`)
    this.short(n)
  }

  private utf8(value: string, length: number): this {
    this.ensure(length)
    this.buffer.write(value, this.offset, 'utf8')
    this.offset += length
    return this
  }

  private ensure(size: number): void {
    const needed = this.offset + size
    if (needed <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2))
    this.buffer.copy(grown, 0, 0, this.offset)
    this.buffer = grown
  }
}
