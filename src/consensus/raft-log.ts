// The in-memory Raft log: a snapshot (the compacted prefix) followed by entries, with the commit and apply indexes
// and a mark of what the shell has already been handed for persistence.
import type { ClusterConfig, LogEntry, Snapshot } from './raft-message.js'

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  index: 0,
  term: 0,
  config: Object.freeze({ voters: Object.freeze([]), learners: Object.freeze([]) }),
  data: new Uint8Array(0),
})

export interface EntryId {
  readonly index: number
  readonly term: number
}

export class RaftLog {
  #snapshot: Snapshot
  /** #entries[i] has index #snapshot.index + 1 + i. */
  #entries: LogEntry[]
  #committed: number
  #applied: number
  /** First index the shell has not been handed in a Ready yet; entries before it are (being) persisted. */
  #unstableFrom: number
  #snapshotToPersist: Snapshot | null = null
  /** A snapshot received from the leader that the state machine still has to load. */
  #snapshotToApply: Snapshot | null = null

  /** A log restored from storage: everything given is already durable. */
  constructor(snapshot: Snapshot, entries: readonly LogEntry[], committed: number, applied: number) {
    entries.forEach((entry, i) => {
      if (entry.index !== snapshot.index + 1 + i) {
        throw new RangeError(`raft: stored entries must follow the snapshot at ${snapshot.index} without gaps; found ${entry.index}`)
      }
    })
    this.#snapshot = snapshot
    this.#entries = [...entries]
    const last = this.lastIndex()
    if (committed > last) throw new RangeError(`raft: stored commit ${committed} is past the last stored entry ${last}`)
    this.#committed = Math.max(committed, snapshot.index)
    this.#applied = Math.min(Math.max(applied, snapshot.index), this.#committed)
    this.#unstableFrom = last + 1
  }

  get snapshot(): Snapshot {
    return this.#snapshot
  }

  get committed(): number {
    return this.#committed
  }

  get applied(): number {
    return this.#applied
  }

  firstIndex(): number {
    return this.#snapshot.index + 1
  }

  lastIndex(): number {
    return this.#snapshot.index + this.#entries.length
  }

  lastTerm(): number {
    return this.#entries.at(-1)?.term ?? this.#snapshot.term
  }

  lastEntryId(): EntryId {
    return { index: this.lastIndex(), term: this.lastTerm() }
  }

  /** The term of the entry at index, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.#snapshot.index) return this.#snapshot.term
    return this.#entries[index - this.#snapshot.index - 1]?.term
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date when its last term is higher, or equal and not shorter. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm()
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex())
  }

  /** Entries [lo, hi) that are still in memory; lo must be past the snapshot. */
  slice(lo: number, hi: number = this.lastIndex() + 1): LogEntry[] {
    const base = this.#snapshot.index + 1
    if (lo < base) throw new RangeError(`raft: entry ${lo} is compacted (log starts at ${base})`)
    return this.#entries.slice(lo - base, Math.max(hi - base, 0))
  }

  /** Appends entries, first dropping every entry at or after the first new index; committed entries never go. */
  truncateAndAppend(entries: readonly LogEntry[]): void {
    const first = entries[0]
    if (first === undefined) return
    if (first.index <= this.#committed) {
      throw new Error(`raft: refusing to overwrite committed entry ${first.index} (commit ${this.#committed})`)
    }
    if (first.index > this.lastIndex() + 1) throw new RangeError(`raft: entry ${first.index} leaves a gap after ${this.lastIndex()}`)
    this.#entries.length = first.index - this.#snapshot.index - 1
    this.#entries.push(...entries)
    this.#unstableFrom = Math.min(this.#unstableFrom, first.index)
  }

  /**
   * The follower's side of AppendEntries (§5.3): when our log has (prevIndex, prevTerm), drop any conflicting suffix,
   * append what is new, commit up to min(commit, last new index) and return the last new index; else null.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: readonly LogEntry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null
    const lastNew = prevIndex + entries.length
    const conflict = entries.findIndex((e) => !this.matchTerm(e.index, e.term))
    if (conflict >= 0) this.truncateAndAppend(entries.slice(conflict))
    this.commitTo(Math.min(commit, lastNew))
    return lastNew
  }

  /**
   * The last entry at or before `index` whose term is at most `term`: no entry after it can match a log whose
   * entry at `index` has `term`, as terms only grow along a log (etcd's findConflictByTerm).
   */
  findConflictByTerm(index: number, term: number): EntryId {
    for (let i = Math.min(index, this.lastIndex()); ; i--) {
      const ourTerm = this.term(i)
      if (ourTerm === undefined) return { index: i, term: 0 }
      if (ourTerm <= term) return { index: i, term: ourTerm }
    }
  }

  commitTo(index: number): void {
    if (index <= this.#committed) return
    if (index > this.lastIndex()) throw new Error(`raft: commit ${index} is past the last entry ${this.lastIndex()}`)
    this.#committed = index
  }

  /** The leader commits only entries of its own term by counting replicas (§5.4.2). */
  maybeCommit(index: number, term: number): boolean {
    if (index <= this.#committed || this.term(index) !== term) return false
    this.commitTo(index)
    return true
  }

  hasUnstableEntries(): boolean {
    return this.#unstableFrom <= this.lastIndex()
  }

  /** Entries not yet handed to the shell for persistence. */
  unstableEntries(): LogEntry[] {
    return this.hasUnstableEntries() ? this.slice(this.#unstableFrom) : []
  }

  /** Committed entries the state machine has not been given yet. */
  committedEntriesToApply(): LogEntry[] {
    const from = Math.max(this.#applied, this.#snapshotToApply?.index ?? 0) + 1
    return from > this.#committed ? [] : this.slice(from, this.#committed + 1)
  }

  hasCommittedEntriesToApply(): boolean {
    return this.#committed > Math.max(this.#applied, this.#snapshotToApply?.index ?? 0)
  }

  get snapshotToPersist(): Snapshot | null {
    return this.#snapshotToPersist
  }

  get snapshotToApply(): Snapshot | null {
    return this.#snapshotToApply
  }

  /** The shell has persisted everything up to `lastIndex`, the snapshots, and applied entries up to `applied`. */
  markDurable(lastIndex: number, applied: number): void {
    this.#unstableFrom = Math.max(this.#unstableFrom, lastIndex + 1)
    this.#snapshotToPersist = null
    this.#snapshotToApply = null
    this.#applied = Math.max(this.#applied, applied)
  }

  /** Replaces the prefix up to `index` (applied, in memory) with a snapshot the application made of its state. */
  compact(index: number, config: ClusterConfig, data: Uint8Array): Snapshot {
    const term = this.term(index)
    if (term === undefined || index > this.#applied) {
      throw new RangeError(`raft: can only compact applied entries in memory, got ${index} (applied ${this.#applied})`)
    }
    const snapshot: Snapshot = { index, term, config, data }
    this.#entries = this.#entries.slice(index - this.#snapshot.index)
    this.#snapshot = snapshot
    this.#snapshotToPersist = snapshot
    return snapshot
  }

  /** A follower installs the leader's snapshot: the whole log is replaced and the state machine must load it. */
  restore(snapshot: Snapshot): void {
    this.#snapshot = snapshot
    this.#entries = []
    this.#committed = snapshot.index
    this.#unstableFrom = snapshot.index + 1
    this.#snapshotToPersist = snapshot
    this.#snapshotToApply = snapshot
  }
}
