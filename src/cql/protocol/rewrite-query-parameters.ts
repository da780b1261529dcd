import { isConsistency } from './consistency.js'
import { QueryFlag, type ParameterOffsets } from './request-messages.js'

const TIMESTAMP_LENGTH = 8
const MAX_LONG = 2n ** 63n - 1n

/** What to change in a QUERY, EXECUTE or BATCH body; a field left out stays as the driver sent it. */
export interface ParameterChange {
  consistency?: number
  /** Default timestamp in microseconds (flag 0x20), e.g. an HLC stamp; it overrides the driver's own. */
  timestamp?: bigint
}

/**
 * A copy of a QUERY, EXECUTE or BATCH body (as decoded, `offsets` from `decodeRequest`) with the consistency replaced
 * and/or the default timestamp set. An existing timestamp is overwritten where it is; otherwise flag 0x20 is set and
 * the 8 bytes are inserted after the serial consistency, where v4 spec §4.1.4 puts them, so the body grows by 8 and
 * the frame needs a new length (`encodeFrame`). `body` itself is not modified.
 */
export function rewriteQueryParameters(body: Buffer, offsets: ParameterOffsets, change: ParameterChange): Buffer {
  const { consistency, timestamp } = change
  if (consistency !== undefined && !isConsistency(consistency)) {
    throw new RangeError(`${consistency} is not a consistency level (0 ANY to 10 LOCAL_ONE)`)
  }
  if (timestamp !== undefined && (timestamp < 0n || timestamp > MAX_LONG)) {
    throw new RangeError(`a default timestamp is a non-negative [long] of microseconds, not ${timestamp}`)
  }
  if (!(offsets.consistency + 2 <= offsets.flags && offsets.flags < offsets.timestamp && offsets.timestamp <= body.length)) {
    throw new RangeError(`parameter offsets ${JSON.stringify(offsets)} do not fit a body of ${body.length} bytes`)
  }
  const flags = body[offsets.flags]!
  const hadTimestamp = (flags & QueryFlag.WithDefaultTimestamp) !== 0
  let out: Buffer
  if (timestamp !== undefined && !hadTimestamp) {
    out = Buffer.allocUnsafe(body.length + TIMESTAMP_LENGTH)
    body.copy(out, 0, 0, offsets.timestamp)
    out.writeBigInt64BE(timestamp, offsets.timestamp)
    body.copy(out, offsets.timestamp + TIMESTAMP_LENGTH, offsets.timestamp)
    out[offsets.flags] = flags | QueryFlag.WithDefaultTimestamp
  } else {
    out = Buffer.from(body)
    if (timestamp !== undefined) out.writeBigInt64BE(timestamp, offsets.timestamp)
  }
  if (consistency !== undefined) out.writeUInt16BE(consistency, offsets.consistency)
  return out
}
