import { AuthenticationCode, BackendMessageType, type TransactionStatus } from './backend-message-type.js'
import { BufferReader } from './buffer-reader.js'
import { FrameAccumulator } from './frame-accumulator.js'
import { NOTICE_FIELD_CODES, type NoticeFields } from './notice-fields.js'
import { ProtocolError } from './protocol-error.js'

const EMPTY = Buffer.alloc(0)
const HEADER_LENGTH = 5

/** PostgreSQL builds every message in one allocation of at most 1 GiB - 1. */
export const DEFAULT_MAX_FRAME_LENGTH = 0x3fffffff
/** DataRow and CopyData frames longer than this are relayed in pieces as they arrive instead of being assembled. */
export const DEFAULT_STREAM_THRESHOLD = 64 * 1024

/**
 * One frame, or one piece of a large DataRow/CopyData frame, as bytes `buffer[offset, offset + length)`. A frame that
 * arrived inside one chunk is a view of that chunk: nothing is copied. Consecutive frames of one chunk are adjacent,
 * so a relay can forward a run of them with a single write.
 *
 * `next()` returns the same object every time, updated: read what you need before calling it again.
 */
export interface BackendFrame {
  /** The type byte (see BackendMessageType). */
  type: number
  buffer: Buffer
  offset: number
  length: number
  /** The whole frame's size in bytes, type byte included, even when this is only a piece of it. */
  frameLength: number
  /** This piece starts with the type byte. */
  head: boolean
  /** This piece ends the frame. A whole frame has `head` and `tail`; only whole frames can be decoded. */
  tail: boolean
}

export interface BackendScannerOptions {
  /** Cap on a frame's length field. */
  maxFrameLength?: number
  /** DataRow and CopyData frames larger than this that span chunks are passed on in pieces; Infinity turns it off. */
  streamThreshold?: number
}

const TYPE_NAMES = new Map<number, string>(Object.entries(BackendMessageType).map(([name, type]) => [type, name]))
/** 1 for each known type byte: a table lookup on the per-frame path. */
const KNOWN_TYPES = new Uint8Array(256)
for (const type of TYPE_NAMES.keys()) KNOWN_TYPES[type] = 1

/**
 * Finds frame boundaries in what a PostgreSQL backend sends, without decoding bodies: `push` a chunk, then call `next`
 * until it returns undefined. Only frames split across chunks are copied (assembled), and large DataRow/CopyData
 * frames not even those. The small decoders below read the few messages the proxy acts on.
 */
export class BackendScanner {
  private readonly maxFrameLength: number
  private readonly streamThreshold: number
  private readonly frame: BackendFrame = { type: 0, buffer: EMPTY, offset: 0, length: 0, frameLength: 0, head: true, tail: true }
  private readonly queue: Buffer[] = []
  private chunk: Buffer = EMPTY
  private position = 0
  private readonly partial = new FrameAccumulator()
  private partialHeaderKnown = false
  private streamType = 0
  private streamFrameLength = 0
  private streamRemaining = 0
  private failure: unknown = undefined

