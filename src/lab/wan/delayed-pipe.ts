import type { Socket } from 'node:net'

/** Above this many queued bytes the source is paused (TCP backpressure instead of unbounded memory). */
const HIGH_WATER_BYTES = 8 * 1024 * 1024
const LOW_WATER_BYTES = 1024 * 1024

export interface PipeLink {
  /** One-way delay for a chunk read now, jitter included; called once per chunk. */
  delayMs(): number
  /** True while the link is partitioned: nothing moves and nothing is lost. */
  isCut(): boolean
}

/**
 * Moves bytes one way from `src` to `dst`, each chunk delivered `delayMs` after it was read,
 * never reordered. While the link is cut the source is not read and the queue is held, so the
 * sender stalls as behind a real partition; on heal everything flows on.
 */
export class DelayedPipe {
  /** `chunk: null` is the source's end (or failure), delivered after the data like a FIN. */
  private readonly queue: Array<{ dueMs: number; chunk: Buffer | null }> = []
  private queuedBytes = 0
  private lastDueMs = 0
  private timer: NodeJS.Timeout | null = null
  private srcEnded = false
  private srcFailed = false

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly link: PipeLink,
  ) {
    src.on('data', (chunk: Buffer) => this.push(chunk))
    src.on('error', () => {
      this.srcFailed = true
    })
    src.on('close', () => this.push(null))
    dst.on('drain', () => this.pump())
  }

  private push(chunk: Buffer | null): void {
    if (this.srcEnded) return
    if (chunk === null) this.srcEnded = true
    const dueMs = Math.max(Date.now() + this.link.delayMs(), this.lastDueMs)
    this.lastDueMs = dueMs
    this.queue.push({ dueMs, chunk })
    if (chunk) {
      this.queuedBytes += chunk.length
      if (this.queuedBytes > HIGH_WATER_BYTES) this.src.pause()
    }
    this.pump()
  }

  /** Delivers what is due; called on data, on timers, on drain and on heal. */
  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.link.isCut()) {
      this.src.pause()
      return
    }
    const now = Date.now()
    let head = this.queue[0]
    while (head && head.dueMs <= now) {
      this.queue.shift()
      if (head.chunk === null) {
        if (this.srcFailed) this.dst.destroy()
        else this.dst.end()
        return
      }
      this.queuedBytes -= head.chunk.length
      if (!this.dst.destroyed && !this.dst.write(head.chunk)) return
      head = this.queue[0]
    }
    if (head) this.timer = setTimeout(() => this.pump(), head.dueMs - now)
    if (this.queuedBytes < LOW_WATER_BYTES && !this.srcEnded && this.src.isPaused()) this.src.resume()
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}
