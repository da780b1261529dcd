// The Raft shell of one Grey: timers, disk and network around the pure core (raft-node.ts), driven exactly as its
// header says: take a Ready, persist its snapshot, entries and hard state (fsynced), only then send its messages,
// then apply its committed entries to the cluster state, then advance(). Input that arrives meanwhile (ticks,
// peer messages, proposals) waits in an inbox until advance().
//
// Proposals can be made on any member. A follower forwards them to the leader over the Raft transport (a
// `forward` frame); the leader proposes, waits until the entry is applied, and answers with a `forward-result`;
// the follower then waits until it has applied that index itself, so that its own reads show the change.
import type { Logger } from 'pino'
import type { HybridLogicalClock } from '../clock/hlc.js'
import { formatHostPort, hostPort } from '../config/host-port.js'
import { decodeConfChange, encodeConfChange, type ConfChange } from './conf-change.js'
import { encodeClusterCommand, type ClusterCommand } from './cluster-command.js'
import { ClusterState, type ClusterStateData } from './cluster-state.js'
import { ConfChangeRefusedError, NotLeaderError } from './raft-errors.js'
import type { RaftMetrics } from './raft-metrics.js'
import { RaftNode, type AcceptedProposal, type Ready } from './raft-node.js'
import { nodeIdCollision, raftNodeId } from './raft-node-id.js'
import { RaftStorage } from './raft-storage.js'
import { raftTiming, type RaftTiming } from './raft-timing.js'
import { RaftTransport } from './raft-transport.js'
import type { DeliveredPayload, ForwardedEntry, HealthReport } from './raft-wire.js'
import type { PrimaryReport } from '../failover/decide-failover.js'
import type { LogEntry, NodeId, RaftMessage, RaftRole, SoftState } from './raft-message.js'
import type { SubmitOutcome } from './submit-outcome.js'
import { monotonicMs } from '../clock/monotonic-ms.js'

export interface RaftPeerOption {
  readonly id: string
  readonly address: string
  readonly region?: string | undefined
}

export interface RaftServerOptions {
  /** This member's name (consensus.raft.node_id). */
  readonly name: string
  readonly region?: string | undefined
  readonly listen: string
  /** The bootstrap voters, with their addresses as this member reaches them. A member not listed is a learner. */
  readonly peers: readonly RaftPeerOption[]
  readonly electionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly dataDir: string
  /** Required unless this member is the only voter. */
  readonly secret: string | undefined
  readonly clock: HybridLogicalClock
  readonly log: Logger
  readonly metrics?: RaftMetrics | undefined
  /** Snapshot the state machine and compact the log every this many applied entries. Default 1000. */
  readonly snapshotEveryEntries?: number | undefined
  /** How long a proposal may take before the caller hears "unknown". Default 5 s. */
  readonly proposalTimeoutMs?: number | undefined
  readonly random?: (() => number) | undefined
}

export interface RaftMemberStatus {
  readonly id: string
  readonly nodeId: NodeId
  readonly role: 'voter' | 'learner'
  readonly self: boolean
  readonly address: string | null
  readonly region: string | null
  /** When this member last received a frame from that one (followers hear from the leader, the leader from all). */
  readonly lastContact: string | null
  readonly lastContactAgoMs: number | null
  /** The leader's view of how far that member's log matches its own; null on other members. */
  readonly matchIndex: number | null
}

export interface RaftQuorumStatus {
  readonly voters: number
  readonly needed: number
  /** Voters this member heard from within the election timeout, itself included. */
  readonly reachable: number
  /** Whether a change proposed here can commit now. */
  readonly canCommit: boolean
  readonly reason: string
}

export interface RaftServerStatus {
  readonly nodeId: string
  readonly role: RaftRole | 'learner' | 'stopped'
  readonly term: number
  readonly leader: string | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly lastIndex: number
  readonly snapshotIndex: number
  readonly members: readonly RaftMemberStatus[]
  readonly quorum: RaftQuorumStatus
  /** Why the server stopped on its own (a disk error, say); null while it runs. */
  readonly failure: string | null
}

/** How a local proposal ended, before it is reported: `superseded` means its entry was overwritten, so it never commits. */
type LocalOutcome = SubmitOutcome | { readonly status: 'superseded' } | { readonly status: 'pending-conf-change' }

