// What the partition queue needs of a protocol: how a client's write becomes a stored entry, and how entries are
// replayed to the database once the region rejoins. The queue (replay-queue.ts) keeps order, durability and metrics.
import type { HlcTimestamp } from '../clock/hlc.js'
import type { QueuedWrite, QueuedWriteBase } from './queued-write.js'

/** How one write's replay ended. permanent: it cannot succeed, dead-letter it; transient: stop the pass, retry later. */
export type ReplayOutcome = 'replayed' | 'duplicate' | { readonly permanent: string } | { readonly transient: string }

/** One replay pass's connections; closed when the pass ends. */
export interface ReplaySession<W extends QueuedWrite> {
  replay(write: W): Promise<ReplayOutcome>
  close(): void
}

export interface WriteReplayer<W extends QueuedWrite, Input> {
  readonly protocol: W['protocol']
  /** The stored write: what the session queued, with the queue's id, HLC stamp (`stamp`, also as `base.hlc`) and time. */
  entry(base: QueuedWriteBase, stamp: HlcTimestamp, input: Input): W
  /** Where writes are replayed now, for the log. */
  target(): string
  /** Opens what a pass replays through; throwing stops the pass (transient). */
  open(): Promise<ReplaySession<W>>
}
