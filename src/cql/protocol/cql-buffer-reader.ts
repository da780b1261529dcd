import { isUtf8 } from 'node:buffer'
import { isCqlConsistency } from '../../routing/cql-consistency.js'
import { CqlProtocolError } from './cql-protocol-error.js'
import { NOT_SET, type CqlValue } from './cql-value.js'
import { formatIpAddress, type InetAddress } from './inet-address.js'

const EMPTY = Buffer.alloc(0)

/**
 * A cursor over one frame body, `buffer[offset, end)`, reading the notations of the v4 spec §3. Every read is
 * bounds-checked against `end`; a malformed body throws CqlProtocolError naming the message (`what`) and the stream.
 * Byte results (`bytes`, `shortBytes`, `value`, `raw`) are views into the buffer, not copies.
 */
export class CqlBufferReader {
  private buffer: Buffer = EMPTY
  private start = 0
  private position = 0
  private end = 0
  private subject = 'frame body'
  private stream: number | undefined = undefined

  constructor(buffer: Buffer = EMPTY, offset = 0, end = buffer.length, what = 'frame body', streamId?: number) {
    this.reset(buffer, offset, end, what, streamId)
  }

  /** Points the cursor at another body, so that one reader serves every frame of a connection. */
  reset(buffer: Buffer, offset: number, end: number, what: string, streamId?: number): this {
    this.buffer = buffer
    this.start = offset
    this.position = offset
    this.end = end
    this.subject = what
    this.stream = streamId
    return this
  }

  /** What the body is, for error sentences: 'QUERY message'. */
  get what(): string {
    return this.subject
  }

  /** Index of the next byte in the buffer. */
  get offset(): number {
    return this.position
  }

  get remaining(): number {
    return this.end - this.position
  }

  /** A CqlProtocolError about this body, on its stream. */
  error(problem: string): CqlProtocolError {
    return new CqlProtocolError(`${this.subject} ${problem}`, this.stream)
  }

  byte(): number {
    this.need(1)
    return this.buffer[this.position++]!
  }

  /** [short]: unsigned 16 bits. */
  short(): number {
    this.need(2)
    const value = this.buffer.readUInt16BE(this.position)
    this.position += 2
    return value
  }

  /** [int]: signed 32 bits. */
  int(): number {
    this.need(4)
    const value = this.buffer.readInt32BE(this.position)
    this.position += 4
    return value
  }

  /** [long]: signed 64 bits. */
  long(): bigint {
    this.need(8)
    const value = this.buffer.readBigInt64BE(this.position)
    this.position += 8
    return value
  }

  /** [string]: a [short] length and UTF-8 bytes. */
  string(): string {
    return this.utf8(this.short())
  }

  /** [long string]: an [int] length and UTF-8 bytes. */
  longString(): string {
    const length = this.int()
    if (length < 0) throw this.error(`has a [long string] of negative length ${length}`)
    return this.utf8(length)
  }

  /** [uuid]: 16 bytes (a view). */
  uuid(): Buffer {
    return this.raw(16)
  }

  /** [string list]. */
  stringList(): string[] {
    const count = this.short()
    const list: string[] = []
    for (let i = 0; i < count; i++) list.push(this.string())
    return list
  }

  /** [bytes]: any negative length is null. */
  bytes(): Buffer | null {
    const length = this.int()
    return length < 0 ? null : this.raw(length)
  }

  /** [short bytes]. */
  shortBytes(): Buffer {
    return this.raw(this.short())
  }

  /** [value]: -1 is null, -2 is not set, anything below is an error. */
  value(): CqlValue {
    const length = this.int()
    if (length >= 0) return this.raw(length)
    if (length === -1) return null
    if (length === -2) return NOT_SET
    throw this.error(`has a [value] of length ${length}; only -1 (null) and -2 (not set) may be negative`)
  }

  /** [inet]: an address size byte (4 or 16), the address, an [int] port. */
  inet(): InetAddress {
    const size = this.byte()
    if (size !== 4 && size !== 16) throw this.error(`has an [inet] address of ${size} bytes; only 4 (IPv4) and 16 (IPv6) exist`)
    const address = formatIpAddress(this.raw(size))
    return { address, port: this.int() }
  }

  /** [consistency]: a [short] naming one of the levels ANY (0) to LOCAL_ONE (10). */
  consistency(): number {
    const code = this.short()
    if (!isCqlConsistency(code)) throw this.error(`has an unknown consistency level 0x${code.toString(16).padStart(4, '0')}`)
    return code
  }

  /** [string map]; a repeated key keeps its last value. */
  stringMap(): Map<string, string> {
    const count = this.short()
    const map = new Map<string, string>()
    for (let i = 0; i < count; i++) map.set(this.string(), this.string())
    return map
  }

  /** [string multimap]. */
  stringMultimap(): Map<string, string[]> {
    const count = this.short()
    const map = new Map<string, string[]>()
    for (let i = 0; i < count; i++) map.set(this.string(), this.stringList())
    return map
  }

  /** [bytes map], the shape of a custom payload. */
  bytesMap(): Map<string, Buffer | null> {
    const count = this.short()
    const map = new Map<string, Buffer | null>()
    for (let i = 0; i < count; i++) map.set(this.string(), this.bytes())
    return map
  }

  /** The next `length` bytes, as a view. */
  raw(length: number): Buffer {
    this.need(length)
    const start = this.position
    this.position += length
    return this.buffer.subarray(start, this.position)
  }

  /** Request bodies have a known end; bytes past it mean the client and Grey disagree about the format. */
  expectEnd(): void {
    if (this.position !== this.end) throw this.error(`has ${this.end - this.position} unexpected bytes after its last field`)
  }

  private utf8(length: number): string {
    const bytes = this.raw(length)
    if (!isUtf8(bytes)) throw this.error(`has a string that is not valid UTF-8 at body offset ${this.position - length - this.start}`)
    return bytes.toString('utf8')
  }

  private need(length: number): void {
    if (length > this.end - this.position) {
      throw this.error(
        `is too short: it needs ${length} more bytes at body offset ${this.position - this.start} but has ${this.end - this.position}`,
      )
    }
  }
}
