// The values that cross the boundary of the Raft core: log entries, snapshots, persisted state and the messages
// between peers. Plain readonly data, so that the shell can encode them however it likes.

/** A Raft peer's id: a positive integer, stable for the life of the cluster and never reused. */
export type NodeId = number

/**
 * `command`: a proposal of the application; `conf-change`: a membership change (data from encodeConfChange);
 * `noop`: the empty entry a new leader appends to commit its term (Raft §8); the state machine skips it.
 */
export type EntryKind = 'command' | 'conf-change' | 'noop'

export interface LogEntry {
  readonly index: number
  readonly term: number
  readonly kind: EntryKind
  readonly data: Uint8Array
}

/** Voters decide elections and commits; learners receive the log and nothing else. Both sorted ascending. */
export interface ClusterConfig {
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
}

/** The state machine as of `index` (whose entry had `term`), with the membership in force at that index. */
export interface Snapshot {
  readonly index: number
  readonly term: number
  readonly config: ClusterConfig
  readonly data: Uint8Array
}

/** What must be durable before any message of the same Ready leaves the node (Raft §5.1, figure 2). */
export interface HardState {
  readonly term: number
  readonly vote: NodeId | null
  readonly commit: number
}

export type RaftRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

/** Volatile state the shell reports (/status, metrics) but never persists. */
export interface SoftState {
  readonly role: RaftRole
  readonly leaderId: NodeId | null
}

interface Envelope {
  readonly from: NodeId
  readonly to: NodeId
  readonly term: number
}

/** RequestVote (§5.2), or its pre-vote probe (thesis §9.6), which carries the term the candidate would use. */
export interface VoteRequest extends Envelope {
  readonly type: 'vote' | 'pre-vote'
  readonly lastIndex: number
  readonly lastTerm: number
  /** Sent on the leader's TimeoutNow (a leadership transfer): voters grant it despite that leader's lease. */
  readonly transfer?: true
}

export interface VoteResponse extends Envelope {
  readonly type: 'vote-response' | 'pre-vote-response'
  readonly reject: boolean
}

/** AppendEntries (§5.3): entries follow (prevIndex, prevTerm); commit is the leader's commit index. */
export interface AppendRequest extends Envelope {
  readonly type: 'append'
  readonly prevIndex: number
  readonly prevTerm: number
  readonly entries: readonly LogEntry[]
  readonly commit: number
}

/**
 * Accepted: `index` is the follower's last index matching the leader. Rejected: `index` is the rejected prevIndex,
 * and (rejectHint, hintTerm) the follower's guess of the last entry that may match (etcd's fast backtracking).
 */
export interface AppendResponse extends Envelope {
  readonly type: 'append-response'
  readonly index: number
  readonly reject: boolean
  readonly rejectHint: number
  readonly hintTerm: number
}

/** Empty AppendEntries. `round` numbers the leader's broadcasts; the response echoes it for reads and the lease. */
export interface Heartbeat extends Envelope {
  readonly type: 'heartbeat'
  readonly commit: number
  readonly round: number
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeat-response'
  readonly round: number
}

/** InstallSnapshot (§7), sent whole; the follower answers with an append-response. */
export interface SnapshotRequest extends Envelope {
  readonly type: 'snapshot'
  readonly snapshot: Snapshot
}

/** Leadership transfer (thesis §3.10): the leader tells a follower whose log matches its own to campaign at once. */
export interface TimeoutNow extends Envelope {
  readonly type: 'timeout-now'
}

export type RaftMessage =
  VoteRequest | VoteResponse | AppendRequest | AppendResponse | Heartbeat | HeartbeatResponse | SnapshotRequest | TimeoutNow

export type RaftMessageType = RaftMessage['type']
