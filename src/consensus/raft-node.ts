// The pure Raft core, shaped like etcd-io/raft: one `step(message)` entry, per-role step functions, `tick()` for
// time and an injected `random()` for election jitter. It owns no socket, timer or file; the shell drives it:
//
//   1. Feed it: `tick()` every tick interval (e.g. 50 ms), `step(message)` for every message received from a peer,
//      `propose(data)` / `proposeConfChange(change)` / `readIndex(id)` for clients (NotLeaderError names the leader
//      to forward to), `compact(index, snapshotData)` after the state machine has taken a snapshot at `index`.
//   2. When `hasReady()`, take `ready()` and, in this order:
//      a. persist, then fsync: `snapshotToPersist` first and atomically (drop stored entries up to its index; when
//         `snapshotToApply` is the same snapshot it came from the leader and replaces the whole stored log), then
//         `entriesToPersist` (drop stored entries from the first one's index on, then append), then `hardState`
//         last, so that a stored commit index never points past the stored entries. A crash in the middle may lose a
//         tail of what this Ready wrote; that is safe, because nothing of it was sent yet;
//      b. send `messages`, only now, so that nothing is acknowledged before it is durable (Raft §5.1, thesis §3.8);
//      c. load `snapshotToApply` into the state machine, then apply `committedEntriesToApply` in order (skip `noop`
//         entries; the core applies `conf-change` entries to the membership itself, in advance());
//      d. answer `readStates`: the read with that request id may be served once the state machine has applied
//         `index`;
//      e. call `advance()`.
//   Between ready() and advance() the core accepts no input: queue messages, ticks and proposals meanwhile.
// Restart: build a new RaftNode with `storage` holding the persisted hard state, snapshot and entries (and the
// state machine's applied index if it persists one; otherwise the committed entries after the snapshot come again).
import { applyConfChange, assertNodeId, confChangeProblem, decodeConfChange, encodeConfChange, normalizeConfig } from './conf-change.js'
import type { ConfChange } from './conf-change.js'
import { ConfChangeRefusedError, NotLeaderError, ReadRefusedError, TransferRefusedError } from './raft-errors.js'
import { EMPTY_SNAPSHOT, RaftLog } from './raft-log.js'
import type {
  AppendRequest,
  AppendResponse,
  ClusterConfig,
  EntryKind,
  HardState,
  Heartbeat,
  HeartbeatResponse,
  LogEntry,
  NodeId,
  RaftMessage,
  RaftRole,
  Snapshot,
  SoftState,
  VoteRequest,
} from './raft-message.js'
import { Progress, type ReplicationState } from './progress.js'
import { majorityOf, majorityValue, tallyVotes } from './quorum.js'

/** What the shell read back from its storage at start-up. */
export interface StoredState {
  readonly hardState: HardState
  readonly snapshot: Snapshot | null
  /** The entries after the snapshot, contiguous. */
  readonly entries: readonly LogEntry[]
  /** Last index the state machine had applied (it must come back with it); default the snapshot's index. */
  readonly applied?: number
}

export interface RaftNodeOptions {
  readonly id: NodeId
  /**
   * The cluster's bootstrap membership, the same on every node, including nodes added later: the membership in
   * force is this, changed by the conf-change entries of the log (or the snapshot's, once there is one).
   */
  readonly voters: readonly NodeId[]
  readonly learners?: readonly NodeId[]
  /** Followers start an election after a random timeout in [electionTicks, 2 * electionTicks). Default 10. */
  readonly electionTicks?: number
  /** The leader sends heartbeats every heartbeatTicks. Default 3. */
  readonly heartbeatTicks?: number
  /** Probe with PreVote before bumping the term (thesis §9.6). Default true. */
  readonly preVote?: boolean
  /** Leader steps down without a quorum heard within an election timeout; voters honour its lease. Default true. */
  readonly checkQuorum?: boolean
  /** Unacknowledged appends per follower in replicate state. Default 64. */
  readonly maxInflight?: number
  /** Entries per append message. Default 64. */
  readonly maxEntriesPerAppend?: number
  /** Uniform in [0, 1): the only source of randomness; inject a seeded one in tests. */
  readonly random: () => number
  readonly storage?: StoredState
}

/** A proposal appended to the leader's log: it is committed when an entry with this index and term is applied. */
export interface AcceptedProposal {
  readonly index: number
  readonly term: number
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly requestId: number
  readonly index: number
}

export interface Ready {
  /** Role or leader changed since the last Ready, else null. */
  readonly softState: SoftState | null
  /** Term, vote or commit changed since the last Ready, else null. */
  readonly hardState: HardState | null
  readonly snapshotToPersist: Snapshot | null
  readonly entriesToPersist: readonly LogEntry[]
  readonly messages: readonly RaftMessage[]
  /** A snapshot from the leader: the state machine replaces its state with it. */
  readonly snapshotToApply: Snapshot | null
  readonly committedEntriesToApply: readonly LogEntry[]
  readonly readStates: readonly ReadState[]
}

