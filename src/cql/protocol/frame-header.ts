import { CqlProtocolError } from './cql-protocol-error.js'

/** Version, flags, stream (2), opcode, length (4): the v3/v4 header (v4 spec §2). */
export const FRAME_HEADER_LENGTH = 9
/** The high bit of the version byte: set on responses (server to client), clear on requests. */
export const RESPONSE_DIRECTION = 0x80
/** The protocol versions Grey speaks; the first frame of a connection fixes one of them. */
export type CqlVersion = 3 | 4

export function isSupportedVersion(version: number): version is CqlVersion {
  return version === 3 || version === 4
}

/** v4 spec §2.4. */
export const CqlOpcode = {
  Error: 0x00,
  Startup: 0x01,
  Ready: 0x02,
  Authenticate: 0x03,
  Options: 0x05,
  Supported: 0x06,
  Query: 0x07,
  Result: 0x08,
  Prepare: 0x09,
  Execute: 0x0a,
  Register: 0x0b,
  Event: 0x0c,
  Batch: 0x0d,
  AuthChallenge: 0x0e,
  AuthResponse: 0x0f,
  AuthSuccess: 0x10,
} as const

const OPCODE_NAMES = new Map<number, string>([
  [0x00, 'ERROR'],
  [0x01, 'STARTUP'],
  [0x02, 'READY'],
  [0x03, 'AUTHENTICATE'],
  [0x05, 'OPTIONS'],
  [0x06, 'SUPPORTED'],
  [0x07, 'QUERY'],
  [0x08, 'RESULT'],
  [0x09, 'PREPARE'],
  [0x0a, 'EXECUTE'],
  [0x0b, 'REGISTER'],
  [0x0c, 'EVENT'],
  [0x0d, 'BATCH'],
  [0x0e, 'AUTH_CHALLENGE'],
  [0x0f, 'AUTH_RESPONSE'],
  [0x10, 'AUTH_SUCCESS'],
])

/** 'QUERY' for 0x07, 'opcode 0x04' for one the spec does not define. */
export function opcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `opcode 0x${opcode.toString(16).padStart(2, '0')}`
}

/** v4 spec §2.2; 0x10 is v5's beta flag, listed so that it can be named. */
export const FrameFlag = {
  Compression: 0x01,
  Tracing: 0x02,
  CustomPayload: 0x04,
  Warning: 0x08,
  UseBeta: 0x10,
} as const

export interface FrameHeader {
  /** The protocol version, without the direction bit. */
  version: number
  /** The direction bit: true for server-to-client frames. */
  response: boolean
  flags: number
  /** Signed: negative ids are the server's (EVENT frames use -1). */
  stream: number
  opcode: number
  bodyLength: number
}

/** Reads the 9-byte header at `offset`; the caller knows the version byte is 3 or above (v1/v2 headers are 8 bytes). */
export function decodeFrameHeader(buffer: Buffer, offset = 0): FrameHeader {
  if (buffer.length - offset < FRAME_HEADER_LENGTH) {
    throw new CqlProtocolError(`a frame header is ${FRAME_HEADER_LENGTH} bytes, but only ${Math.max(0, buffer.length - offset)} are there`)
  }
  const versionByte = buffer[offset]!
  return {
    version: versionByte & ~RESPONSE_DIRECTION,
    response: (versionByte & RESPONSE_DIRECTION) !== 0,
    flags: buffer[offset + 1]!,
    stream: buffer.readInt16BE(offset + 2),
    opcode: buffer[offset + 4]!,
    bodyLength: buffer.readUInt32BE(offset + 5),
  }
}

/** Writes `header` as 9 bytes into `target` at `offset` (a new buffer unless given). */
export function encodeFrameHeader(header: FrameHeader, target: Buffer = Buffer.allocUnsafe(FRAME_HEADER_LENGTH), offset = 0): Buffer {
  target[offset] = (header.version & ~RESPONSE_DIRECTION) | (header.response ? RESPONSE_DIRECTION : 0)
  target[offset + 1] = header.flags
  target.writeInt16BE(header.stream, offset + 2)
  target[offset + 4] = header.opcode
  target.writeUInt32BE(header.bodyLength, offset + 5)
  return target
}

/** Header and body as one frame; `header.bodyLength` is ignored and set from `body`, so a rewritten body needs no fixing. */
export function encodeFrame(header: Omit<FrameHeader, 'bodyLength'>, body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + body.length)
  encodeFrameHeader({ ...header, bodyLength: body.length }, frame, 0)
  frame.set(body, FRAME_HEADER_LENGTH)
  return frame
}

/**
 * Overwrites the stream id of an encoded frame in place: the proxy relays a frame between a client's stream and a
 * backend connection's stream by changing these 2 bytes and nothing else.
 */
export function restampStreamId(frame: Buffer, stream: number, offset = 0): Buffer {
  frame.writeInt16BE(stream, offset + 2)
  return frame
}
