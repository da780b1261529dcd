import { isCqlConsistency } from '../../routing/cql-consistency.js'
import { FRAME_HEADER_LENGTH } from './frame-header.js'
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
  return rewrite(body, 0, offsets, change)
}

/**
 * The same rewrite on a whole frame (header and body, as FrameSplitter gives it), in one copy: the header's length
 * is updated, everything else in it kept. `offsets` are the body's, as `decodeRequest` gives them.
 */
export function rewriteFrameQueryParameters(frame: Buffer, offsets: ParameterOffsets, change: ParameterChange): Buffer {
  const out = rewrite(frame, FRAME_HEADER_LENGTH, offsets, change)
  out.writeUInt32BE(out.length - FRAME_HEADER_LENGTH, 5)
  return out
}

/** Rewrites the body that starts at `base` in `source` into a copy of all of `source`. */
function rewrite(source: Buffer, base: number, offsets: ParameterOffsets, change: ParameterChange): Buffer {
  const { consistency, timestamp } = change
  if (consistency !== undefined && !isCqlConsistency(consistency)) {
    throw new RangeError(`${consistency} is not a consistency level (0 ANY to 10 LOCAL_ONE)`)
  }
  if (timestamp !== undefined && (timestamp < 0n || timestamp > MAX_LONG)) {
    throw new RangeError(`a default timestamp is a non-negative [long] of microseconds, not ${timestamp}`)
  }
  const bodyLength = source.length - base
  if (!(offsets.consistency + 2 <= offsets.flags && offsets.flags < offsets.timestamp && offsets.timestamp <= bodyLength)) {
    throw new RangeError(`parameter offsets ${JSON.stringify(offsets)} do not fit a body of ${bodyLength} bytes`)
  }
  const flagsAt = base + offsets.flags
  const timestampAt = base + offsets.timestamp
  const flags = source[flagsAt]!
  let out: Buffer
  if (timestamp !== undefined && (flags & QueryFlag.WithDefaultTimestamp) === 0) {
    out = Buffer.allocUnsafe(source.length + TIMESTAMP_LENGTH)
    source.copy(out, 0, 0, timestampAt)
    out.writeBigInt64BE(timestamp, timestampAt)
    source.copy(out, timestampAt + TIMESTAMP_LENGTH, timestampAt)
    out[flagsAt] = flags | QueryFlag.WithDefaultTimestamp
  } else {
    out = Buffer.from(source)
    if (timestamp !== undefined) out.writeBigInt64BE(timestamp, timestampAt)
  }
  if (consistency !== undefined) out.writeUInt16BE(consistency, base + offsets.consistency)
  return out
}
