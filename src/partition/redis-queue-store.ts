import { Redis } from 'ioredis'
import { decodeQueuedWrite, encodeQueuedWrite, type QueuedWrite } from './queued-write.js'
import type { DeadLetter, QueueStore } from './queue-store.js'

/** Whether a Redis fsyncs every write before it answers, from CONFIG GET appendonly / appendfsync: null, or why not. */
export function redisDurabilityProblem(url: string, appendonly: string | undefined, appendfsync: string | undefined): string | null {
  if (appendonly === 'yes' && appendfsync === 'always') return null
  return (
    `grey: the Redis at ${url} does not fsync every write (appendonly ${appendonly ?? '?'}, appendfsync ${appendfsync ?? '?'}), ` +
    'so a queued write could be lost in a crash after the client was told it is queued; nothing is queued. ' +
    'Set appendonly yes and appendfsync always on it, or use partition.queue.store: file'
  )
}

/**
 * The queue as a Redis stream (one entry per write, field w = the write's JSON) on a Redis configured to fsync every
 * write (checked at open: appendonly yes, appendfsync always), so XADD answers only once the entry is on disk. Dead
 * letters go to a second stream.
 */
export class RedisQueueStore implements QueueStore {
  readonly kind = 'redis'
  readonly key: string
  readonly deadLetterKey: string
  /** Stream entries that were not queued writes, skipped at open. */
  readonly skipped: string[] = []
  private readonly redis: Redis
  /** Write id → its stream entry id, in append order. */
  private readonly writes = new Map<string, { write: QueuedWrite; streamId: string }>()

  /** `suffix` names the stream of a second queue of the same Grey (the CQL front end's: `:cql`). */
  constructor(
    readonly url: string,
    instanceId: string,
    suffix = '',
  ) {
    this.key = `grey:partition-queue:${instanceId}${suffix}`
    this.deadLetterKey = `${this.key}:dead-letter`
    this.redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 2000,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 1000,
    })
    // Errors reach the callers of each command; the client reconnects by itself.
    this.redis.on('error', () => undefined)
  }

  async open(): Promise<string | null> {
    try {
      // Opened again after a failure, the client is already (re)connecting: the commands wait for it.
      if (this.redis.status === 'wait') await this.redis.connect()
      this.writes.clear()
      this.skipped.length = 0
      const [, appendonly] = (await this.redis.config('GET', 'appendonly')) as string[]
      const [, appendfsync] = (await this.redis.config('GET', 'appendfsync')) as string[]
      const problem = redisDurabilityProblem(this.url, appendonly, appendfsync)
      if (problem !== null) return problem
      for (const [streamId, fields] of await this.redis.xrange(this.key, '-', '+')) {
        const write = decodeQueuedWrite(String(fields[1]))
        if (write instanceof Error) this.skipped.push(`${streamId}: ${write.message}`)
        else this.writes.set(write.id, { write, streamId })
      }
      return null
    } catch (error) {
      return `grey: the partition queue's Redis at ${this.url} cannot be used (${(error as Error).message}); nothing is queued`
    }
  }

  entries(): readonly QueuedWrite[] {
    return [...this.writes.values()].map((e) => e.write)
  }

  async append(write: QueuedWrite): Promise<void> {
    const streamId = await this.redis.xadd(this.key, '*', 'w', encodeQueuedWrite(write))
    this.writes.set(write.id, { write, streamId: streamId! })
  }

  async remove(id: string): Promise<void> {
    const entry = this.writes.get(id)
    if (entry === undefined) return
    await this.redis.xdel(this.key, entry.streamId)
    this.writes.delete(id)
  }

  async deadLetter(write: QueuedWrite, reason: string): Promise<void> {
    const letter: DeadLetter = { write, reason, at: new Date().toISOString() }
    await this.redis.xadd(this.deadLetterKey, '*', 'd', JSON.stringify(letter))
    await this.remove(write.id)
  }

  async close(): Promise<void> {
    this.redis.disconnect()
  }
}
