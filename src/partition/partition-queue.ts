import type { Logger } from 'pino'
import { serialize } from 'pg-protocol/dist/serializer'
import { formatHlc, type HybridLogicalClock } from '../clock/hlc.js'
import { BackendConnection, type BackendCredentials, type BackendNode } from '../pg/backend/backend-connection.js'
import { BackendMessageType } from '../pg/protocol/backend-message-type.js'
import { commandCompleteTag, FrameAssembler, parseNoticeFields, type BackendFrame } from '../pg/protocol/backend-scanner.js'
import type { PartitionQueueMetrics } from './partition-queue-metrics.js'
import type { QueueStore } from './queue-store.js'
import { paramValue, type QueuedWrite } from './queued-write.js'
import { CREATE_APPLIED_TABLE, markerIsNew, replayFailure, replayOrder, replayPrelude } from './replay-plan.js'

export interface PartitionQueueOptions {
  readonly store: QueueStore
  readonly region: string
  readonly instanceId: string
  readonly clock: HybridLogicalClock
  readonly maxEntries: number
  readonly replayIntervalMs: number
  /** Each replay step must answer within this, else the connection is dropped and the replay retried later. */
  readonly statementTimeoutMs: number
  /** True while this region is cut off from the Raft majority: nothing is replayed then. */
  readonly isCutOff: () => boolean
  /** The PostgreSQL primary the cluster view names now. */
  readonly primary: () => BackendNode
  readonly credentials: BackendCredentials
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

/** What a client's write is queued with; the queue adds the id, the HLC stamp and the time. */
export type QueueInput = Omit<QueuedWrite, 'id' | 'hlc' | 'queuedAt' | 'protocol' | 'region'>

/**
 * The durable write queue of a region cut off from the Raft majority (PostgreSQL): appends what sessions queue, and
 * every replay_interval, once the region hears a majority again, replays it to the primary in HLC order, exactly once.
 */
export class PartitionQueue {
  /** Why nothing can be queued now (the store is not open, or cannot keep writes durably), or null. */
  private problem: string | null = 'grey: the partition queue is still opening; retry shortly'
  private timer: NodeJS.Timeout | null = null
  private replaying: Promise<ReplayReport> | null = null
  private opening: Promise<void> | null = null
  /** Appends not yet durable. */
  private readonly appending = new Set<Promise<void>>()

  constructor(private readonly o: PartitionQueueOptions) {}

