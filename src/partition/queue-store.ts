import type { QueuedWrite } from './queued-write.js'

/**
 * Where a cut-off region keeps the writes it queued: durable before `append` resolves (fsync), so a queued answer is
 * never given for a write a crash could lose. One Grey's queue: only it appends and replays.
 */
export interface QueueStore {
  readonly kind: 'redis' | 'file'
  /** Loads what is stored and checks that the store keeps writes durably: null, or why it cannot (nothing is queued then). */
  open(): Promise<string | null>
  append(write: QueuedWrite): Promise<void>
  /** The queued writes, in the order they were appended. */
  entries(): readonly QueuedWrite[]
  /** The write was replayed (or found replayed): it leaves the queue. */
  remove(id: string): Promise<void>
  /** The write failed for good: it moves to the dead-letter list with the reason. */
  deadLetter(write: QueuedWrite, reason: string): Promise<void>
  close(): Promise<void>
}

/** A dead letter as stored: the write, why it could not be applied, and when. */
export interface DeadLetter {
  readonly write: QueuedWrite
  readonly reason: string
  readonly at: string
}
