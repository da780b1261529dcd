/** Scratch buffers that grew past this are dropped after use rather than kept for the life of the process. */
const RETAINED_CAPACITY = 64 * 1024

/**
 * A growable big-endian writer for protocol messages. `startMessage(code)` writes the type byte and a placeholder
 * length that `endMessage()` patches; several messages may be written back to back and taken as one flight with
 * `toBuffer()`, which copies out the bytes and keeps the scratch buffer for the next flight.
 */
export class BufferWriter {
  private buffer: Buffer
  private offset = 0
  private messageStart = -1

  constructor(private readonly initialCapacity = 256) {
    this.buffer = Buffer.allocUnsafe(initialCapacity)
  }

  /** Bytes written since the last `toBuffer()` or `reset()`. */
  get length(): number {
    return this.offset
  }

  int8(value: number): this {
    this.ensure(1)
    this.buffer.writeInt8(value, this.offset)
    this.offset += 1
    return this
  }

  byte(value: number): this {
    this.ensure(1)
    this.buffer[this.offset++] = value & 0xff
    return this
  }

  int16(value: number): this {
    this.ensure(2)
    this.buffer.writeInt16BE(value, this.offset)
    this.offset += 2
    return this
  }

  int32(value: number): this {
    this.ensure(4)
    this.buffer.writeInt32BE(value, this.offset)
    this.offset += 4
    return this
  }

  /** Object IDs are unsigned 32-bit. */
  uint32(value: number): this {
    this.ensure(4)
    this.buffer.writeUInt32BE(value, this.offset)
    this.offset += 4
    return this
  }

  /** UTF-8 bytes and a NUL terminator. A NUL inside would end the string early and shift every later field. */
  cstring(value: string): this {
    if (value.includes('\0')) throw new RangeError(`a protocol string cannot contain a NUL byte: ${JSON.stringify(value)}`)
    const length = Buffer.byteLength(value)
    this.ensure(length + 1)
    this.buffer.write(value, this.offset, 'utf8')
    this.offset += length
    this.buffer[this.offset++] = 0
    return this
  }

  /** UTF-8 bytes without a terminator. */
  string(value: string): this {
    const length = Buffer.byteLength(value)
    this.ensure(length)
    this.buffer.write(value, this.offset, 'utf8')
    this.offset += length
    return this
  }

  bytes(value: Uint8Array): this {
    this.ensure(value.length)
    this.buffer.set(value, this.offset)
    this.offset += value.length
    return this
  }

  /** Writes a placeholder Int32 and returns its position, for `patchInt32`. */
  reserveInt32(): number {
    this.ensure(4)
    const at = this.offset
    this.offset += 4
    return at
  }

  patchInt32(at: number, value: number): this {
    this.buffer.writeInt32BE(value, at)
    return this
  }

  /** Type byte plus a length placeholder; the length counts itself and the body, not the type byte. */
  startMessage(code: number): this {
    if (this.messageStart !== -1) throw new Error('BufferWriter.startMessage: the previous message was not ended')
    this.byte(code)
    this.messageStart = this.reserveInt32()
    return this
  }

  endMessage(): this {
    if (this.messageStart === -1) throw new Error('BufferWriter.endMessage: no message was started')
    this.patchInt32(this.messageStart, this.offset - this.messageStart)
    this.messageStart = -1
    return this
  }

  /** A copy of everything written, sized exactly; the writer is empty afterwards. */
  toBuffer(): Buffer {
    if (this.messageStart !== -1) throw new Error('BufferWriter.toBuffer: a message is still open')
    const out = Buffer.allocUnsafe(this.offset)
    this.buffer.copy(out, 0, 0, this.offset)
    this.reset()
    return out
  }

  reset(): void {
    this.offset = 0
    this.messageStart = -1
    if (this.buffer.length > RETAINED_CAPACITY) this.buffer = Buffer.allocUnsafe(this.initialCapacity)
  }

  private ensure(size: number): void {
    const needed = this.offset + size
    if (needed <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2))
    this.buffer.copy(grown, 0, 0, this.offset)
    this.buffer = grown
  }
}