  get depth(): number {
    return this.o.store.entries().length
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
  async enqueue(input: QueueInput): Promise<QueuedWrite | string> {
    if (this.problem !== null) return this.problem
    if (this.depth >= this.o.maxEntries) {
      return `grey: the partition queue is full (partition.queue.max_entries = ${this.o.maxEntries}); nothing more is queued until the region rejoins`
    }
    const hlc = formatHlc(this.o.clock.now())
    const write: QueuedWrite = {
      id: `${this.o.instanceId}-${hlc}`,
      hlc,
      protocol: 'pg',
      region: this.o.region,
      ...input,
      queuedAt: new Date().toISOString(),
    }
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
    this.o.metrics.writes.inc({ protocol: 'pg', outcome: 'queued' })
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
    const node = this.o.primary()
    let conn: BackendConnection | null = null
    try {
      conn = await BackendConnection.connect(node, this.o.credentials, {
        timeoutMs: this.o.statementTimeoutMs,
        applicationName: 'grey partition queue',
      })
      // A write stamped before the region rejoined may still be on its way to the store: it must not be overtaken.
      await Promise.allSettled(this.appending)
      const created = await this.exchange(conn, serialize.query(CREATE_APPLIED_TABLE))
      if (created.error) throw new Error(created.error.message)
      for (const write of replayOrder(this.o.store.entries())) {
        if (this.o.isCutOff()) {
          report.stoppedBy = 'the region is cut off again'
          break
        }
        const outcome = await this.replayOne(conn, write)
        if (typeof outcome === 'object') {
          report.stoppedBy = outcome.transient
          break
        }
        if (outcome === 'replayed') report.replayed++
        else if (outcome === 'duplicate') report.duplicates++
        else report.deadLettered++
        this.showDepth()
      }
    } catch (error) {
      report.stoppedBy = (error as Error).message
    } finally {
      conn?.terminate()
    }
    const { replayed, duplicates, deadLettered, stoppedBy } = report
    if (replayed + duplicates + deadLettered > 0 || stoppedBy !== null) {
      const left = this.depth
      this.o.log.info({ primary: node.region, replayed, duplicates, deadLettered, left, stoppedBy }, 'partition queue replayed')
    }
    return report
  }

  /** Replays one write in a transaction of its own; a transient failure stops the pass with its reason. */
  private async replayOne(
    conn: BackendConnection,
    write: QueuedWrite,
  ): Promise<'replayed' | 'duplicate' | 'dead_letter' | { transient: string }> {
    const prelude = await this.exchange(conn, serialize.query(replayPrelude(write)))
    let failure = prelude.error
    const isNew = failure === null && markerIsNew(prelude.tags[prelude.tags.length - 1])
    if (failure === null && isNew) {
      const statement =
        write.mode === 'simple'
          ? serialize.query(write.sql)
          : Buffer.concat([
              serialize.parse({ text: write.sql, types: [...write.paramTypes] }),
              serialize.bind({ values: write.params.map(paramValue) }),
              serialize.execute(),
              serialize.sync(),
            ])
      failure = (await this.exchange(conn, statement)).error
    }
    const end = await this.exchange(conn, serialize.query(failure === null ? 'COMMIT' : 'ROLLBACK'))
    // COMMIT itself can fail (a deferred constraint): that is the write's failure too.
    failure ??= end.error
    if (failure !== null) {
      if (replayFailure(failure.code) === 'transient') return { transient: `write ${write.id}: ${failure.message}` }
      this.o.log.error({ id: write.id, hlc: write.hlc, code: failure.code, err: failure.message }, 'a queued write failed; dead-lettered')
      await this.o.store.deadLetter(write, `${failure.code}: ${failure.message}`)
      this.o.metrics.writes.inc({ protocol: 'pg', outcome: 'dead_letter' })
      return 'dead_letter'
    }
    await this.o.store.remove(write.id)
    this.o.metrics.writes.inc({ protocol: 'pg', outcome: isNew ? 'replayed' : 'duplicate' })
    return isNew ? 'replayed' : 'duplicate'
  }

  /** Sends `bytes` and collects the command tags and the first error up to ReadyForQuery; a lost connection throws. */
  private exchange(
    conn: BackendConnection,
    bytes: Buffer,
  ): Promise<{ tags: string[]; error: { code: string | null; message: string } | null }> {
    return new Promise((resolve, reject) => {
      if (conn.isClosed) return reject(new Error('the connection to the primary is closed'))
      const tags: string[] = []
      let error: { code: string | null; message: string } | null = null
      const assembler = new FrameAssembler()
      const timer = setTimeout(() => conn.close(new Error(`no answer within ${this.o.statementTimeoutMs} ms`)), this.o.statementTimeoutMs)
      conn.onFrame = (piece: BackendFrame) => {
        if (piece.type === BackendMessageType.ReadyForQuery) {
          if (!piece.tail) return
          clearTimeout(timer)
          conn.onFrame = null
          conn.onClose = null
          return resolve({ tags, error })
        }
        if (piece.type !== BackendMessageType.CommandComplete && piece.type !== BackendMessageType.ErrorResponse) return
        const frame = assembler.push(piece)
        if (!frame) return
        if (frame.type === BackendMessageType.CommandComplete) tags.push(commandCompleteTag(frame))
        else if (error === null) {
          const f = parseNoticeFields(frame)
          error = { code: f.code ?? null, message: f.message ?? 'unknown error' }
        }
      }
      conn.onClose = (err) => {
        clearTimeout(timer)
        conn.onFrame = null
        reject(err ?? new Error('the connection to the primary closed'))
      }
      conn.write(bytes)
    })
  }

  private showDepth(): void {
    this.o.metrics.depth.set({ protocol: 'pg' }, this.depth)
  }
}
