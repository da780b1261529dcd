// The record format of Grey's Raft files: [u32 payload length][u32 CRC-32 of the payload][payload], big-endian.
// An append that a crash cut short leaves a record whose header or payload is incomplete, or whose CRC fails:
// readRecord reports it, and recovery drops it and everything after it (nothing after it was acknowledged).
import { crc32 } from './crc32.js'

export const RECORD_HEADER_BYTES = 8
/** Far above any entry or snapshot Grey writes; a larger length field is damage, not data. */
export const MAX_RECORD_PAYLOAD_BYTES = 256 * 1024 * 1024

export type RecordRead =
  | { readonly kind: 'record'; readonly payload: Buffer; readonly end: number }
  | { readonly kind: 'end' }
  /** What is at `offset` is not a whole, intact record; `reason` says why, for the recovery log line. */
  | { readonly kind: 'damaged'; readonly reason: string }

export function encodeRecord(payload: Uint8Array): Buffer {
  if (payload.length === 0 || payload.length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(`grey: a raft record payload must be 1 to ${MAX_RECORD_PAYLOAD_BYTES} bytes, got ${payload.length}`)
  }
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length)
  record.writeUInt32BE(payload.length, 0)
  record.writeUInt32BE(crc32(payload), 4)
  record.set(payload, RECORD_HEADER_BYTES)
  return record
}

/** The record starting at `offset` of `bytes`. */
export function readRecord(bytes: Buffer, offset: number): RecordRead {
  const left = bytes.length - offset
  if (left === 0) return { kind: 'end' }
  if (left < RECORD_HEADER_BYTES) return { kind: 'damaged', reason: `a record header cut short (${left} of ${RECORD_HEADER_BYTES} bytes)` }
  const length = bytes.readUInt32BE(offset)
  // Zero length is never written; a run of zero bytes (a torn, pre-allocated block) would otherwise pass the CRC.
  if (length === 0 || length > MAX_RECORD_PAYLOAD_BYTES) return { kind: 'damaged', reason: `an impossible record length ${length}` }
  if (left - RECORD_HEADER_BYTES < length) {
    return { kind: 'damaged', reason: `a record cut short (${left - RECORD_HEADER_BYTES} of ${length} payload bytes)` }
  }
  const payload = bytes.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length)
  if (crc32(payload) !== bytes.readUInt32BE(offset + 4)) return { kind: 'damaged', reason: 'a CRC mismatch' }
  return { kind: 'record', payload, end: offset + RECORD_HEADER_BYTES + length }
}
