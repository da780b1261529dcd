import { CqlErrorCode } from './cql-error-code.js'

/**
 * Bytes from a CQL peer that break the native protocol. The session answers with an ERROR frame carrying `code`
 * (0x000A Protocol error unless told) on `streamId` when the offending frame's header was readable, then closes only
 * that connection.
 */
export class CqlProtocolError extends Error {
  override readonly name = 'CqlProtocolError'
  readonly code: number
  /** The stream of the frame at fault; undefined when the bytes never made a readable header. */
  readonly streamId: number | undefined

  constructor(message: string, streamId?: number, code: number = CqlErrorCode.ProtocolError) {
    super(message)
    this.code = code
    this.streamId = streamId
  }
}
