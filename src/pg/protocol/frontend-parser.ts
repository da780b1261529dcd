import { BufferReader } from './buffer-reader.js'
import { FrameAccumulator } from './frame-accumulator.js'
import {
  CANCEL_REQUEST_CODE,
  FrontendMessageType,
  GSSENC_REQUEST_CODE,
  SSL_REQUEST_CODE,
  type Bind,
  type FrontendMessage,
  type FunctionCall,
  type Parse,
  type RegularMessage,
  type StartupPhaseMessage,
  type StatementOrPortal,
} from './frontend-messages.js'
import { FEATURE_NOT_SUPPORTED, ProtocolError } from './protocol-error.js'

const EMPTY = Buffer.alloc(0)

/** Default cap on the length field of the messages that carry data: Query, Parse, Bind, CopyData, FunctionCall. */
export const DEFAULT_MAX_MESSAGE_LENGTH = 64 * 1024 * 1024
/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH: the startup packet body after its length word. */
export const MAX_STARTUP_PACKET_LENGTH = 10_000
/** PostgreSQL's PQ_SMALL_MESSAGE_LIMIT, for messages that carry only names (Describe, Close, Execute, Sync, …). */
export const SMALL_MESSAGE_LIMIT = 10_000
/** PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH, for password, SASL and GSS responses. */
export const AUTH_MESSAGE_LIMIT = 65_535
/** Protocol 3.2 lets the cancel key grow from 4 bytes up to 256. */
export const MAX_CANCEL_KEY_LENGTH = 256

/** Whether the next bytes are an untyped startup packet or a typed message. */
export type FrontendPhase = 'startup' | 'regular'

export interface FrontendParserOptions {
  /** Cap on the length field of Query, Parse, Bind, CopyData and FunctionCall; every other message keeps PostgreSQL's smaller cap. */
  maxMessageLength?: number
  /** 'startup' (default) for a fresh client connection. */
  phase?: FrontendPhase
}

const TLS_HANDSHAKE_RECORD = 0x16

/**
 * Splits what a client sends into messages, without any I/O: `push` the chunks as they come, then call `read` until
 * it returns undefined. It starts in the startup phase (packets without a type byte: SSLRequest, GSSENCRequest,
 * CancelRequest, StartupMessage) and moves to typed messages after a StartupMessage; `expectStartup` goes back (after
 * answering SSLRequest or GSSENCRequest, nothing changes: the phase is still 'startup').
 *
 * A message that lies inside one chunk is a view of that chunk (no copy); only a message split across chunks is
 * assembled. The first malformed input makes `read` throw a ProtocolError, then and on every later call: the
 * connection cannot be resynchronised and must be closed.
 */
export class FrontendParser {
  private readonly maxMessageLength: number
  private currentPhase: FrontendPhase
  private readonly queue: Buffer[] = []
  private chunk: Buffer = EMPTY
  private position = 0
  private readonly partial = new FrameAccumulator()
  private partialHeaderKnown = false
  private failure: unknown = undefined
  private readonly reader = new BufferReader()

  constructor(options: FrontendParserOptions = {}) {
    const max = options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH
    if (!Number.isInteger(max) || max < 4 || max > 0x7fffffff) {
      throw new RangeError(`maxMessageLength must be an integer from 4 to 2147483647, not ${max}`)
    }
    this.maxMessageLength = max
    this.currentPhase = options.phase ?? 'startup'
  }

  get phase(): FrontendPhase {
    return this.currentPhase
  }

