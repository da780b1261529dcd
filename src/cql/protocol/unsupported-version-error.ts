import { CqlBufferWriter } from './cql-buffer-writer.js'
import { CqlErrorCode } from './cql-error-code.js'
import { CqlOpcode, RESPONSE_DIRECTION } from './frame-header.js'

const writer = new CqlBufferWriter(128)

/**
 * The answer to a frame whose version Grey does not speak (FrameSplitter's 'unsupported-version'): a v4 ERROR frame,
 * code 0x000A, on the client's stream, in the 9-byte legacy framing even for a v5 client. Drivers match the message
 * text ("Invalid or unsupported protocol version") and the frame's version byte, then reconnect with v4; the
 * connection is closed after it, as Cassandra does.
 */
export function unsupportedVersionError(version: number, stream: number): Buffer {
  writer.reset()
  return writer
    .startFrame(RESPONSE_DIRECTION | 4, 0, stream, CqlOpcode.Error)
    .int(CqlErrorCode.ProtocolError)
    .string(`Invalid or unsupported protocol version (${version})`)
    .endFrame()
    .toBuffer()
}
