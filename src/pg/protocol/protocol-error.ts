/** SQLSTATE 08P01 protocol_violation: malformed or out-of-place bytes on the wire. */
export const PROTOCOL_VIOLATION = '08P01'
/** SQLSTATE 0A000 feature_not_supported: what PostgreSQL answers to a protocol version it does not speak. */
export const FEATURE_NOT_SUPPORTED = '0A000'

/**
 * Bytes from a peer that break the PostgreSQL wire protocol. The session answers it with an ErrorResponse carrying
 * `sqlState` and `message`, then closes only that connection.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  readonly sqlState: string

  constructor(message: string, sqlState: string = PROTOCOL_VIOLATION) {
    super(message)
    this.sqlState = sqlState
  }
}