interface ProposalWaiter {
  readonly term: number
  resolve(outcome: LocalOutcome): void
}

const DEFAULT_PROPOSAL_TIMEOUT_MS = 5000
/** cutOff() is asked per write statement; its answer is reused this long. */
const CUT_OFF_CACHE_MS = 50
const RETRY_MS = 25

export class RaftServer {
  readonly name: string
  readonly id: NodeId
  readonly timing: RaftTiming
  readonly #options: RaftServerOptions
  readonly #log: Logger
  readonly #node: RaftNode
  readonly #storage: RaftStorage
  readonly #transport: RaftTransport | null
  readonly #state: ClusterState
  readonly #peers: ReadonlyMap<NodeId, RaftPeerOption>
  readonly #snapshotEvery: number
  #timer: NodeJS.Timeout | null = null
  #inbox: Array<() => void> = []
  /** Calls waiting in the inbox, answered null if the server stops first. */
  readonly #cancels = new Set<() => void>()
  #busy = false
  #scheduled = false
  #idle: Promise<void> = Promise.resolve()
  #stopped = false
  #closed = false
  #failure: string | null = null
  #soft: SoftState = { role: 'follower', leaderId: null }
  #lastLeader: NodeId | null = null
  readonly #proposals = new Map<number, ProposalWaiter>()
  #appliedWaiters: Array<{ index: number; resolve(): void }> = []
  readonly #forwards = new Map<number, (outcome: SubmitOutcome) => void>()
  readonly #reports = new Map<string, PrimaryReport>()
  #cutOffAt: { readonly at: number; readonly reason: string | null } | null = null
  #nextRequestId = 1

  private constructor(options: RaftServerOptions, storage: RaftStorage, node: RaftNode, state: ClusterState, timing: RaftTiming) {
    this.#options = options
    this.name = options.name
    this.id = raftNodeId(options.name)
    this.timing = timing
    this.#log = options.log
    this.#storage = storage
    this.#node = node
    this.#state = state
    this.#snapshotEvery = options.snapshotEveryEntries ?? 1000
    this.#peers = new Map(options.peers.map((p) => [raftNodeId(p.id), p]))
    this.#transport =
      options.secret === undefined
        ? null
        : new RaftTransport({
            self: { name: this.name, id: this.id },
            listen: hostPort(options.listen),
            secret: options.secret,
            clock: options.clock,
            log: options.log,
            keepaliveMs: options.heartbeatIntervalMs,
            addressOf: (id) => this.#addressOf(id),
            receive: (from, payload) => this.#receive(from, payload),
          })
  }

