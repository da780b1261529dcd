// The PostgreSQL partition queue, as pg-front-end.ts builds it: the protocol-neutral ReplayQueue with PgWriteReplayer.
import { PgWriteReplayer, type PgQueueInput, type PgReplayOptions } from './pg-write-replayer.js'
import type { PgQueuedWrite } from './queued-write.js'
import { ReplayQueue, type ReplayQueueOptions } from './replay-queue.js'

export type { ReplayReport } from './replay-queue.js'

export interface PartitionQueueOptions extends ReplayQueueOptions, PgReplayOptions {}

/** What a client's write is queued with; the queue adds the id, the HLC stamp and the time. */
export type QueueInput = PgQueueInput

/**
 * The durable write queue of a region cut off from the Raft majority (PostgreSQL): appends what sessions queue, and
 * every replay_interval, once the region hears a majority again, replays it to the primary in HLC order, exactly once.
 */
export class PartitionQueue extends ReplayQueue<PgQueuedWrite, PgQueueInput> {
  constructor(o: PartitionQueueOptions) {
    super(o, new PgWriteReplayer(o))
  }
}
