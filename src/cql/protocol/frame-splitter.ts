import { FrameAccumulator } from '../../pg/protocol/frame-accumulator.js'
import { CqlProtocolError } from './cql-protocol-error.js'
import {
  decodeFrameHeader,
  FRAME_HEADER_LENGTH,
  FrameFlag,
  isSupportedVersion,
  RESPONSE_DIRECTION,
  type CqlVersion,
  type FrameHeader,
} from './frame-header.js'

const EMPTY = Buffer.alloc(0)
const MAX_INT32 = 0x7fffffff

/** The protocol's own ceiling on a body (v4 spec §2.5), which Cassandra 3.x also used as its default. */
export const PROTOCOL_MAX_FRAME_BODY_BYTES = 256 * 1024 * 1024
/** Cassandra 4.0 and later default `native_transport_max_frame_size` to 16 MiB: a larger frame would be refused there anyway. */
export const DEFAULT_MAX_FRAME_BODY_BYTES = 16 * 1024 * 1024

/** Which frames the splitter reads: 'request' from a driver (direction bit clear), 'response' from Cassandra. */
export type FrameDirection = 'request' | 'response'

export interface FrameSplitterOptions {
  /** 'request' unless told. */
  direction?: FrameDirection
  /** Largest body accepted; a larger frame is skipped and reported as 'frame-too-large'. */
  maxBodyBytes?: number
}

/** One whole frame. `frame` is header and body together (ready to relay); `body` is a view of it. */
export interface SplitFrame {
  type: 'frame'
  header: FrameHeader
  frame: Buffer
  body: Buffer
}

/**
 * A version byte other than 3 or 4 (1, 2, 5, DSE 0x41/0x42, …). The shell answers `unsupportedVersionError(version,
 * stream)` and closes the connection; the driver then reconnects with a lower version. Nothing follows it.
 */
export interface UnsupportedVersion {
  type: 'unsupported-version'
  version: number
  stream: number
}

/**
 * A frame over `maxBodyBytes`: its body is discarded as it arrives and the connection goes on, as Cassandra does; the
 * shell answers on `header.stream` with ERROR 0x2200 Invalid, "Request is too big: length N exceeds maximum allowed
 * length M.", Cassandra's sentence.
 */
export interface FrameTooLarge {
  type: 'frame-too-large'
  header: FrameHeader
  maxBodyBytes: number
}

export type SplitterOutput = SplitFrame | UnsupportedVersion | FrameTooLarge

/**
 * Splits the bytes of one connection into CQL frames, without any I/O: `push` chunks as they come, then call `next`
 * until it returns null. A frame inside one chunk is a view of that chunk (no copy); only a frame split across chunks
 * is assembled. The first frame fixes the connection's version (3 or 4).
 *
 * Broken framing (wrong direction bit, a version change, the compression flag, a length over 2^31-1) makes `next`
 * throw CqlProtocolError, then and on every later call: the byte stream cannot be resynchronised.
 */
export class FrameSplitter {
  private readonly direction: FrameDirection
  private readonly maxBodyBytes: number
  private readonly queue: Buffer[] = []
  private chunk: Buffer = EMPTY
  private position = 0
  private readonly partial = new FrameAccumulator()
  private partialHeader: FrameHeader | undefined = undefined
  private skipping = 0
  private connectionVersion: CqlVersion | undefined = undefined
  private finished = false
  private failure: unknown = undefined

  constructor(options: FrameSplitterOptions = {}) {
    const max = options.maxBodyBytes ?? DEFAULT_MAX_FRAME_BODY_BYTES
    if (!Number.isInteger(max) || max < 0 || max > MAX_INT32) {
      throw new RangeError(`maxBodyBytes must be an integer from 0 to 2147483647, not ${max}`)
    }
    this.maxBodyBytes = max
    this.direction = options.direction ?? 'request'
  }

  /** The version fixed by the first frame, until then undefined. */
  get version(): CqlVersion | undefined {
    return this.connectionVersion
  }