export interface ProgressStatus {
  readonly match: number
  readonly next: number
  readonly state: ReplicationState
  readonly paused: boolean
  readonly inflight: number
  readonly recentActive: boolean
}

export interface RaftStatus extends SoftState, HardState {
  readonly id: NodeId
  readonly applied: number
  readonly firstIndex: number
  readonly lastIndex: number
  readonly lastTerm: number
  readonly config: ClusterConfig
  /** The leader's view of every member's log; empty on other roles. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>
}

interface PendingRead {
  readonly requestId: number
  readonly index: number
  readonly round: number
}

/** Lease reads give up this many ticks of the voters' election timeout: one for tick phase, one for clock drift. */
const LEASE_MARGIN_TICKS = 2

export class RaftNode {
  readonly id: NodeId
  readonly #electionTicks: number
  readonly #heartbeatTicks: number
  readonly #preVote: boolean
  readonly #checkQuorum: boolean
  readonly #maxInflight: number
  readonly #maxEntriesPerAppend: number
  readonly #random: () => number

  #term = 0
  #vote: NodeId | null = null
  #role: RaftRole = 'follower'
  #leaderId: NodeId | null = null
  readonly #log: RaftLog
  #config: ClusterConfig
  /** Membership as of each applied change since the snapshot, so that a compaction records the right one. */
  #configHistory: { index: number; config: ClusterConfig }[]

  /** Ticks since this node started; time for leases and snapshot retries. */
  #ticks = 0
  #electionElapsed = 0
  #heartbeatElapsed = 0
  /** Tick of the last message from a leader (0: start-up counts as contact). */
  #leaderContactTick = 0
  #randomizedElectionTimeout = 0
  readonly #votes = new Map<NodeId, boolean>()

  // Leader state.
  readonly #progress = new Map<NodeId, Progress>()
  /** Index of the last conf-change entry; another is refused until it is applied. */
  #pendingConfIndex = 0
  #heartbeatRound = 0
  /** Tick at which each recent heartbeat round was sent, for the lease. */
  readonly #roundTicks = new Map<number, number>()
  /** Round of a heartbeat broadcast still in the outbox; reads arriving now can ride on it. */
  #outboxRound: number | null = null
  #pendingReads: PendingRead[] = []
  #readsAwaitingCommit: number[] = []
  /** The voter leadership is being handed to (thesis §3.10); proposals wait meanwhile. Aborted after an election timeout. */
  #transferee: NodeId | null = null
  /**
   * Whether this leader sent TimeoutNow in its term: voters then grant a vote despite its lease, so its lease no longer
   * stops another leader (a TimeoutNow may arrive late, after the transfer was abandoned); no lease reads this term.
   */
  #leaseGivenUp = false

  #messages: RaftMessage[] = []
  #readStates: ReadState[] = []
  #lastSoftState: SoftState
  #lastHardState: HardState
  #outstanding: Ready | null = null

