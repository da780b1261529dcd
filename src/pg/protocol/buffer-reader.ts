import { ProtocolError } from './protocol-error.js'

const EMPTY = Buffer.alloc(0)

/**
 * A cursor over one message body, `buffer[offset, end)`. Every read is bounds-checked against `end`, never against
 * the end of the buffer: a body shares its buffer with the messages around it. Errors name the message (`what`).
 */
export class BufferReader {
  private buffer: Buffer = EMPTY
  private start = 0
  private position = 0
  private end = 0
  private subject = 'message'

  constructor(buffer: Buffer = EMPTY, offset = 0, end = buffer.length, what = 'message') {
    this.reset(buffer, offset, end, what)
  }

  /** Points the cursor at another body, so that one reader serves every message of a connection. */
  reset(buffer: Buffer, offset: number, end: number, what: string): this {
    this.buffer = buffer
    this.start = offset
    this.position = offset
    this.end = end
    this.subject = what
    return this
  }

  /** What the body is, for error sentences: 'Bind message'. */
  get what(): string {
    return this.subject
  }

  get offset(): number {
    return this.position
  }

  get remaining(): number {
    return this.end - this.position
  }

  byte(): number {
    this.need(1)
    return this.buffer[this.position++]!
  }

  int8(): number {
    this.need(1)
    return this.buffer.readInt8(this.position++)
  }

  int16(): number {
    this.need(2)
    const value = this.buffer.readInt16BE(this.position)
    this.position += 2
    return value
  }

  /** PostgreSQL reads counts with `pq_getmsgint(msg, 2)`, which is unsigned: 0xffff is 65535 items, not -1. */
  uint16(): number {
    this.need(2)
    const value = this.buffer.readUInt16BE(this.position)
    this.position += 2
    return value
  }

  int32(): number {
    this.need(4)
    const value = this.buffer.readInt32BE(this.position)
    this.position += 4
    return value
  }

  /** Object IDs are unsigned 32-bit. */
  uint32(): number {
    this.need(4)
    const value = this.buffer.readUInt32BE(this.position)
    this.position += 4
    return value
  }

  /** A NUL-terminated UTF-8 string; the terminator must lie inside the body. */
  cstring(): string {
    const start = this.position
    const nul = this.buffer.indexOf(0, start)
    if (nul === -1 || nul >= this.end) throw new ProtocolError(`unterminated string in ${this.subject}`)
    this.position = nul + 1
    return this.buffer.toString('utf8', start, nul)
  }

  string(length: number): string {
    this.need(length)
    const start = this.position
    this.position += length
    return this.buffer.toString('utf8', start, this.position)
  }

  /** A view of the next `length` bytes, not a copy: it lives as long as the buffer it came from. */
  bytes(length: number): Buffer {
    this.need(length)
    const start = this.position
    this.position += length
    return this.buffer.subarray(start, this.position)
  }

  /** An Int32 length and that many bytes (a view), or null for length -1, as in Bind, DataRow and FunctionCall. */
  nullableBytes(): Buffer | null {
    const length = this.int32()
    if (length === -1) return null
    if (length < 0) throw new ProtocolError(`${this.subject} has a value of length ${length}; only -1 (NULL) may be negative`)
    return this.bytes(length)
  }

  /** The rest of the body, as a view. */
  rest(): Buffer {
    return this.bytes(this.remaining)
  }

  /** Every defined message has a known end; bytes past it mean the peer and we disagree about the format. */
  expectEnd(): void {
    if (this.position !== this.end) {
      throw new ProtocolError(`${this.subject} has ${this.end - this.position} unexpected bytes after its last field`)
    }
  }

  private need(length: number): void {
    if (length < 0) throw new ProtocolError(`${this.subject} declares a negative length (${length})`)
    if (length > this.end - this.position) {
      throw new ProtocolError(
        `${this.subject} is too short: it needs ${length} more bytes at body offset ${this.position - this.start} but has ${this.end - this.position}`,
      )
    }
  }
}