  constructor(options: BackendScannerOptions = {}) {
    const max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH
    if (!Number.isInteger(max) || max < 4 || max > 0x7fffffff) {
      throw new RangeError(`maxFrameLength must be an integer from 4 to 2147483647, not ${max}`)
    }
    const threshold = options.streamThreshold ?? DEFAULT_STREAM_THRESHOLD
    if (Number.isNaN(threshold) || threshold < HEADER_LENGTH) {
      throw new RangeError(`streamThreshold must be at least ${HEADER_LENGTH} bytes, not ${threshold}`)
    }
    this.maxFrameLength = max
    this.streamThreshold = threshold
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure !== undefined) return
    if (this.position === this.chunk.length && this.queue.length === 0) {
      this.chunk = chunk
      this.position = 0
    } else {
      this.queue.push(chunk)
    }
  }

  /** The next frame or frame piece, or undefined until more bytes are pushed. Throws ProtocolError on garbage. */
  next(): BackendFrame | undefined {
    if (this.failure !== undefined) throw this.failure
    try {
      return this.scan()
    } catch (error) {
      this.failure = error
      this.queue.length = 0
      this.chunk = EMPTY
      this.position = 0
      this.partial.clear()
      throw error
    }
  }

  private scan(): BackendFrame | undefined {
    const partial = this.partial
    for (;;) {
      if (!this.nextChunk()) return undefined
      const chunk = this.chunk
      const start = this.position
      if (this.streamRemaining > 0) {
        const count = Math.min(chunk.length - start, this.streamRemaining)
        this.streamRemaining -= count
        this.position = start + count
        return this.emit(this.streamType, chunk, start, count, this.streamFrameLength, false, this.streamRemaining === 0)
      }
      if (partial.active) {
        this.position += partial.append(chunk, start, chunk.length)
        if (!this.partialHeaderKnown) {
          if (partial.length < HEADER_LENGTH) continue
          const header = partial.bytes
          const type = header[0]!
          const total = this.frameLength(header, 0)
          if (this.streams(type, total)) {
            this.startStream(type, total, total - HEADER_LENGTH)
            return this.emit(type, partial.take(), 0, HEADER_LENGTH, total, true, false)
          }
          partial.expect(total)
          this.partialHeaderKnown = true
          this.position += partial.append(chunk, this.position, chunk.length)
        }
        if (!partial.complete) continue
        const frame = partial.take()
        return this.emit(frame[0]!, frame, 0, frame.length, frame.length, true, true)
      }
      const type = chunk[start]!
      checkType(type)
      const available = chunk.length - start
      if (available < HEADER_LENGTH) {
        this.beginPartial(HEADER_LENGTH, false)
        continue
      }
      const total = this.frameLength(chunk, start)
      if (available >= total) {
        this.position = start + total
        return this.emit(type, chunk, start, total, total, true, true)
      }
      if (this.streams(type, total)) {
        this.position = chunk.length
        this.startStream(type, total, total - available)
        return this.emit(type, chunk, start, available, total, true, false)
      }
      this.beginPartial(total, true)
    }
  }

  private streams(type: number, total: number): boolean {
    return (type === BackendMessageType.DataRow || type === BackendMessageType.CopyData) && total > this.streamThreshold
  }

  private startStream(type: number, total: number, remaining: number): void {
    this.streamType = type
    this.streamFrameLength = total
    this.streamRemaining = remaining
  }

  private beginPartial(target: number, headerKnown: boolean): void {
    this.partial.begin(target)
    this.partialHeaderKnown = headerKnown
    this.position += this.partial.append(this.chunk, this.position, this.chunk.length)
  }

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

  private frameLength(buffer: Buffer, at: number): number {
    const type = buffer[at]!
    const length = buffer.readInt32BE(at + 1)
    if (length < 4) {
      throw new ProtocolError(
        `backend sent a ${TYPE_NAMES.get(type)} message with invalid length ${length}: the length counts its own 4 bytes`,
      )
    }
    if (length > this.maxFrameLength) {
      throw new ProtocolError(`backend sent a ${TYPE_NAMES.get(type)} message of ${length} bytes, over the limit of ${this.maxFrameLength}`)
    }
    return length + 1
  }

  private emit(
    type: number,
    buffer: Buffer,
    offset: number,
    length: number,
    frameLength: number,
    head: boolean,
    tail: boolean,
  ): BackendFrame {
    const frame = this.frame
    frame.type = type
    frame.buffer = buffer
    frame.offset = offset
    frame.length = length
    frame.frameLength = frameLength
    frame.head = head
    frame.tail = tail
    return frame
  }
}

/** An unknown type byte means the stream is out of step (or not PostgreSQL): nothing after it can be trusted. */
function checkType(type: number): void {
  if (KNOWN_TYPES[type] !== 1) {
    throw new ProtocolError(`backend sent an unknown message type 0x${type.toString(16).padStart(2, '0')}: the stream is out of step`)
  }
}

// Decoders for the few messages the proxy acts on. Each takes a whole frame and throws ProtocolError if its body is
// malformed. Views they return point into the frame's buffer; keys and salts are copied, since they are kept.

const reader = new BufferReader()

function body(frame: BackendFrame, name: string, type: number, otherType: number = type): BufferReader {
  if (frame.type !== type && frame.type !== otherType) {
    throw new Error(`cannot decode a ${TYPE_NAMES.get(frame.type) ?? frame.type} frame as ${name}`)
  }
  if (!frame.head || !frame.tail) throw new Error(`cannot decode a piece of a ${name} frame`)
  return reader.reset(frame.buffer, frame.offset + HEADER_LENGTH, frame.offset + frame.length, `${name} message`)
}

/** 'I' idle, 'T' in a transaction block, 'E' in a failed one: where transaction pooling may release the backend. */
export function readyForQueryStatus(frame: BackendFrame): TransactionStatus {
  const reader = body(frame, 'ReadyForQuery', BackendMessageType.ReadyForQuery)
  const status = reader.byte()
  reader.expectEnd()
  if (status === 0x49) return 'I'
  if (status === 0x54) return 'T'
  if (status === 0x45) return 'E'
  throw new ProtocolError(`ReadyForQuery message has an unknown transaction status 0x${status.toString(16)}`)
}

/** The fields of an ErrorResponse or NoticeResponse; unknown field codes are skipped, as the protocol asks. */
export function parseNoticeFields(frame: BackendFrame): Partial<NoticeFields> {
  const reader = body(frame, 'ErrorResponse/NoticeResponse', BackendMessageType.ErrorResponse, BackendMessageType.NoticeResponse)
  const fields: Partial<NoticeFields> = {}
  for (let code = reader.byte(); code !== 0; code = reader.byte()) {
    const value = reader.cstring()
    const key = FIELD_KEYS.get(code)
    if (key !== undefined) fields[key] = value
  }
  reader.expectEnd()
  return fields
}