  /** Bytes received and not yet returned (those of a frame being discarded included). */
  get pendingBytes(): number {
    let pending = this.partial.length + this.chunk.length - this.position
    for (const chunk of this.queue) pending += chunk.length
    return pending
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.finished || this.failure !== undefined) return
    if (this.position === this.chunk.length && this.queue.length === 0) {
      this.chunk = chunk
      this.position = 0
    } else {
      this.queue.push(chunk)
    }
  }

  /** The next frame, or null until more bytes are pushed (and for good after 'unsupported-version'). */
  next(): SplitterOutput | null {
    if (this.failure !== undefined) throw this.failure
    if (this.finished) return null
    try {
      return this.read()
    } catch (error) {
      this.failure = error
      this.drop()
      throw error
    }
  }

  private read(): SplitterOutput | null {
    const partial = this.partial
    for (;;) {
      if (!this.nextChunk()) return null
      const chunk = this.chunk
      if (this.skipping > 0) {
        const skipped = Math.min(this.skipping, chunk.length - this.position)
        this.position += skipped
        this.skipping -= skipped
        continue
      }
      if (partial.active) {
        this.position += partial.append(chunk, this.position, chunk.length)
        if (this.partialHeader === undefined) {
          const probe = this.probe(partial.bytes, 0, partial.length)
          if (probe === undefined) continue
          if (probe.type === 'unsupported-version') return this.finish(probe)
          if (probe.header.bodyLength > this.maxBodyBytes) {
            // The accumulator was asked for the header only, so the whole body is still to come.
            this.skipping = probe.header.bodyLength
            partial.clear()
            return this.tooLarge(probe.header)
          }
          this.partialHeader = probe.header
          partial.expect(FRAME_HEADER_LENGTH + probe.header.bodyLength)
          this.position += partial.append(chunk, this.position, chunk.length)
        }
        if (!partial.complete) continue
        const header = this.partialHeader
        this.partialHeader = undefined
        return frameOf(header, partial.take())
      }
      const start = this.position
      const available = chunk.length - start
      const probe = this.probe(chunk, start, available)
      if (probe === undefined) {
        partial.begin(FRAME_HEADER_LENGTH)
        this.partialHeader = undefined
        this.position += partial.append(chunk, start, chunk.length)
        continue
      }
      if (probe.type === 'unsupported-version') return this.finish(probe)
      const header = probe.header
      if (header.bodyLength > this.maxBodyBytes) {
        this.position += FRAME_HEADER_LENGTH
        this.skipping = header.bodyLength
        return this.tooLarge(header)
      }
      const total = FRAME_HEADER_LENGTH + header.bodyLength
      if (available < total) {
        partial.begin(total)
        this.partialHeader = header
        this.position += partial.append(chunk, start, chunk.length)
        continue
      }
      this.position = start + total
      return frameOf(header, chunk.subarray(start, start + total))
    }
  }

  /**
   * What the first `length` bytes at `at` say: undefined until there are enough of them, an unsupported version as soon
   * as its stream id is readable (v1/v2 headers carry a 1-byte stream at offset 2), else the validated header.
   */
  private probe(buffer: Buffer, at: number, length: number): { type: 'header'; header: FrameHeader } | UnsupportedVersion | undefined {
    const version = buffer[at]! & ~RESPONSE_DIRECTION
    if (!isSupportedVersion(version)) {
      const oneByteStream = version === 1 || version === 2
      if (length < (oneByteStream ? 3 : 4)) return undefined
      const stream = oneByteStream ? buffer.readInt8(at + 2) : buffer.readInt16BE(at + 2)
      return { type: 'unsupported-version', version, stream }
    }
    if (length < FRAME_HEADER_LENGTH) return undefined
    const header = decodeFrameHeader(buffer, at)
    this.check(header)
    return { type: 'header', header }
  }

  private check(header: FrameHeader): void {
    const fail = (problem: string) => new CqlProtocolError(problem, header.stream)
    if (header.response !== (this.direction === 'response')) {
      throw fail(
        this.direction === 'request'
          ? `a client sent a frame with the response direction bit set (version byte 0x${(header.version | RESPONSE_DIRECTION).toString(16)})`
          : `a server sent a frame without the response direction bit (version byte 0x0${header.version})`,
      )
    }
    if (this.connectionVersion === undefined) this.connectionVersion = header.version as CqlVersion
    else if (header.version !== this.connectionVersion) {
      throw fail(
        `invalid message version: got ${header.version} but previous messages on this connection had version ${this.connectionVersion}`,
      )
    }
    if (header.bodyLength > MAX_INT32) throw fail(`frame declares a body of ${header.bodyLength} bytes, beyond the protocol's [int] length`)
    if ((header.flags & FrameFlag.Compression) !== 0) {
      throw fail('frame has the compression flag set, but no compression was negotiated (Grey supports none)')
    }
  }

  private tooLarge(header: FrameHeader): FrameTooLarge {
    return { type: 'frame-too-large', header, maxBodyBytes: this.maxBodyBytes }
  }

  private finish(result: UnsupportedVersion): UnsupportedVersion {
    this.finished = true
    this.drop()
    return result
  }

  private drop(): void {
    this.queue.length = 0
    this.chunk = EMPTY
    this.position = 0
    this.partial.clear()
    this.partialHeader = undefined
    this.skipping = 0
  }

  /** Moves on to the next queued chunk when the current one is used up; false when no bytes are left. */
  private nextChunk(): boolean {
    while (this.position === this.chunk.length) {
      const next = this.queue.shift()
      if (next === undefined) {
        this.chunk = EMPTY
        this.position = 0
        return false
      }
      this.chunk = next
      this.position = 0
    }
    return true
  }
}

function frameOf(header: FrameHeader, frame: Buffer): SplitFrame {
  return { type: 'frame', header, frame, body: frame.subarray(FRAME_HEADER_LENGTH) }
}