  constructor(options: RaftNodeOptions) {
    assertNodeId(options.id)
    this.id = options.id
    this.#electionTicks = options.electionTicks ?? 10
    this.#heartbeatTicks = options.heartbeatTicks ?? 3
    if (!Number.isInteger(this.#electionTicks) || this.#electionTicks < LEASE_MARGIN_TICKS + 1) {
      throw new RangeError(`raft: electionTicks must be an integer >= ${LEASE_MARGIN_TICKS + 1}, got ${this.#electionTicks}`)
    }
    if (!Number.isInteger(this.#heartbeatTicks) || this.#heartbeatTicks < 1 || this.#heartbeatTicks >= this.#electionTicks) {
      throw new RangeError(`raft: heartbeatTicks must be an integer in [1, electionTicks), got ${this.#heartbeatTicks}`)
    }
    this.#preVote = options.preVote ?? true
    this.#checkQuorum = options.checkQuorum ?? true
    this.#maxInflight = positiveInteger('maxInflight', options.maxInflight ?? 64)
    this.#maxEntriesPerAppend = positiveInteger('maxEntriesPerAppend', options.maxEntriesPerAppend ?? 64)
    this.#random = options.random

    const stored = options.storage
    const snapshot = stored?.snapshot ?? {
      ...EMPTY_SNAPSHOT,
      config: normalizeConfig({ voters: options.voters, learners: options.learners ?? [] }),
    }
    const hardState = stored?.hardState ?? { term: 0, vote: null, commit: 0 }
    this.#log = new RaftLog(snapshot, stored?.entries ?? [], hardState.commit, stored?.applied ?? snapshot.index)
    this.#term = hardState.term
    this.#vote = hardState.vote
    this.#config = snapshot.config
    this.#configHistory = [{ index: snapshot.index, config: snapshot.config }]
    // Conf changes the state machine had applied before the restart are in force again.
    for (const entry of this.#log.slice(snapshot.index + 1, this.#log.applied + 1)) this.#applyConfChangeEntry(entry)
    this.#becomeFollower(this.#term, null)
    this.#lastSoftState = this.#softState()
    this.#lastHardState = this.#hardState()
  }

  // ---- Inputs -----------------------------------------------------------------------------------------------

  /** One unit of time: followers and candidates count toward an election, the leader toward heartbeats. */
  tick(): void {
    this.#assertIdle('tick')
    this.#ticks++
    if (this.#role === 'leader') this.#tickHeartbeat()
    else this.#tickElection()
  }

  /** Starts an election now (etcd's MsgHup), as if the election timeout had elapsed. */
  campaign(): void {
    this.#assertIdle('campaign')
    this.#hup()
  }

  /** Processes one message from a peer. */
  step(m: RaftMessage): void {
    this.#assertIdle('step')
    if (m.to !== this.id) return
    if (m.term > this.#term) {
      if ((m.type === 'vote' || m.type === 'pre-vote') && m.transfer !== true && this.#inLease()) {
        // Raft §6 (thesis §4.2.3): while a leader is live, a vote request is a disruption; ignore it. A transfer's vote
        // is the leader's own wish (it sent TimeoutNow), so it is granted.
        return
      }
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-response' && !m.reject)) {
        // A pre-vote carries the term the candidate would use; neither side moves to it until the real vote.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot'
        this.#becomeFollower(m.term, fromLeader ? m.from : null)
      }
    } else if (m.term < this.#term) {
      if ((this.#checkQuorum || this.#preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
        // A leader cut off from a higher term never hears vote requests (they are ignored in its lease or
        // never sent, with pre-vote); telling it our term lets it step down and the cluster move on.
        this.#send({
          type: 'append-response',
          from: this.id,
          to: m.from,
          term: this.#term,
          index: 0,
          reject: false,
          rejectHint: 0,
          hintTerm: 0,
        })
      } else if (m.type === 'pre-vote') {
        this.#send({ type: 'pre-vote-response', from: this.id, to: m.from, term: this.#term, reject: true })
      }
      return
    }

    if (m.type === 'vote' || m.type === 'pre-vote') this.#handleVoteRequest(m)
    else if (this.#role === 'leader') this.#stepLeader(m)
    else if (this.#role === 'follower') this.#stepFollower(m)
    else this.#stepCandidate(m)
  }

  /** Appends a command to the leader's log and replicates it. */
  propose(data: Uint8Array): AcceptedProposal | NotLeaderError {
    this.#assertIdle('propose')
    if (this.#role !== 'leader') return new NotLeaderError(this.id, this.#leaderId)
    // While handing leadership over, the log must stay what the transferee has: the proposal waits for the new leader.
    if (this.#transferee !== null) return new NotLeaderError(this.id, null)
    return this.#proposeEntry('command', data)
  }

  /** Proposes a membership change; it takes effect on each node when the entry is applied (etcd's rule). */
  proposeConfChange(change: ConfChange): AcceptedProposal | NotLeaderError | ConfChangeRefusedError {
    this.#assertIdle('proposeConfChange')
    if (this.#role !== 'leader') return new NotLeaderError(this.id, this.#leaderId)
    if (this.#transferee !== null) return new NotLeaderError(this.id, null)
    if (this.#pendingConfIndex > this.#log.applied) {
      return new ConfChangeRefusedError('pending', `entry ${this.#pendingConfIndex} is not applied yet, applied is ${this.#log.applied}`)
    }
    const problem = confChangeProblem(this.#config, change)
    if (problem !== null) return new ConfChangeRefusedError('invalid', problem)
    const accepted = this.#proposeEntry('conf-change', encodeConfChange(change))
    this.#pendingConfIndex = accepted.index
    return accepted
  }

  /**
   * A linearizable read (Raft §8, etcd's ReadIndex): the leader records its commit index and confirms it is still
   * leader with a heartbeat round; a Ready then carries a ReadState for `requestId`. Reads in flight are dropped
   * when this node stops being leader (softState shows it); the shell retries them.
   */
  readIndex(requestId: number): NotLeaderError | null {
    this.#assertIdle('readIndex')
    if (this.#role !== 'leader') return new NotLeaderError(this.id, this.#leaderId)
    // Until the leader commits an entry of its term, its commit index may lag the previous leader's (§8).
    if (!this.#committedInCurrentTerm()) this.#readsAwaitingCommit.push(requestId)
    else this.#startRead(requestId)
    return null
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10, etcd's MsgTransferLeader): once its log matches the leader's, the
   * leader sends it TimeoutNow and it campaigns at once, its vote granted despite the leader's lease; the leader steps
   * down when it sees the higher term. Proposals are refused meanwhile (NotLeaderError without a leader: retry). A
   * transfer that has not happened within an election timeout is abandoned. A second call replaces the first.
   */
  transferLeadership(to: NodeId): NotLeaderError | TransferRefusedError | null {
    this.#assertIdle('transferLeadership')
    if (this.#role !== 'leader') return new NotLeaderError(this.id, this.#leaderId)
    if (to === this.id) return new TransferRefusedError('self', to)
    if (!this.#config.voters.includes(to)) return new TransferRefusedError('not-voter', to)
    this.#transferee = to
    // The transfer has an election timeout to happen: #tickHeartbeat abandons it then.
    this.#electionElapsed = 0
    const pr = this.#progress.get(to) as Progress
    if (pr.match === this.#log.lastIndex()) this.#sendTimeoutNow(to)
    else this.#sendAppend(to)
    return null
  }

  /** The voter leadership is being handed to, or null. */
  get transferee(): NodeId | null {
    return this.#transferee
  }

  /**
   * A read served from the leader's lease, without a round trip: safe while a quorum acknowledged a heartbeat sent
   * less than electionTicks - 2 ticks ago, as those voters refuse votes for an election timeout after hearing from
   * the leader (check-quorum) and tick at about the same rate. Returns the index to wait for before serving.
   */
  leaseRead(): { readonly index: number } | NotLeaderError | ReadRefusedError {
    if (this.#role !== 'leader') return new NotLeaderError(this.id, this.#leaderId)
    if (!this.#checkQuorum) return new ReadRefusedError('check-quorum-off')
    if (!this.#committedInCurrentTerm()) return new ReadRefusedError('no-commit-in-term')
    if (this.#leaseGivenUp) return new ReadRefusedError('lease-handed-over')
    const ackedTick = majorityValue(this.#config.voters, (id) =>
      id === this.id ? this.#ticks : (this.#progress.get(id)?.ackedRoundTick ?? Number.NEGATIVE_INFINITY),
    )
    if (this.#ticks - ackedTick >= this.#electionTicks - LEASE_MARGIN_TICKS) return new ReadRefusedError('lease-expired')
    return { index: this.#log.committed }
  }

  /**
   * The state machine saved a snapshot of itself at `index` (applied); entries up to it leave memory and followers
   * that need them get the snapshot instead. False when the log is already compacted that far.
   */
  compact(index: number, data: Uint8Array): boolean {
    this.#assertIdle('compact')
    if (index <= this.#log.snapshot.index) return false
    let config = this.#configHistory[0] as { index: number; config: ClusterConfig }
    for (const h of this.#configHistory) if (h.index <= index) config = h
    this.#log.compact(index, config.config, data)
    this.#configHistory = [{ index, config: config.config }, ...this.#configHistory.filter((h) => h.index > index)]
    return true
  }

  // ---- Outputs ----------------------------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.#outstanding !== null) return false
    const soft = this.#softState()
    const hard = this.#hardState()
    return (
      this.#messages.length > 0 ||
      this.#readStates.length > 0 ||
      this.#log.hasUnstableEntries() ||
      this.#log.snapshotToPersist !== null ||
      this.#log.hasCommittedEntriesToApply() ||
      !sameSoftState(soft, this.#lastSoftState) ||
      !sameHardState(hard, this.#lastHardState)
    )
  }

  /** Everything to persist, send and apply since the last Ready; see the header for the order. */
  ready(): Ready {
    this.#assertIdle('ready')
    const soft = this.#softState()
    const hard = this.#hardState()
    const ready: Ready = {
      softState: sameSoftState(soft, this.#lastSoftState) ? null : soft,
      hardState: sameHardState(hard, this.#lastHardState) ? null : hard,
      snapshotToPersist: this.#log.snapshotToPersist,
      entriesToPersist: this.#log.unstableEntries(),
      messages: this.#messages,
      snapshotToApply: this.#log.snapshotToApply,
      committedEntriesToApply: this.#log.committedEntriesToApply(),
      readStates: this.#readStates,
    }
    this.#messages = []
    this.#readStates = []
    this.#outboxRound = null
    this.#outstanding = ready
    return ready
  }

  /** The shell has persisted, sent and applied the last Ready. */
  advance(): void {
    const ready = this.#outstanding
    if (ready === null) throw new Error('raft: advance() without a Ready')
    this.#outstanding = null
    this.#lastSoftState = ready.softState ?? this.#lastSoftState
    this.#lastHardState = ready.hardState ?? this.#lastHardState
    const applied = ready.committedEntriesToApply.at(-1)?.index ?? ready.snapshotToApply?.index ?? 0
    this.#log.markDurable(ready.entriesToPersist.at(-1)?.index ?? 0, applied)
    let configChanged = false
    for (const entry of ready.committedEntriesToApply) configChanged = this.#applyConfChangeEntry(entry) || configChanged
    if (configChanged) this.#onConfigApplied()
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>()
    for (const [id, pr] of this.#progress) {
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        paused: pr.isPaused(),
        inflight: pr.inflights.length,
        recentActive: pr.recentActive,
      })
    }
    return {
      id: this.id,
      ...this.#softState(),
      ...this.#hardState(),
      applied: this.#log.applied,
      firstIndex: this.#log.firstIndex(),
      lastIndex: this.#log.lastIndex(),
      lastTerm: this.#log.lastTerm(),
      config: this.#config,
      progress,
    }
  }

  /** The entries in memory from `from` (default: the first after the snapshot). */
  entries(from: number = this.#log.firstIndex()): LogEntry[] {
    return this.#log.slice(from)
  }

  // ---- Roles ------------------------------------------------------------------------------------------------

  #becomeFollower(term: number, leaderId: NodeId | null): void {
    this.#reset(term)
    this.#role = 'follower'
    this.#leaderId = leaderId
  }

  #becomePreCandidate(): void {
    // Pre-vote changes neither term nor vote: a node that cannot win must not disrupt the cluster.
    this.#votes.clear()
    this.#leaderId = null
    this.#role = 'pre-candidate'
    // Unlike etcd, draw a new timeout (Raft §5.2: at the start of each election): two pre-candidates that started
    // in the same tick would otherwise stay in step and split every vote.
    this.#randomizeElectionTimeout()
  }

  #becomeCandidate(): void {
    this.#reset(this.#term + 1)
    this.#vote = this.id
    this.#role = 'candidate'
  }

  #becomeLeader(): void {
    this.#reset(this.#term)
    this.#role = 'leader'
    this.#leaderId = this.id
    const last = this.#log.lastIndex()
    for (const id of [...this.#config.voters, ...this.#config.learners]) {
      this.#progress.set(id, new Progress(last + 1, this.#maxInflight, id === this.id))
    }
    const self = this.#progress.get(this.id) as Progress
    self.match = last
    self.becomeReplicate()
    // Entries of earlier terms may hold an unapplied conf change; wait for all of them before allowing another.
    this.#pendingConfIndex = last
    // Raft §8: a new leader commits an entry of its own term to learn what is committed.
    this.#appendAsLeader([{ kind: 'noop', data: new Uint8Array(0) }])
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term
      this.#vote = null
    }
    this.#leaderId = null
    this.#electionElapsed = 0
    this.#heartbeatElapsed = 0
    this.#randomizeElectionTimeout()
    this.#votes.clear()
    this.#progress.clear()
    this.#roundTicks.clear()
    this.#pendingConfIndex = 0
    this.#pendingReads = []
    this.#readsAwaitingCommit = []
    this.#transferee = null
    this.#leaseGivenUp = false
  }

  /** Uniform in [electionTicks, 2 * electionTicks) (Raft §5.2). */
  #randomizeElectionTimeout(): void {
    this.#randomizedElectionTimeout =
      this.#electionTicks + Math.min(Math.floor(this.#random() * this.#electionTicks), this.#electionTicks - 1)
  }

  #tickElection(): void {
    this.#electionElapsed++
    if (this.#promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0
      this.#hup()
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsed++
    this.#electionElapsed++
    if (this.#electionElapsed >= this.#electionTicks) {
      this.#electionElapsed = 0
      // A transferee that has not taken over within an election timeout is down or cut off: keep leading.
      this.#transferee = null
      if (this.#checkQuorum) {
        if (!this.#quorumActive()) {
          this.#becomeFollower(this.#term, null)
          return
        }
        for (const [id, pr] of this.#progress) if (id !== this.id) pr.recentActive = false
      }
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTicks) {
      this.#heartbeatElapsed = 0
      this.#bcastHeartbeat()
    }
  }

  #quorumActive(): boolean {
    let active = 0
    for (const id of this.#config.voters) if (id === this.id || this.#progress.get(id)?.recentActive === true) active++
    return active >= majorityOf(this.#config.voters.length)
  }

  /**
   * Check-quorum's other half: a voter that heard from a leader within an election timeout keeps that leader's lease
   * and ignores vote requests. Measured from the last contact rather than etcd's "leader known", so that a message
   * that moves this node to a higher term (a delayed reply, say) does not end a lease the leader counts on; and from
   * start-up, as a restarted node may have acknowledged a leader it no longer remembers.
   */
  #inLease(): boolean {
    if (!this.#checkQuorum) return false
    return this.#role === 'leader' || this.#ticks - this.#leaderContactTick < this.#electionTicks
  }

  #promotable(): boolean {
    return this.#config.voters.includes(this.id)
  }

  /** Starts an election; a transfer (the leader's TimeoutNow) skips pre-vote, as the leader asked for it. */
  #hup(transfer = false): void {
    if (this.#role === 'leader' || !this.#promotable()) return
    // A committed but unapplied conf change could make this node's idea of the voters wrong (etcd does the same).
    if (this.#log.committedEntriesToApply().some((e) => e.kind === 'conf-change')) return
    this.#campaign(this.#preVote && !transfer ? 'pre-vote' : 'vote', transfer)
  }

  #campaign(type: 'vote' | 'pre-vote', transfer = false): void {
    if (type === 'pre-vote') this.#becomePreCandidate()
    else this.#becomeCandidate()
    const term = type === 'pre-vote' ? this.#term + 1 : this.#term
    const last = this.#log.lastEntryId()
    for (const id of this.#config.voters) {
      if (id === this.id) continue
      const request = { type, from: this.id, to: id, term, lastIndex: last.index, lastTerm: last.term }
      this.#send(transfer ? { ...request, transfer: true } : request)
    }
    this.#poll(this.id, true)
  }

  #poll(from: NodeId, granted: boolean): void {
    if (!this.#votes.has(from)) this.#votes.set(from, granted)
    const outcome = tallyVotes(this.#config.voters, this.#votes)
    if (outcome === 'won') {
      if (this.#role === 'pre-candidate') {
        this.#campaign('vote')
      } else {
        this.#becomeLeader()
        this.#bcastAppend()
      }
    } else if (outcome === 'lost') {
      this.#becomeFollower(this.#term, null)
    }
  }

  #handleVoteRequest(m: VoteRequest): void {
    const canVote =
      this.#vote === m.from ||
      (this.#vote === null && this.#leaderId === null) ||
      // A pre-vote is for a future term, in which we have not voted yet.
      (m.type === 'pre-vote' && m.term > this.#term)
    const responseType = m.type === 'vote' ? 'vote-response' : 'pre-vote-response'
    if (canVote && this.#log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // Answer with the request's term: a pre-candidate ignores answers from terms other than the one it probes.
      this.#send({ type: responseType, from: this.id, to: m.from, term: m.term, reject: false })
      if (m.type === 'vote') {
        this.#electionElapsed = 0
        this.#vote = m.from
      }
    } else {
      this.#send({ type: responseType, from: this.id, to: m.from, term: this.#term, reject: true })
    }
  }

  #stepLeader(m: RaftMessage): void {
    const pr = this.#progress.get(m.from)
    if (pr === undefined) return
    if (m.type === 'append-response') this.#handleAppendResponse(m, pr)
    else if (m.type === 'heartbeat-response') this.#handleHeartbeatResponse(m, pr)
  }

  #stepCandidate(m: RaftMessage): void {
    const ourResponse = this.#role === 'pre-candidate' ? 'pre-vote-response' : 'vote-response'
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Raft §5.2: a leader of our term won; the message's term equals ours here.
        this.#becomeFollower(m.term, m.from)
        this.#stepFollower(m)
        break
      case 'vote-response':
      case 'pre-vote-response':
        // A candidate may still receive answers to its pre-vote; only count those of the current phase.
        if (m.type === ourResponse) this.#poll(m.from, !m.reject)
        break
    }
  }

  #stepFollower(m: RaftMessage): void {
    if (m.type === 'timeout-now') {
      // The leader of our term hands over: campaign now, without waiting for the election timeout.
      this.#hup(true)
      return
    }
    if (m.type !== 'append' && m.type !== 'heartbeat' && m.type !== 'snapshot') return
    this.#electionElapsed = 0
    this.#leaderContactTick = this.#ticks
    this.#leaderId = m.from
    if (m.type === 'append') this.#handleAppend(m)
    else if (m.type === 'heartbeat') this.#handleHeartbeat(m)
    else this.#handleSnapshot(m.from, m.snapshot)
  }

  // ---- Follower side of replication -------------------------------------------------------------------------

  #handleAppend(m: AppendRequest): void {
    const committed = this.#log.committed
    if (m.prevIndex < committed) {
      // Everything up to our commit index matches the leader's log already (Log Matching); say how far we are.
      this.#sendAppendResponse(m.from, committed)
      return
    }
    const lastNew = this.#log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries)
    if (lastNew !== null) {
      this.#sendAppendResponse(m.from, lastNew)
      return
    }
    const hint = this.#log.findConflictByTerm(Math.min(m.prevIndex, this.#log.lastIndex()), m.prevTerm)
    this.#send({
      type: 'append-response',
      from: this.id,
      to: m.from,
      term: this.#term,
      index: m.prevIndex,
      reject: true,
      rejectHint: hint.index,
      hintTerm: hint.term,
    })
  }

  #handleHeartbeat(m: Heartbeat): void {
    this.#log.commitTo(m.commit)
    this.#send({ type: 'heartbeat-response', from: this.id, to: m.from, term: this.#term, round: m.round })
  }

  #handleSnapshot(from: NodeId, snapshot: Snapshot): void {
    if (snapshot.index <= this.#log.committed) {
      this.#sendAppendResponse(from, this.#log.committed)
    } else if (this.#log.matchTerm(snapshot.index, snapshot.term)) {
      // We hold the snapshot's last entry, hence the whole prefix: only the commit index was missing.
      this.#log.commitTo(snapshot.index)
      this.#sendAppendResponse(from, this.#log.committed)
    } else {
      this.#log.restore(snapshot)
      this.#config = snapshot.config
      this.#configHistory = [{ index: snapshot.index, config: snapshot.config }]
      this.#sendAppendResponse(from, this.#log.lastIndex())
    }
  }

  #sendAppendResponse(to: NodeId, index: number): void {
    this.#send({ type: 'append-response', from: this.id, to, term: this.#term, index, reject: false, rejectHint: 0, hintTerm: 0 })
  }

  // ---- Leader side of replication ---------------------------------------------------------------------------

  #proposeEntry(kind: EntryKind, data: Uint8Array): AcceptedProposal {
    const index = this.#appendAsLeader([{ kind, data }])
    this.#bcastAppend()
    return { index, term: this.#term }
  }

  #appendAsLeader(items: readonly { kind: EntryKind; data: Uint8Array }[]): number {
    let index = this.#log.lastIndex()
    const entries = items.map(({ kind, data }) => ({ index: ++index, term: this.#term, kind, data }))
    this.#log.truncateAndAppend(entries)
    // The shell persists these before sending anything, so the leader may count itself at once.
    this.#progress.get(this.id)?.maybeUpdate(index)
    this.#maybeCommit()
    return index
  }

  #handleAppendResponse(m: AppendResponse, pr: Progress): void {
    pr.recentActive = true
    if (m.reject) {
      let nextProbe = m.rejectHint
      // Skip every index whose term in our log is above the follower's hint term: none of them can match.
      if (m.hintTerm > 0) nextProbe = this.#log.findConflictByTerm(m.rejectHint, m.hintTerm).index
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe()
        this.#sendAppend(m.from)
      }
      return
    }
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return
    if (pr.state === 'probe') {
      pr.becomeReplicate()
    } else if (pr.state === 'snapshot') {
      if (pr.match + 1 >= this.#log.firstIndex()) {
        pr.becomeProbe()
        pr.becomeReplicate()
      }
    } else {
      pr.freeInflightsUpTo(m.index)
    }
    if (this.#maybeCommit()) this.#bcastAppend()
    else if (pr.canBumpCommit(this.#log.committed)) this.#sendAppend(m.from)
    while (this.#maybeSendAppend(m.from, false));
    if (m.from === this.#transferee && pr.match === this.#log.lastIndex()) this.#sendTimeoutNow(m.from)
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#leaseGivenUp = true
    this.#send({ type: 'timeout-now', from: this.id, to, term: this.#term })
  }

  #handleHeartbeatResponse(m: HeartbeatResponse, pr: Progress): void {
    pr.recentActive = true
    pr.paused = false
    if (m.round > pr.ackedRound) {
      pr.ackedRound = m.round
      pr.ackedRoundTick = this.#roundTicks.get(m.round) ?? pr.ackedRoundTick
    }
    // A snapshot that got no answer within an election timeout was probably lost: probe again.
    if (pr.state === 'snapshot' && this.#ticks - pr.snapshotSentTick >= this.#electionTicks) pr.becomeProbe()
    if (pr.match < this.#log.lastIndex() || pr.state === 'probe') this.#sendAppend(m.from)
    this.#confirmReads()
  }

  #maybeCommit(): boolean {
    const index = majorityValue(this.#config.voters, (id) => this.#progress.get(id)?.match ?? 0)
    if (!this.#log.maybeCommit(index, this.#term)) return false
    const awaiting = this.#readsAwaitingCommit
    this.#readsAwaitingCommit = []
    for (const requestId of awaiting) this.#startRead(requestId)
    return true
  }

  #bcastAppend(): void {
    for (const id of this.#progress.keys()) if (id !== this.id) this.#sendAppend(id)
  }

  #sendAppend(to: NodeId): void {
    this.#maybeSendAppend(to, true)
  }

  /** Sends the next entries (or, with sendIfEmpty, just the commit index) unless flow control holds them back. */
  #maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.#progress.get(to) as Progress
    if (pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.#log.term(prevIndex)
    if (prevTerm === undefined) return this.#maybeSendSnapshot(to, pr)
    // With a full window only an empty append goes out: its answer tells whether the in-flight ones were lost.
    const entries = pr.state === 'replicate' && pr.inflightsFull() ? [] : this.#log.slice(pr.next, pr.next + this.#maxEntriesPerAppend)
    if (entries.length === 0 && !sendIfEmpty) return false
    const commit = this.#log.committed
    this.#send({ type: 'append', from: this.id, to, term: this.#term, prevIndex, prevTerm, entries, commit })
    pr.sentEntries(entries.length, prevIndex + entries.length)
    pr.sentCommit = commit
    return true
  }

  #maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // Snapshots are big; do not push one at a follower that may well be down.
    if (!pr.recentActive) return false
    const snapshot = this.#log.snapshot
    pr.becomeSnapshot(snapshot.index, this.#ticks)
    this.#send({ type: 'snapshot', from: this.id, to, term: this.#term, snapshot })
    return true
  }

  #bcastHeartbeat(): void {
    const round = ++this.#heartbeatRound
    this.#roundTicks.set(round, this.#ticks)
    for (const [r, tick] of this.#roundTicks) {
      if (this.#ticks - tick < this.#electionTicks) break
      this.#roundTicks.delete(r)
    }
    this.#outboxRound = round
    for (const [id, pr] of this.#progress) {
      if (id === this.id) continue
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.#log.committed)
      this.#send({ type: 'heartbeat', from: this.id, to: id, term: this.#term, commit, round })
      pr.sentCommit = commit
    }
  }

  #committedInCurrentTerm(): boolean {
    return this.#log.term(this.#log.committed) === this.#term
  }

  #startRead(requestId: number): void {
    const index = this.#log.committed
    if (this.#config.voters.length === 1) {
      this.#readStates.push({ requestId, index })
      return
    }
    // Heartbeats still in the outbox leave after this request arrived, so their acknowledgements confirm it too.
    if (this.#outboxRound === null) this.#bcastHeartbeat()
    this.#pendingReads.push({ requestId, index, round: this.#outboxRound as number })
  }

  #confirmReads(): void {
    if (this.#pendingReads.length === 0) return
    const confirmed = majorityValue(this.#config.voters, (id) =>
      id === this.id ? Number.POSITIVE_INFINITY : (this.#progress.get(id)?.ackedRound ?? 0),
    )
    while (this.#pendingReads.length > 0 && (this.#pendingReads[0] as PendingRead).round <= confirmed) {
      const read = this.#pendingReads.shift() as PendingRead
      this.#readStates.push({ requestId: read.requestId, index: read.index })
    }
  }

  // ---- Membership -------------------------------------------------------------------------------------------

  /** Applies a conf-change entry to the membership; true when it was one. */
  #applyConfChangeEntry(entry: LogEntry): boolean {
    if (entry.kind !== 'conf-change') return false
    this.#config = applyConfChange(this.#config, decodeConfChange(entry.data))
    this.#configHistory.push({ index: entry.index, config: this.#config })
    return true
  }

  #onConfigApplied(): void {
    if (this.#role !== 'leader') return
    if (!this.#config.voters.includes(this.id)) {
      // The leader removed itself: the change is committed, so the rest can elect a leader without it.
      this.#becomeFollower(this.#term, null)
      return
    }
    const members = new Set([...this.#config.voters, ...this.#config.learners])
    for (const id of this.#progress.keys()) if (!members.has(id)) this.#progress.delete(id)
    const added: NodeId[] = []
    for (const id of members) {
      if (this.#progress.has(id)) continue
      // Next at the last entry, not after it, so that the probe below carries an entry and goes out now (etcd).
      this.#progress.set(id, new Progress(this.#log.lastIndex(), this.#maxInflight, true))
      added.push(id)
    }
    // Fewer voters may mean a smaller majority and so a higher commit index.
    if (this.#maybeCommit()) this.#bcastAppend()
    else for (const id of added) this.#maybeSendAppend(id, false)
    this.#confirmReads()
  }

  // ---- Plumbing ---------------------------------------------------------------------------------------------

  #send(m: RaftMessage): void {
    this.#messages.push(m)
  }

  #softState(): SoftState {
    return { role: this.#role, leaderId: this.#leaderId }
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed }
  }

  #assertIdle(operation: string): void {
    if (this.#outstanding !== null) throw new Error(`raft: ${operation}() between ready() and advance(); queue it until advance()`)
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leaderId === b.leaderId
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`raft: ${name} must be a positive integer, got ${value}`)
  return value
}
