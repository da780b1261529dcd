// What the leader knows about one follower's log, and how fast it may send to it (etcd's tracker.Progress).

/**
 * `probe`: the match is unknown; one append per heartbeat interval until a reply says where the logs meet.
 * `replicate`: the follower keeps up; appends stream optimistically, at most maxInflight unacknowledged.
 * `snapshot`: the entries it needs are compacted; appends wait until it has installed the snapshot.
 */
export type ReplicationState = 'probe' | 'replicate' | 'snapshot'

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0
  /** Index of the next entry to send. */
  next: number
  state: ReplicationState = 'probe'
  /**
   * Probe: an append is outstanding. Replicate: the in-flight window is full. Either way nothing more is sent until a
   * reply; a heartbeat reply lifts it so that one (possibly empty) append can recover from lost messages.
   */
  paused = false
  pendingSnapshot = 0
  snapshotSentTick = 0
  /** Heard from since the last check-quorum round. */
  recentActive: boolean
  /** Highest heartbeat round the follower has answered, and the leader tick at which that round was sent. */
  ackedRound = 0
  ackedRoundTick = Number.NEGATIVE_INFINITY
  /** Highest commit index sent to the follower, so a reply can tell whether it still lacks the current one. */
  sentCommit = 0
  /** Last index of each unacknowledged append in replicate state, oldest first. */
  readonly inflights: number[] = []

  constructor(
    next: number,
    readonly maxInflight: number,
    recentActive: boolean,
  ) {
    this.next = next
    this.recentActive = recentActive
  }

  becomeProbe(): void {
    const fromSnapshot = this.state === 'snapshot' ? this.pendingSnapshot : 0
    this.#resetState('probe')
    // After a snapshot the follower has at least pendingSnapshot unless it was lost; probing there finds out.
    this.next = Math.max(this.match + 1, fromSnapshot + 1)
    this.sentCommit = Math.min(this.sentCommit, this.next - 1)
  }

  becomeReplicate(): void {
    this.#resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot(snapshotIndex: number, tick: number): void {
    this.#resetState('snapshot')
    this.pendingSnapshot = snapshotIndex
    this.snapshotSentTick = tick
    this.next = snapshotIndex + 1
    this.sentCommit = snapshotIndex
  }

  /** An append carrying entries up to lastIndex (count of them) went out. */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1
        this.inflights.push(lastIndex)
      }
      this.paused = this.inflightsFull()
    } else if (count > 0) {
      this.paused = true
    }
  }

  /** An accepted append up to n; false when it tells nothing new (a duplicate or reordered reply). */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false
    this.match = n
    this.next = Math.max(this.next, n + 1)
    this.paused = false
    return true
  }

  /**
   * A rejection of the append after `rejected`; the next probe goes to matchHint + 1. False when the rejection is
   * stale (it answers an append sent before the latest change of next).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
    } else {
      if (this.next - 1 !== rejected) return false
      this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
      this.paused = false
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1)
    return true
  }

  /** Acknowledged appends leave the in-flight window. */
  freeInflightsUpTo(index: number): void {
    let acked = 0
    while (acked < this.inflights.length && (this.inflights[acked] as number) <= index) acked++
    this.inflights.splice(0, acked)
  }

  inflightsFull(): boolean {
    return this.inflights.length >= this.maxInflight
  }

  isPaused(): boolean {
    return this.state === 'snapshot' || this.paused
  }

  /** True when the follower may lack commit index `commit` and is matched far enough to be told it. */
  canBumpCommit(commit: number): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1
  }

  #resetState(state: ReplicationState): void {
    this.state = state
    this.paused = false
    this.pendingSnapshot = 0
    this.inflights.length = 0
  }
}
