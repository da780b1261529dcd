import type { Logger } from 'pino'
import { formatHlc, type HybridLogicalClock } from '../clock/hlc.js'
import type { PartitionQueueMetrics } from './partition-queue-metrics.js'
import type { QueueStore } from './queue-store.js'
import type { QueuedWrite } from './queued-write.js'
import { replayOrder } from './replay-plan.js'
import type { ReplaySession, WriteReplayer } from './write-replayer.js'

export interface ReplayQueueOptions {
  readonly store: QueueStore
  readonly region: string
  readonly instanceId: string
  readonly clock: HybridLogicalClock
  readonly maxEntries: number
  readonly replayIntervalMs: number
  /** True while this region is cut off from the Raft majority: nothing is replayed then. */
  readonly isCutOff: () => boolean
  readonly metrics: PartitionQueueMetrics
  readonly log: Logger
}

/** What one replay pass did. */
export interface ReplayReport {
  replayed: number
  duplicates: number
  deadLettered: number
  /** Why the pass stopped early (a transient failure), or null. */
  stoppedBy: string | null
}

/**
 * The durable write queue of a region cut off from the Raft majority, for one protocol (its `replayer`): appends what
 * sessions queue, and every replay_interval, once the region hears a majority again, replays it in HLC order.
 */
export class ReplayQueue<W extends QueuedWrite, Input> {
  /** Why nothing can be queued now (the store is not open, or cannot keep writes durably), or null. */
  private problem: string | null = 'grey: the partition queue is still opening; retry shortly'
  private timer: NodeJS.Timeout | null = null
  private replaying: Promise<ReplayReport> | null = null
  private opening: Promise<void> | null = null
  /** Appends not yet durable. */
  private readonly appending = new Set<Promise<void>>()

  constructor(
    private readonly o: ReplayQueueOptions,
    private readonly replayer: WriteReplayer<W, Input>,
  ) {}

  get depth(): number {
    return this.writes().length
  }

  /** This protocol's writes in the store (a store holds one protocol's; anything else there is left alone). */
  private writes(): W[] {
    return this.o.store.entries().filter((w): w is W => w.protocol === this.replayer.protocol)
  }

  async start(): Promise<void> {
    await this.open()
    this.timer = setInterval(() => void this.tick(), this.o.replayIntervalMs)
    this.timer.unref()
  }

  /** Opens the store; a store that could not be opened (Redis down, a bad directory) is tried again every tick. */
  private async open(): Promise<void> {
    const problem = await this.o.store.open()
    if (problem !== null && problem !== this.problem) this.o.log.error({ store: this.o.store.kind }, problem)
    if (problem === null && this.problem !== null) this.o.log.info({ store: this.o.store.kind, depth: this.depth }, 'partition queue open')
    this.problem = problem
    this.showDepth()
  }

  private async tick(): Promise<void> {
    if (this.problem !== null && this.opening === null) {
      this.opening = this.open().finally(() => (this.opening = null))
      await this.opening
    }
    await this.replay()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.opening
    await this.replaying
    await this.o.store.close()
  }

  /** Queues a write durably: the stored write, or why it cannot be queued (a sentence for the client). */
  async enqueue(input: Input): Promise<W | string> {
    if (this.problem !== null) return this.problem
    if (this.depth >= this.o.maxEntries) {
      return `grey: the partition queue is full (partition.queue.max_entries = ${this.o.maxEntries}); nothing more is queued until the region rejoins`
    }
    // A stamp Cassandra's microseconds carry exactly (logical < 1000); for PostgreSQL it is an HLC stamp like any other.
    const stamp = this.o.clock.nowForCassandra()
    const hlc = formatHlc(stamp)
    const base = { id: `${this.o.instanceId}-${hlc}`, hlc, region: this.o.region, queuedAt: new Date().toISOString() }
    const write = this.replayer.entry(base, stamp, input)
    const appended = this.o.store.append(write)
    this.appending.add(appended)
    try {
      await appended
    } catch (error) {
      this.o.log.error({ err: (error as Error).message, store: this.o.store.kind }, 'a write could not be queued')
      return `grey: the write could not be stored in the partition queue (${(error as Error).message}); it was not queued`
    } finally {
      this.appending.delete(appended)
    }
    this.o.metrics.writes.inc({ protocol: this.replayer.protocol, outcome: 'queued' })
    this.showDepth()
    return write
  }

  /** One replay pass, unless one is running, the region is still cut off, or nothing is queued. */
  replay(): Promise<ReplayReport> {
    const idle: ReplayReport = { replayed: 0, duplicates: 0, deadLettered: 0, stoppedBy: null }
    if (this.replaying !== null) return this.replaying
    if (this.problem !== null || this.depth === 0 || this.o.isCutOff()) return Promise.resolve(idle)
    this.replaying = this.replayAll(idle).finally(() => (this.replaying = null))
    return this.replaying
  }

  private async replayAll(report: ReplayReport): Promise<ReplayReport> {
    const target = this.replayer.target()
    let session: ReplaySession<W> | null = null
    try {
      session = await this.replayer.open()
      // A write stamped before the region rejoined may still be on its way to the store: it must not be overtaken.
      await Promise.allSettled(this.appending)
      for (const write of replayOrder(this.writes())) {
        if (this.o.isCutOff()) {
          report.stoppedBy = 'the region is cut off again'
          break
        }
        const outcome = await this.replayOne(session, write)
        if (outcome === null) {
          report.deadLettered++
        } else if (typeof outcome === 'object') {
          report.stoppedBy = outcome.transient
          break
        } else if (outcome === 'replayed') report.replayed++
        else report.duplicates++
        this.showDepth()
      }
    } catch (error) {
      report.stoppedBy = (error as Error).message
    } finally {
      session?.close()
    }
    const { replayed, duplicates, deadLettered, stoppedBy } = report
    if (replayed + duplicates + deadLettered > 0 || stoppedBy !== null) {
      const left = this.depth
      this.o.log.info({ target, replayed, duplicates, deadLettered, left, stoppedBy }, 'partition queue replayed')
    }
    return report
  }

  /** Replays one write and takes it off the queue; null when it was dead-lettered, its reason when the pass must stop. */
  private async replayOne(session: ReplaySession<W>, write: W): Promise<'replayed' | 'duplicate' | { transient: string } | null> {
    const outcome = await session.replay(write)
    const protocol = this.replayer.protocol
    if (typeof outcome === 'object') {
      if ('transient' in outcome) return { transient: `write ${write.id}: ${outcome.transient}` }
      this.o.log.error({ id: write.id, hlc: write.hlc, err: outcome.permanent }, 'a queued write failed; dead-lettered')
      await this.o.store.deadLetter(write, outcome.permanent)
      this.o.metrics.writes.inc({ protocol, outcome: 'dead_letter' })
      return null
    }
    await this.o.store.remove(write.id)
    this.o.metrics.writes.inc({ protocol, outcome })
    return outcome
  }

  private showDepth(): void {
    this.o.metrics.depth.set({ protocol: this.replayer.protocol }, this.depth)
  }
}
