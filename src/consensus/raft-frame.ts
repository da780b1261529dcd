// Frames of the Raft transport: [u32 body length][HMAC-SHA256(secret, body), 32 bytes][body]. A peer that does not
// hold the cluster's secret cannot produce a frame the receiver accepts.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const FRAME_MAC_BYTES = 32
export const FRAME_HEADER_BYTES = 4 + FRAME_MAC_BYTES
/** A snapshot of the cluster state is the largest body; far below this. */
export const MAX_FRAME_BODY_BYTES = 64 * 1024 * 1024

export function frameMac(secret: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(body).digest()
}

export function encodeFrame(secret: string, body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length)
  frame.writeUInt32BE(body.length, 0)
  frame.set(frameMac(secret, body), 4)
  frame.set(body, FRAME_HEADER_BYTES)
  return frame
}

export interface DecodedFrames {
  /** Bodies of the whole, authentic frames received so far, in order. */
  readonly frames: Buffer[]
  /** Set when the stream went bad; nothing after that point can be trusted, so the connection must close. */
  readonly error: string | null
}

/** Splits a byte stream into frames and checks each one's HMAC. */
export class FrameDecoder {
  readonly #secret: string
  readonly #maxBodyBytes: number
  #pending: Buffer = Buffer.alloc(0)
  #failed = false

  constructor(secret: string, maxBodyBytes = MAX_FRAME_BODY_BYTES) {
    this.#secret = secret
    this.#maxBodyBytes = maxBodyBytes
  }

  push(chunk: Buffer): DecodedFrames {
    if (this.#failed) return { frames: [], error: 'the stream already failed' }
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const frames: Buffer[] = []
    let offset = 0
    let error: string | null = null
    while (this.#pending.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.#pending.readUInt32BE(offset)
      if (length > this.#maxBodyBytes) {
        error = `a frame of ${length} bytes (at most ${this.#maxBodyBytes})`
        break
      }
      if (this.#pending.length - offset < FRAME_HEADER_BYTES + length) break
      const mac = this.#pending.subarray(offset + 4, offset + FRAME_HEADER_BYTES)
      const body = this.#pending.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length)
      if (!timingSafeEqual(mac, frameMac(this.#secret, body))) {
        error = 'a frame whose HMAC does not match (the peer has another consensus.raft.secret)'
        break
      }
      frames.push(Buffer.from(body))
      offset += FRAME_HEADER_BYTES + length
    }
    if (error !== null) {
      this.#failed = true
      this.#pending = Buffer.alloc(0)
    } else {
      this.#pending = this.#pending.subarray(offset)
    }
    return { frames, error }
  }
}