const FIELD_KEYS = new Map<number, keyof NoticeFields>(NOTICE_FIELD_CODES.map(([key, code]) => [code, key]))

/** 'INSERT 0 1', 'SELECT 5', 'COMMIT', … */
export function commandCompleteTag(frame: BackendFrame): string {
  const reader = body(frame, 'CommandComplete', BackendMessageType.CommandComplete)
  const tag = reader.cstring()
  reader.expectEnd()
  return tag
}

export interface ParameterStatus {
  name: string
  value: string
}

export function parseParameterStatus(frame: BackendFrame): ParameterStatus {
  const reader = body(frame, 'ParameterStatus', BackendMessageType.ParameterStatus)
  const name = reader.cstring()
  const value = reader.cstring()
  reader.expectEnd()
  return { name, value }
}

export interface BackendKeyData {
  processId: number
  /** A copy: 4 bytes up to protocol 3.0, up to 256 from 3.2. */
  secretKey: Buffer
}

export function parseBackendKeyData(frame: BackendFrame): BackendKeyData {
  const reader = body(frame, 'BackendKeyData', BackendMessageType.BackendKeyData)
  const processId = reader.int32()
  const secretKey = Buffer.from(reader.rest())
  if (secretKey.length < 4 || secretKey.length > 256) {
    throw new ProtocolError(`BackendKeyData message has a secret key of ${secretKey.length} bytes; it must have 4 to 256`)
  }
  return { processId, secretKey }
}

/** The Int32 request code of an Authentication ('R') message; see AuthenticationCode. */
export function authenticationRequestType(frame: BackendFrame): number {
  return body(frame, 'Authentication', BackendMessageType.Authentication).int32()
}

export type AuthenticationRequest =
  | { type: 'Ok' }
  | { type: 'CleartextPassword' }
  | { type: 'MD5Password'; salt: Buffer }
  | { type: 'SASL'; mechanisms: string[] }
  | { type: 'SASLContinue'; data: Buffer }
  | { type: 'SASLFinal'; data: Buffer }
  /** Kerberos, GSSAPI, SSPI, …: methods Grey does not implement toward backends. */
  | { type: 'Unsupported'; code: number }

export function parseAuthenticationRequest(frame: BackendFrame): AuthenticationRequest {
  const reader = body(frame, 'Authentication', BackendMessageType.Authentication)
  const code = reader.int32()
  let request: AuthenticationRequest
  switch (code) {
    case AuthenticationCode.Ok:
      request = { type: 'Ok' }
      break
    case AuthenticationCode.CleartextPassword:
      request = { type: 'CleartextPassword' }
      break
    case AuthenticationCode.MD5Password:
      request = { type: 'MD5Password', salt: Buffer.from(reader.bytes(4)) }
      break
    case AuthenticationCode.SASL: {
      const mechanisms: string[] = []
      for (let mechanism = reader.cstring(); mechanism !== ''; mechanism = reader.cstring()) mechanisms.push(mechanism)
      request = { type: 'SASL', mechanisms }
      break
    }
    case AuthenticationCode.SASLContinue:
      return { type: 'SASLContinue', data: reader.rest() }
    case AuthenticationCode.SASLFinal:
      return { type: 'SASLFinal', data: reader.rest() }
    default:
      return { type: 'Unsupported', code }
  }
  reader.expectEnd()
  return request
}

/** The first column of a DataRow as text; null for SQL NULL (Grey's own one-column queries). */
export function dataRowFirstColumn(frame: BackendFrame): string | null {
  const reader = body(frame, 'DataRow', BackendMessageType.DataRow)
  if (reader.int16() < 1) throw new ProtocolError('DataRow message has no columns')
  const length = reader.int32()
  return length < 0 ? null : reader.bytes(length).toString('utf8')
}

/**
 * Joins the pieces of frames that arrive split across chunks: whole frames pass through untouched, a split one
 * comes out once its last piece arrives. For the few frames Grey decodes itself (its own queries' replies).
 */
export class FrameAssembler {
  #parts: Buffer[] = []

  push(frame: BackendFrame): BackendFrame | null {
    if (frame.head && frame.tail) return frame
    if (frame.head) this.#parts = []
    this.#parts.push(Buffer.from(frame.buffer.subarray(frame.offset, frame.offset + frame.length)))
    if (!frame.tail) return null
    const buffer = Buffer.concat(this.#parts)
    this.#parts = []
    return { type: frame.type, buffer, offset: 0, length: buffer.length, frameLength: buffer.length, head: true, tail: true }
  }
}
