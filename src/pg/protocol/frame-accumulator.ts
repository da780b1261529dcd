const EMPTY = Buffer.alloc(0)
/** First allocation for a frame that spans chunks; it then doubles, capped at the frame's declared size. */
const INITIAL_CAPACITY = 16 * 1024

/**
 * Collects the bytes of one frame that arrived split over several chunks. The buffer grows geometrically up to the
 * frame's declared length, so a peer that announces a large frame and trickles it in gets no more memory than it
 * has sent (times two), and a large frame costs O(n) copying, not O(n²).
 */
export class FrameAccumulator {
  private buffer: Buffer = EMPTY
  private filled = 0
  private target = 0

  /** True between `begin` and `take`/`clear`. */
  get active(): boolean {
    return this.target > 0
  }

  /** Bytes collected so far; they start at index 0 of `bytes`. */
  get length(): number {
    return this.filled
  }

  get complete(): boolean {
    return this.filled === this.target
  }

  /** The backing buffer, for reading a header in place; only `[0, length)` is meaningful. */
  get bytes(): Buffer {
    return this.buffer
  }

  /** Starts a frame of which `target` bytes are wanted for now (the header size, or the whole frame). */
  begin(target: number): void {
    this.target = target
    this.filled = 0
    this.buffer = Buffer.allocUnsafe(Math.min(target, INITIAL_CAPACITY))
  }

  /** Raises the wanted size once the header has told the frame's length. */
  expect(target: number): void {
    this.target = target
  }

  /** Copies what it still wants from `source[from, to)`; returns how many bytes it took. */
  append(source: Buffer, from: number, to: number): number {
    const count = Math.min(to - from, this.target - this.filled)
    if (count <= 0) return 0
    const needed = this.filled + count
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.target, Math.max(needed, this.buffer.length * 2, INITIAL_CAPACITY)))
      this.buffer.copy(grown, 0, 0, this.filled)
      this.buffer = grown
    }
    source.copy(this.buffer, this.filled, from, from + count)
    this.filled = needed
    return count
  }

  /** Hands the collected frame over (the caller owns it from now on) and becomes inactive. */
  take(): Buffer {
    const frame = this.buffer.subarray(0, this.filled)
    this.clear()
    return frame
  }

  clear(): void {
    this.buffer = EMPTY
    this.filled = 0
    this.target = 0
  }
}