  /**
   * Bytes received but not yet returned as messages. After an SSLRequest it must be 0 before the TLS handshake
   * starts: bytes sent ahead of the handshake were not encrypted (CVE-2021-23214), and must not be believed.
   */
  get pendingBytes(): number {
    let pending = this.partial.length + this.chunk.length - this.position
    for (const chunk of this.queue) pending += chunk.length
    return pending
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

  /**
   * The next packet has no type byte. The phase is already 'startup' after SSLRequest and GSSENCRequest (the client
   * follows with another startup packet), so this is for a parser that was created in, or has moved to, 'regular'.
   */
  expectStartup(): void {
    if (this.currentPhase === 'regular' && this.pendingBytes > 0) {
      throw new Error('FrontendParser.expectStartup: bytes received as typed messages are still buffered')
    }
    this.currentPhase = 'startup'
  }

  /** The next complete message, or undefined until more bytes are pushed. Throws ProtocolError on malformed input. */
  read(): FrontendMessage | undefined {
    if (this.failure !== undefined) throw this.failure
    try {
      return this.readMessage()
    } catch (error) {
      this.failure = error
      this.queue.length = 0
      this.chunk = EMPTY
      this.position = 0
      this.partial.clear()
      throw error
    }
  }

  private readMessage(): FrontendMessage | undefined {
    const partial = this.partial
    for (;;) {
      if (!this.nextChunk()) return undefined
      const chunk = this.chunk
      const start = this.position
      const headerSize = this.currentPhase === 'startup' ? 4 : 5
      if (partial.active) {
        this.position += partial.append(chunk, start, chunk.length)
        if (!this.partialHeaderKnown) {
          if (partial.length < headerSize) continue
          partial.expect(this.frameLength(partial.bytes, 0))
          this.partialHeaderKnown = true
          this.position += partial.append(chunk, this.position, chunk.length)
        }
        if (!partial.complete) continue
        const frame = partial.take()
        return this.decode(frame, 0, frame.length)
      }
      const available = chunk.length - start
      // The type byte is checked as soon as it arrives, so that garbage fails fast instead of waiting for a length.
      if (headerSize === 5) messageName(chunk[start]!)
      if (available < headerSize) {
        this.beginPartial(headerSize, false)
        continue
      }
      const total = this.frameLength(chunk, start)
      if (available < total) {
        this.beginPartial(total, true)
        continue
      }
      this.position = start + total
      return this.decode(chunk, start, total)
    }
  }

  private beginPartial(target: number, headerKnown: boolean): void {
    this.partial.begin(target)
    this.partialHeaderKnown = headerKnown
    this.position += this.partial.append(this.chunk, this.position, this.chunk.length)
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

  /** Validates the header at `at` and returns the whole frame's size in bytes. */
  private frameLength(buffer: Buffer, at: number): number {
    if (this.currentPhase === 'startup') {
      const length = buffer.readInt32BE(at)
      if (length < 8 || length > MAX_STARTUP_PACKET_LENGTH + 4) {
        const tls =
          buffer[at] === TLS_HANDSHAKE_RECORD
            ? ' The bytes are a TLS handshake: the client skipped SSLRequest (sslnegotiation=direct), which Grey does not accept.'
            : ''
        throw new ProtocolError(
          `invalid length of startup packet: ${length} (a startup packet is 8 to ${MAX_STARTUP_PACKET_LENGTH + 4} bytes long).${tls}`,
        )
      }
      return length
    }
    const type = buffer[at]!
    const length = buffer.readInt32BE(at + 1)
    if (length < 4) {
      throw new ProtocolError(
        `invalid length ${length} in the header of a ${messageName(type)} message: the length counts its own 4 bytes, so it is at least 4`,
      )
    }
    const limit = Math.min(this.maxMessageLength, limitOf(type, this.maxMessageLength))
    if (length > limit) {
      throw new ProtocolError(`${messageName(type)} message of ${length} bytes exceeds the limit of ${limit} bytes for this message type`)
    }
    return length + 1
  }

  private decode(buffer: Buffer, start: number, total: number): FrontendMessage {
    const raw = buffer.subarray(start, start + total)
    if (this.currentPhase === 'startup') return this.decodeStartupPacket(raw)
    const type = raw[0]!
    const reader = this.reader.reset(raw, 5, total, `${messageName(type)} message`)
    return decodeMessage(type, reader, raw)
  }

  private decodeStartupPacket(raw: Buffer): StartupPhaseMessage {
    const code = raw.readUInt32BE(4)
    switch (code) {
      case SSL_REQUEST_CODE:
      case GSSENC_REQUEST_CODE: {
        const type = code === SSL_REQUEST_CODE ? 'SSLRequest' : 'GSSENCRequest'
        if (raw.length !== 8) throw new ProtocolError(`invalid length of ${type} packet: ${raw.length} bytes instead of 8`)
        return { type, raw }
      }
      case CANCEL_REQUEST_CODE: {
        const keyLength = raw.length - 12
        if (keyLength < 1 || keyLength > MAX_CANCEL_KEY_LENGTH) {
          throw new ProtocolError(
            `invalid length of CancelRequest packet: ${raw.length} bytes (12 plus a secret key of 1 to ${MAX_CANCEL_KEY_LENGTH} bytes; 16 before protocol 3.2)`,
          )
        }
        return { type: 'CancelRequest', processId: raw.readInt32BE(8), secretKey: raw.subarray(12), raw }
      }
    }
    const major = code >>> 16
    const minor = code & 0xffff
    if (major === 1234) {
      throw new ProtocolError(
        `unknown startup request code 1234.${minor}: expected SSLRequest (1234.5679), GSSENCRequest (1234.5680) or CancelRequest (1234.5678)`,
      )
    }
    if (major !== 3) {
      throw new ProtocolError(
        `unsupported frontend protocol ${major}.${minor}: Grey speaks protocol 3.0 (PostgreSQL 7.4 and later)`,
        FEATURE_NOT_SUPPORTED,
      )
    }
    // Name/value pairs end with an empty name, which must be the packet's last byte.
    if (raw.length < 9 || raw[raw.length - 1] !== 0) {
      throw new ProtocolError('invalid StartupMessage layout: expected a zero byte as terminator after the last parameter')
    }
    const reader = this.reader.reset(raw, 8, raw.length, 'StartupMessage')
    const parameters = new Map<string, string>()
    for (;;) {
      const name = reader.cstring()
      if (name === '') break
      parameters.set(name, reader.cstring())
    }
    reader.expectEnd()
    this.currentPhase = 'regular'
    return { type: 'StartupMessage', majorVersion: 3, minorVersion: minor, parameters, raw }
  }
}

const MESSAGE_NAMES = new Map<number, string>(Object.entries(FrontendMessageType).map(([name, type]) => [type, name]))

/** The message's name, for error sentences; throws for a type byte no client may send. */
function messageName(type: number): string {
  const name = MESSAGE_NAMES.get(type)
  if (name === undefined) throw new ProtocolError(`invalid frontend message type ${describeByte(type)}`)
  return name
}

function describeByte(byte: number): string {
  const hex = `0x${byte.toString(16).padStart(2, '0')}`
  return byte >= 0x21 && byte <= 0x7e ? `'${String.fromCharCode(byte)}' (${hex})` : hex
}

/** PostgreSQL's per-type caps (SocketBackend in postgres.c): only data-carrying messages may be large. */
function limitOf(type: number, maxMessageLength: number): number {
  switch (type) {
    case FrontendMessageType.Query:
    case FrontendMessageType.Parse:
    case FrontendMessageType.Bind:
    case FrontendMessageType.CopyData:
    case FrontendMessageType.FunctionCall:
      return maxMessageLength
    case FrontendMessageType.AuthenticationResponse:
      return AUTH_MESSAGE_LIMIT
  }
  return SMALL_MESSAGE_LIMIT
}

function decodeMessage(type: number, reader: BufferReader, raw: Buffer): RegularMessage {
  switch (type) {
    case FrontendMessageType.Query: {
      const query = reader.cstring()
      reader.expectEnd()
      return { type: 'Query', query, raw }
    }
    case FrontendMessageType.Parse:
      return parseParse(reader, raw)
    case FrontendMessageType.Bind:
      return parseBind(reader, raw)
    case FrontendMessageType.Describe: {
      const kind = statementOrPortal(reader)
      const name = reader.cstring()
      reader.expectEnd()
      return { type: 'Describe', kind, name, raw }
    }
    case FrontendMessageType.Execute: {
      const portal = reader.cstring()
      const maxRows = reader.int32()
      reader.expectEnd()
      return { type: 'Execute', portal, maxRows, raw }
    }
    case FrontendMessageType.Close: {
      const kind = statementOrPortal(reader)
      const name = reader.cstring()
      reader.expectEnd()
      return { type: 'Close', kind, name, raw }
    }
    case FrontendMessageType.Sync:
      reader.expectEnd()
      return { type: 'Sync', raw }
    case FrontendMessageType.Flush:
      reader.expectEnd()
      return { type: 'Flush', raw }
    case FrontendMessageType.Terminate:
      reader.expectEnd()
      return { type: 'Terminate', raw }
    case FrontendMessageType.CopyData:
      return { type: 'CopyData', data: reader.rest(), raw }
    case FrontendMessageType.CopyDone:
      reader.expectEnd()
      return { type: 'CopyDone', raw }
    case FrontendMessageType.CopyFail: {
      const message = reader.cstring()
      reader.expectEnd()
      return { type: 'CopyFail', message, raw }
    }
    case FrontendMessageType.FunctionCall:
      return parseFunctionCall(reader, raw)
    default:
      return { type: 'AuthenticationResponse', data: reader.rest(), raw }
  }
}

function parseParse(reader: BufferReader, raw: Buffer): Parse {
  const name = reader.cstring()
  const query = reader.cstring()
  const count = reader.uint16()
  const paramTypes: number[] = []
  for (let i = 0; i < count; i++) paramTypes.push(reader.uint32())
  reader.expectEnd()
  return { type: 'Parse', name, query, paramTypes, raw }
}

function parseBind(reader: BufferReader, raw: Buffer): Bind {
  const portal = reader.cstring()
  const statement = reader.cstring()
  const paramFormats = formatCodes(reader)
  const count = reader.uint16()
  const params: (Buffer | null)[] = []
  for (let i = 0; i < count; i++) params.push(reader.nullableBytes())
  const resultFormats = formatCodes(reader)
  reader.expectEnd()
  return { type: 'Bind', portal, statement, paramFormats, params, resultFormats, raw }
}

function parseFunctionCall(reader: BufferReader, raw: Buffer): FunctionCall {
  const functionOid = reader.uint32()
  const argFormats = formatCodes(reader)
  const count = reader.uint16()
  const args: (Buffer | null)[] = []
  for (let i = 0; i < count; i++) args.push(reader.nullableBytes())
  const resultFormat = reader.int16()
  reader.expectEnd()
  return { type: 'FunctionCall', functionOid, argFormats, args, resultFormat, raw }
}

/** Int16 count, then that many Int16 format codes (0 text, 1 binary; the server rejects others). */
function formatCodes(reader: BufferReader): number[] {
  const count = reader.uint16()
  const codes: number[] = []
  for (let i = 0; i < count; i++) codes.push(reader.int16())
  return codes
}

/** Describe and Close start with Byte1 'S' (prepared statement) or 'P' (portal). */
function statementOrPortal(reader: BufferReader): StatementOrPortal {
  const kind = reader.byte()
  if (kind === 0x53) return 'S'
  if (kind === 0x50) return 'P'
  throw new ProtocolError(`invalid ${reader.what} subtype ${describeByte(kind)}: expected 'S' (prepared statement) or 'P' (portal)`)
}
