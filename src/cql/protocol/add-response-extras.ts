import { CqlBufferWriter } from './cql-buffer-writer.js'
import { decodeResponseExtras } from './decode-response.js'
import { FRAME_HEADER_LENGTH, FrameFlag, type FrameHeader } from './frame-header.js'

export interface AddedExtras {
  /** Appended to the response's own warnings. */
  readonly warnings?: readonly string[]
  /** Merged into the response's own custom payload; Grey's entries win on a shared key. */
  readonly customPayload?: ReadonlyMap<string, Uint8Array>
}

/**
 * A relayed response frame with warnings and custom-payload entries added (v4 spec §2.2: tracing id, warnings, custom
 * payload, then the message). The message bytes are copied as they are. v3 has neither extra: the frame is returned
 * unchanged, as it is when there is nothing to add.
 */
export function addResponseExtras(header: FrameHeader, frame: Buffer, extras: AddedExtras): Buffer {
  const warnings = extras.warnings ?? []
  const payload = extras.customPayload ?? new Map<string, Uint8Array>()
  if (header.version < 4 || (warnings.length === 0 && payload.size === 0)) return frame
  const body = frame.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + header.bodyLength)
  const own = decodeResponseExtras(header, body)
  const allWarnings = [...(own.warnings ?? []), ...warnings]
  const allPayload = new Map<string, Uint8Array | null>([...(own.customPayload ?? []), ...payload])
  const flags = header.flags | (allWarnings.length > 0 ? FrameFlag.Warning : 0) | (allPayload.size > 0 ? FrameFlag.CustomPayload : 0)
  const writer = new CqlBufferWriter(body.length + 256)
  writer.startFrame(frame[0]!, flags, header.stream, header.opcode)
  if (own.tracingId !== undefined) writer.uuid(own.tracingId)
  if (allWarnings.length > 0) writer.stringList(allWarnings)
  if (allPayload.size > 0) writer.bytesMap(allPayload)
  writer.raw(body.subarray(own.messageOffset))
  return writer.endFrame().toBuffer()
}
