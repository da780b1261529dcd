// Refusals the core returns as values (STYLE §7): each names the cause and what the caller can do about it.
import type { NodeId } from './raft-message.js'

/** Proposals and reads go to the leader; `leaderId` is where to forward them, null while no leader is known. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError'
  readonly leaderId: NodeId | null

  constructor(nodeId: NodeId, leaderId: NodeId | null) {
    super(
      leaderId === null
        ? `grey: raft node ${nodeId} is not the leader and knows no leader; retry after the election`
        : `grey: raft node ${nodeId} is not the leader; forward to node ${leaderId}`,
    )
    this.leaderId = leaderId
  }
}

export type ConfChangeRefusal = 'pending' | 'invalid'

/** Only one membership change may be in flight (thesis §4.1), and it must make sense for the current membership. */
export class ConfChangeRefusedError extends Error {
  override readonly name = 'ConfChangeRefusedError'
  readonly reason: ConfChangeRefusal

  constructor(reason: ConfChangeRefusal, detail: string) {
    super(
      reason === 'pending'
        ? `grey: a membership change is still being applied (${detail}); retry after it commits`
        : `grey: membership change refused: ${detail}`,
    )
    this.reason = reason
  }
}

export type ReadRefusal = 'check-quorum-off' | 'no-commit-in-term' | 'lease-expired' | 'lease-handed-over'

/** A lease read needs check-quorum, a commit in the leader's term and a quorum heard from within the lease. */
export class ReadRefusedError extends Error {
  override readonly name = 'ReadRefusedError'
  readonly reason: ReadRefusal

  constructor(reason: ReadRefusal) {
    super(
      reason === 'check-quorum-off'
        ? 'grey: lease reads need consensus.raft.check_quorum; use a ReadIndex read'
        : reason === 'no-commit-in-term'
          ? 'grey: the new raft leader has not committed an entry of its term yet; retry shortly'
          : reason === 'lease-expired'
            ? 'grey: the raft leader has not heard from a quorum within its lease; use a ReadIndex read'
            : 'grey: the raft leader asked another voter to take over in this term, so its lease proves nothing; use a ReadIndex read',
    )
    this.reason = reason
  }
}

export type TransferRefusal = 'self' | 'not-voter'

/** Leadership goes only to another voter. */
export class TransferRefusedError extends Error {
  override readonly name = 'TransferRefusedError'
  readonly reason: TransferRefusal

  constructor(reason: TransferRefusal, to: NodeId) {
    super(
      reason === 'self'
        ? `grey: raft node ${to} leads already; nothing to transfer`
        : `grey: raft node ${to} is not a voter; leadership goes only to a voter`,
    )
    this.reason = reason
  }
}