  /** Opens the data directory, restores the state machine from it and starts ticking and listening. */
  static async start(options: RaftServerOptions): Promise<RaftServer> {
    const collision = nodeIdCollision([options.name, ...options.peers.map((p) => p.id)])
    if (collision !== null) {
      throw new Error(`grey: raft members "${collision[0]}" and "${collision[1]}" hash to the same node id; rename one of them`)
    }
    const alone = options.peers.length === 0 || (options.peers.length === 1 && options.peers[0]?.id === options.name)
    if (options.secret === undefined && !alone) {
      throw new Error('grey: consensus.raft.secret is required to talk to raft peers; set the same secret on every Grey')
    }
    const timing = raftTiming(options.electionTimeoutMs, options.heartbeatIntervalMs)
    const { storage, stored, recovery } = await RaftStorage.open(options.dataDir)
    const log = options.log
    if (recovery.log !== null) log.warn({ dataDir: storage.dir, ...recovery.log }, 'raft log had a damaged tail (a torn write); cut it off')
    if (recovery.commitLoweredFrom !== null) {
      log.warn(
        { from: recovery.commitLoweredFrom, to: stored.hardState.commit },
        'raft commit index pointed past the stored entries; lowered',
      )
    }
    const voters = options.peers.map((p) => raftNodeId(p.id))
    const state = new ClusterState({ voters, learners: [] })
    try {
      if (stored.snapshot !== null) state.restore(stored.snapshot.data)
      const node = new RaftNode({
        id: raftNodeId(options.name),
        voters,
        electionTicks: timing.electionTicks,
        heartbeatTicks: timing.heartbeatTicks,
        random: options.random ?? Math.random,
        storage: stored,
      })
      const server = new RaftServer(options, storage, node, state, timing)
      await server.#transport?.start()
      // Followers rarely talk to each other; keep their links open so that an election does not wait for a connect.
      for (const id of server.#peers.keys()) if (id !== server.id) server.#transport?.connect(id)
      log.info(
        {
          nodeId: options.name,
          listen: server.#transport?.address ?? null,
          term: stored.hardState.term,
          entries: stored.entries.length,
          snapshotIndex: stored.snapshot?.index ?? 0,
          tickMs: timing.tickMs,
        },
        'raft started',
      )
      server.#timer = setInterval(() => server.#input(() => server.#node.tick()), timing.tickMs)
      server.#schedule()
      return server
    } catch (error) {
      await storage.close()
      throw error
    }
  }

  /** The replicated cluster state as this member has applied it. */
  get state(): ClusterStateData {
    return this.#state.data
  }

  /** Where peers reach this member (the listen address, with the port picked when it asked for 0). */
  get address(): string {
    return this.#transport?.address ?? this.#options.listen
  }

  /** Proposes a cluster command through the leader and waits until this member has applied it. */
  propose(command: ClusterCommand, timeoutMs = this.#options.proposalTimeoutMs ?? DEFAULT_PROPOSAL_TIMEOUT_MS): Promise<SubmitOutcome> {
    return this.#submit({ kind: 'command', data: encodeClusterCommand(command) }, monotonicMs() + timeoutMs)
  }

  /** Registers `name` at `address`, then adds it as a learner: it receives the log and does not vote. */
  async addLearner(name: string, address: string, region: string | null, timeoutMs?: number): Promise<SubmitOutcome> {
    const known = this.#memberName(raftNodeId(name))
    if (known !== null && known !== name) {
      return { status: 'refused', error: `grey: "${name}" hashes to the node id of member "${known}"; choose another name` }
    }
    const registered = await this.propose({ type: 'register-member', id: name, address, region }, timeoutMs)
    if (registered.status !== 'applied' || registered.error !== null) return registered
    return this.changeMembership({ kind: 'add-learner', nodeId: raftNodeId(name) }, timeoutMs)
  }

  /** promote-learner and remove-node, by the member's name. */
  changeMembership(change: ConfChange, timeoutMs = this.#options.proposalTimeoutMs ?? DEFAULT_PROPOSAL_TIMEOUT_MS): Promise<SubmitOutcome> {
    return this.#submit({ kind: 'conf-change', data: encodeConfChange(change) }, monotonicMs() + timeoutMs)
  }

  status(): RaftServerStatus {
    const s = this.#node.status()
    const now = monotonicMs()
    const ageOf = (id: NodeId): number | null => {
      const at = this.#transport?.lastContact(id) ?? null
      return at === null ? null : now - at
    }
    const recent = (id: NodeId): boolean => id === this.id || this.#heardRecently(id)
    const members = [
      ...s.config.voters.map((id) => ({ id, role: 'voter' as const })),
      ...s.config.learners.map((id) => ({ id, role: 'learner' as const })),
    ].map(({ id, role }): RaftMemberStatus => {
      const age = id === this.id ? null : ageOf(id)
      return {
        id: this.#memberName(id) ?? `node-${id}`,
        nodeId: id,
        role,
        self: id === this.id,
        address: id === this.id ? this.address : this.#addressOf(id),
        region: id === this.id ? (this.#options.region ?? null) : this.#regionOf(id),
        lastContact: age === null ? null : new Date(Date.now() - age).toISOString(),
        lastContactAgoMs: age,
        matchIndex: s.progress.get(id)?.match ?? null,
      }
    })
    const voters = s.config.voters.length
    const needed = Math.floor(voters / 2) + 1
    const reachable = s.config.voters.filter(recent).length
    const leader = s.leaderId === null ? null : (this.#memberName(s.leaderId) ?? `node-${s.leaderId}`)
    let canCommit: boolean
    let reason: string
    if (this.#stopped) {
      canCommit = false
      reason = this.#failure ?? 'raft is stopped'
    } else if (s.role === 'leader') {
      canCommit = reachable >= needed
      reason = canCommit
        ? `leader; ${reachable} of ${voters} voters heard within the election timeout`
        : `leader without a majority: heard ${reachable} of ${voters} voters (needs ${needed}); stepping down`
    } else if (s.leaderId !== null && recent(s.leaderId)) {
      canCommit = true
      reason = `following ${leader}, heard ${ageOf(s.leaderId)} ms ago`
    } else {
      canCommit = false
      reason =
        `no leader: this member hears ${reachable} of ${voters} voters (a majority is ${needed}); ` +
        'it cannot commit changes until it rejoins a majority'
    }
    const isVoter = s.config.voters.includes(this.id)
    return {
      nodeId: this.name,
      role: this.#stopped ? 'stopped' : isVoter ? s.role : 'learner',
      term: s.term,
      leader,
      commitIndex: s.commit,
      appliedIndex: s.applied,
      lastIndex: s.lastIndex,
      snapshotIndex: s.firstIndex - 1,
      members,
      quorum: { voters, needed, reachable, canCommit, reason },
      failure: this.#failure,
    }
  }

  /** Stops ticking and listening once the Ready in hand is persisted; proposals still waiting hear "unknown". */
  async stop(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#stopped = true
    if (this.#timer !== null) clearInterval(this.#timer)
    await this.#idle
    await this.#transport?.close()
    await this.#storage.close()
    this.#abandonWaiters('grey: this Grey is shutting down')
  }

  // ---- The Ready loop ---------------------------------------------------------------------------------------

  /** Runs `fn` against the core now, or after the Ready in hand when one is being handled. */
  #input(fn: () => void): void {
    if (this.#stopped) return
    if (this.#busy) {
      this.#inbox.push(fn)
      return
    }
    fn()
    this.#schedule()
  }

  /** Like #input, for a call whose result the caller needs; null when the server stops before running it. */
  #call<T>(fn: () => T): Promise<T | null> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve(null)
      const cancel = (): void => resolve(null)
      this.#cancels.add(cancel)
      this.#input(() => {
        this.#cancels.delete(cancel)
        resolve(fn())
      })
    })
  }

  /** One drive per macrotask, so that what arrived together goes out in one Ready. */
  #schedule(): void {
    if (this.#scheduled || this.#busy || this.#stopped) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#idle = this.#drive()
    })
  }

  async #drive(): Promise<void> {
    if (this.#busy || this.#stopped) return
    this.#busy = true
    try {
      while (!this.#stopped && this.#node.hasReady()) {
        const ready = this.#node.ready()
        await this.#handle(ready)
        this.#node.advance()
        this.#afterAdvance()
        const inbox = this.#inbox
        this.#inbox = []
        for (const fn of inbox) fn()
      }
    } catch (error) {
      await this.#fail(error)
    } finally {
      this.#busy = false
    }
  }

  async #handle(ready: Ready): Promise<void> {
    if (ready.softState !== null) this.#onSoftState(ready.softState)
    const t0 = process.hrtime.bigint()
    await this.#storage.persist(ready)
    if (ready.entriesToPersist.length > 0) this.#options.metrics?.appendSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9)
    if (ready.hardState !== null) {
      this.#options.metrics?.term.set(ready.hardState.term)
      this.#options.metrics?.commitIndex.set(ready.hardState.commit)
    }
    // Only now: nothing leaves before it is durable.
    for (const message of ready.messages) this.#transport?.send(message.to, { kind: 'raft', message })
    const snapshot = ready.snapshotToApply
    if (snapshot !== null) {
      this.#state.restore(snapshot.data)
      for (const [index, waiter] of this.#proposals) {
        if (index > snapshot.index) continue
        this.#proposals.delete(index)
        waiter.resolve({ status: 'unknown', error: 'grey: a leader snapshot replaced the log before the change was seen applied' })
      }
    }
    for (const entry of ready.committedEntriesToApply) this.#apply(entry)
  }

  #apply(entry: LogEntry): void {
    let error: string | null = null
    if (entry.kind === 'command') {
      const result = this.#state.apply(entry.index, entry.data)
      if (!result.ok) {
        error = result.error
        this.#log.info({ index: entry.index, error }, 'raft command refused by the state machine')
      }
    } else if (entry.kind === 'conf-change') {
      const change = decodeConfChange(entry.data)
      this.#state.applyConfChange(entry.index, change)
      this.#log.info(
        { index: entry.index, change: change.kind, member: this.#memberName(change.nodeId) ?? change.nodeId },
        'raft membership changed',
      )
    } else {
      this.#state.skip(entry.index)
    }
    const waiter = this.#proposals.get(entry.index)
    if (waiter === undefined) return
    this.#proposals.delete(entry.index)
    waiter.resolve(entry.term === waiter.term ? { status: 'applied', index: entry.index, error } : { status: 'superseded' })
  }

  #afterAdvance(): void {
    const applied = this.#state.data.appliedIndex
    const waiting = this.#appliedWaiters
    this.#appliedWaiters = waiting.filter((w) => w.index > applied)
    for (const w of waiting) if (w.index <= applied) w.resolve()
    const status = this.#node.status()
    if (status.applied - (status.firstIndex - 1) >= this.#snapshotEvery) {
      this.#node.compact(status.applied, this.#state.snapshot())
    }
  }

  #onSoftState(soft: SoftState): void {
    const previous = this.#soft
    this.#soft = soft
    this.#options.metrics?.isLeader.set(soft.role === 'leader' ? 1 : 0)
    if (soft.leaderId !== null && soft.leaderId !== this.#lastLeader) {
      this.#lastLeader = soft.leaderId
      this.#options.metrics?.leaderChanges.inc()
      this.#log.info({ leader: this.#memberName(soft.leaderId) ?? soft.leaderId, role: soft.role }, 'raft leader elected')
    } else if (soft.leaderId === null && previous.leaderId !== null) {
      this.#log.info({ role: soft.role }, 'raft leader lost')
    }
  }

  async #fail(error: unknown): Promise<void> {
    this.#failure = `grey: raft stopped after an error: ${error instanceof Error ? error.message : String(error)}`
    this.#log.error({ err: error }, 'raft stopped: the log can no longer be written; restart this Grey once the cause is fixed')
    this.#stopped = true
    if (this.#timer !== null) clearInterval(this.#timer)
    await this.#transport?.close()
    this.#abandonWaiters(this.#failure)
  }

  #abandonWaiters(why: string): void {
    for (const cancel of this.#cancels) cancel()
    this.#cancels.clear()
    this.#inbox = []
    for (const waiter of this.#proposals.values()) waiter.resolve({ status: 'unknown', error: why })
    this.#proposals.clear()
    for (const resolve of this.#forwards.values()) resolve({ status: 'unknown', error: why })
    for (const w of this.#appliedWaiters) w.resolve()
    this.#appliedWaiters = []
  }

  // ---- Proposals --------------------------------------------------------------------------------------------

  async #submit(entry: ForwardedEntry, deadline: number): Promise<SubmitOutcome> {
    for (;;) {
      if (monotonicMs() >= deadline || this.#stopped) {
        return { status: 'unavailable', error: `grey: nothing was proposed: ${this.status().quorum.reason}` }
      }
      let outcome: LocalOutcome = await this.#proposeHere(entry, deadline)
      // A leader not heard from within an election timeout is probably gone: wait for the next one instead.
      if (outcome.status === 'not-leader' && outcome.leaderId !== null && this.#heardRecently(outcome.leaderId)) {
        outcome = await this.#forward(outcome.leaderId, entry, deadline)
        if (outcome.status === 'applied') await this.#waitApplied(outcome.index, deadline)
      }
      switch (outcome.status) {
        case 'not-leader':
        case 'superseded':
        case 'pending-conf-change':
        case 'unavailable':
          await sleep(RETRY_MS)
          continue
        default:
          return outcome
      }
    }
  }

  #heardRecently(id: NodeId): boolean {
    const at = this.#transport?.lastContact(id) ?? null
    return at !== null && monotonicMs() - at <= this.#options.electionTimeoutMs
  }

  /** Proposes on this member if it leads; else says who does. */
  async #proposeHere(entry: ForwardedEntry, deadline: number): Promise<LocalOutcome> {
    // The waiter is registered in the same turn as the proposal, before any Ready can apply the entry.
    const pending: { applied: Promise<LocalOutcome> | null } = { applied: null }
    const result = await this.#call(() => {
      const accepted =
        entry.kind === 'command' ? this.#node.propose(entry.data) : this.#node.proposeConfChange(decodeConfChange(entry.data))
      if (!(accepted instanceof Error)) pending.applied = this.#awaitApplied(accepted, deadline)
      return accepted
    })
    if (result === null) return { status: 'unavailable', error: 'grey: this Grey is shutting down' }
    if (result instanceof NotLeaderError) return { status: 'not-leader', leaderId: result.leaderId }
    if (result instanceof ConfChangeRefusedError) {
      return result.reason === 'pending' ? { status: 'pending-conf-change' } : { status: 'refused', error: result.message }
    }
    return pending.applied ?? { status: 'unknown', error: 'grey: lost track of the proposal' }
  }

  #awaitApplied(accepted: AcceptedProposal, deadline: number): Promise<LocalOutcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#proposals.delete(accepted.index)
        resolve({ status: 'unknown', error: `grey: entry ${accepted.index} was not committed within the timeout; it may still commit` })
      }, deadline - monotonicMs())
      this.#proposals.set(accepted.index, {
        term: accepted.term,
        resolve: (outcome) => {
          clearTimeout(timer)
          resolve(outcome)
        },
      })
    })
  }

  #forward(leader: NodeId, entry: ForwardedEntry, deadline: number): Promise<SubmitOutcome> {
    const requestId = this.#nextRequestId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#forwards.delete(requestId)
        resolve({
          status: 'unknown',
          error: `grey: no answer from the leader ${this.#memberName(leader) ?? leader} in time; the change may still commit`,
        })
      }, deadline - monotonicMs())
      this.#forwards.set(requestId, (outcome) => {
        clearTimeout(timer)
        this.#forwards.delete(requestId)
        resolve(outcome)
      })
      this.#transport?.send(leader, { kind: 'forward', requestId, entry, timeoutMs: Math.max(0, deadline - monotonicMs()) })
    })
  }

  /** The leader's side of a forwarded proposal: propose here (once; the follower retries) and answer. */
  async #answerForward(from: NodeId, requestId: number, entry: ForwardedEntry, timeoutMs: number): Promise<void> {
    const deadline = monotonicMs() + Math.min(timeoutMs, DEFAULT_PROPOSAL_TIMEOUT_MS * 6)
    const local = await this.#proposeHere(entry, deadline)
    const outcome: SubmitOutcome =
      local.status === 'superseded' || local.status === 'pending-conf-change'
        ? { status: 'not-leader', leaderId: this.#soft.leaderId === this.id ? null : this.#soft.leaderId }
        : local.status === 'not-leader'
          ? { status: 'not-leader', leaderId: local.leaderId === from ? null : local.leaderId }
          : local
    this.#transport?.send(from, { kind: 'forward-result', requestId, outcome })
  }

  #waitApplied(index: number, deadline: number): Promise<void> {
    if (this.#state.data.appliedIndex >= index) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - monotonicMs()))
      this.#appliedWaiters.push({
        index,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }

  #receive(from: NodeId, payload: DeliveredPayload): void {
    switch (payload.kind) {
      case 'raft':
        this.#input(() => {
          if (!this.#losesPreVoteTie(payload.message)) this.#node.step(payload.message)
        })
        return
      case 'forward':
        void this.#answerForward(from, payload.requestId, payload.entry, payload.timeoutMs)
        return
      case 'forward-result':
        this.#forwards.get(payload.requestId)?.(payload.outcome)
        return
      case 'report':
        this.#noteReport(this.#memberName(from) ?? `node-${from}`, payload.report)
        return
    }
  }

  #noteReport(member: string, report: HealthReport): void {
    const now = monotonicMs()
    this.#reports.set(member, {
      member,
      region: report.region,
      epoch: report.epoch,
      downSinceMs: report.downForMs === null ? null : now - report.downForMs,
      receivedAtMs: now,
    })
  }

  /**
   * This Grey's view of the PostgreSQL primary, kept here and sent to every voter: whichever leads decides failovers
   * from the latest report of each member (src/failover/decide-failover.ts). Reports are not logged.
   */
  reportPrimary(report: HealthReport): void {
    this.#noteReport(this.#options.name, report)
    for (const id of this.#peers.keys()) if (id !== this.id) this.#transport?.send(id, { kind: 'report', report })
  }

  /**
   * Hands the leadership to voter `to` (thesis §3.10): it campaigns as soon as its log matches this leader's, and
   * proposals wait meanwhile (an election timeout at most). Null when started, else why not.
   */
  async transferLeadership(to: NodeId): Promise<string | null> {
    const result = await this.#call(() => this.#node.transferLeadership(to)?.message ?? 'started')
    if (result === null) return 'grey: this Grey is shutting down'
    return result === 'started' ? null : result
  }

  /** The latest report of every member that sent one (this one's included). */
  primaryReports(): PrimaryReport[] {
    return [...this.#reports.values()]
  }

  /**
   * Why this member is cut off from the Raft majority, or null: a voter that has heard fewer than a majority of voters
   * within the election timeout (a follower loses its leader, a leader steps down, in that time). Writes through this
   * Grey are fenced on it: a region cut off stops taking writes before the majority side can have promoted a new
   * primary (failover_after is longer than the election timeout).
   */
  cutOff(): string | null {
    const now = monotonicMs()
    if (this.#cutOffAt !== null && now - this.#cutOffAt.at < CUT_OFF_CACHE_MS) return this.#cutOffAt.reason
    const { quorum, role } = this.status()
    const reason = role === 'stopped' || quorum.reachable < quorum.needed ? quorum.reason : null
    this.#cutOffAt = { at: now, reason }
    return reason
  }

  /** Whether this member leads the Raft group now. */
  get isLeader(): boolean {
    return this.#soft.role === 'leader'
  }

  /**
   * Two members whose election timeouts fire within one network delay of each other both win the other's pre-vote,
   * both become candidates, vote for themselves and split the vote; the next try comes an election timeout later.
   * The tie is broken here: a pre-candidate that could win (its log is at least as up to date) does not answer the
   * pre-vote of a member with a higher node id. The sender sees a lost message, which Raft tolerates; the other
   * member still answers ours, so one of the two wins at once.
   */
  #losesPreVoteTie(m: RaftMessage): boolean {
    if (m.type !== 'pre-vote' || m.from < this.id) return false
    const s = this.#node.status()
    return s.role === 'pre-candidate' && (s.lastTerm > m.lastTerm || (s.lastTerm === m.lastTerm && s.lastIndex >= m.lastIndex))
  }

  // ---- Members ----------------------------------------------------------------------------------------------

  /** A peer's address as this member reaches it: the config first (it may name a WAN relay), then the registry. */
  #addressOf(id: NodeId): string | null {
    const peer = this.#peers.get(id)
    if (peer !== undefined) return peer.address
    for (const member of Object.values(this.#state.data.members)) if (member.nodeId === id) return member.address
    return null
  }

  #regionOf(id: NodeId): string | null {
    const peer = this.#peers.get(id)
    if (peer !== undefined) return peer.region ?? null
    for (const member of Object.values(this.#state.data.members)) if (member.nodeId === id) return member.region
    return null
  }

  #memberName(id: NodeId): string | null {
    if (id === this.id) return this.name
    const peer = this.#peers.get(id)
    if (peer !== undefined) return peer.id
    for (const [name, member] of Object.entries(this.#state.data.members)) if (member.nodeId === id) return name
    return null
  }
}

/** The RaftServerOptions of a validated config's consensus.raft section. */
export function raftServerOptionsFromConfig(
  raft: {
    node_id: string
    listen: string
    peers: readonly RaftPeerOption[]
    election_timeout: number
    heartbeat_interval: number
    data_dir: string
    secret?: string | undefined
  },
  rest: Pick<RaftServerOptions, 'clock' | 'log' | 'metrics' | 'region'>,
): RaftServerOptions {
  return {
    name: raft.node_id,
    listen: formatHostPort(hostPort(raft.listen)),
    peers: raft.peers,
    electionTimeoutMs: raft.election_timeout,
    heartbeatIntervalMs: raft.heartbeat_interval,
    dataDir: raft.data_dir,
    secret: raft.secret,
    ...rest,
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
