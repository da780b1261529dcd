// RaftNode's contract with its shell: options, the Ready/advance protocol, restarts, refusals, reads, compaction and
// the corner cases of snapshots and stale messages that the paper tests and scenario scripts do not reach.
import t from 'tap'
import { encodeConfChange } from '../../src/consensus/conf-change.js'
import { ConfChangeRefusedError, NotLeaderError, ReadRefusedError } from '../../src/consensus/raft-errors.js'
import { RaftNode, type RaftNodeOptions, type Ready } from '../../src/consensus/raft-node.js'
import type { AppendRequest, LogEntry, NodeId, RaftMessage, Snapshot } from '../../src/consensus/raft-message.js'
import { mulberry32 } from '../fixtures/raft/prng.js'

function node(options: Partial<RaftNodeOptions> & { id?: NodeId } = {}): RaftNode {
  return new RaftNode({ id: 1, voters: [1, 2, 3], preVote: false, checkQuorum: false, random: mulberry32(1), ...options })
}

function drain(n: RaftNode): Ready {
  const ready = n.ready()
  n.advance()
  return ready
}

function entry(index: number, term: number, kind: LogEntry['kind'] = 'command', data: Uint8Array = new Uint8Array(0)): LogEntry {
  return { index, term, kind, data }
}

function append(fields: Partial<AppendRequest>): AppendRequest {
  return { type: 'append', from: 2, to: 1, term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, ...fields }
}

/** Node 1 elected by a full quorum, its empty entry committed; every message read. */
function leader(options: Partial<RaftNodeOptions> = {}): RaftNode {
  const n = node(options)
  n.campaign()
  if (n.status().role !== 'leader') {
    drain(n)
    for (const id of n.status().config.voters)
      if (id !== 1) n.step({ type: 'vote-response', from: id, to: 1, term: n.status().term, reject: false })
  }
  for (const m of drain(n).messages) {
    if (m.type === 'append') {
      n.step({
        type: 'append-response',
        from: m.to,
        to: 1,
        term: m.term,
        index: m.prevIndex + m.entries.length,
        reject: false,
        rejectHint: 0,
        hintTerm: 0,
      })
    }
  }
  drain(n)
  return n
}

t.test('options are checked', (t) => {
  t.throws(() => node({ id: 0 }), /node ids/)
  t.throws(() => node({ electionTicks: 2 }), /electionTicks must be an integer >= 3/)
  t.throws(() => node({ electionTicks: 10.5 }), /electionTicks/)
  t.throws(() => node({ heartbeatTicks: 10 }), /heartbeatTicks must be an integer in \[1, electionTicks\)/)
  t.throws(() => node({ heartbeatTicks: 0 }), /heartbeatTicks/)
  t.throws(() => node({ heartbeatTicks: 1.5 }), /heartbeatTicks/)
  t.throws(() => node({ maxInflight: 0 }), /maxInflight must be a positive integer/)
  t.throws(() => node({ maxEntriesPerAppend: -1 }), /maxEntriesPerAppend/)
  const defaults = new RaftNode({ id: 1, voters: [1], random: () => 0.999999 })
  defaults.campaign()
  t.equal(defaults.status().role, 'leader', 'a single voter elects itself at once, pre-vote included')
  t.end()
})

t.test('between ready() and advance() the core takes no input', (t) => {
  const n = node()
  n.campaign()
  t.ok(n.hasReady())
  n.ready()
  t.notOk(n.hasReady(), 'nothing new while a Ready is outstanding')
  t.throws(() => n.tick(), /tick\(\) between ready\(\) and advance\(\)/)
  t.throws(() => n.step(append({ term: 5 })), /step\(\)/)
  t.throws(() => n.propose(new Uint8Array(0)), /propose\(\)/)
  t.throws(() => n.ready(), /ready\(\)/)
  n.advance()
  t.throws(() => n.advance(), /advance\(\) without a Ready/)
  t.notOk(n.hasReady())
  t.end()
})

t.test('a message for another node is ignored', (t) => {
  const n = node()
  n.step({ ...append({ term: 3 }), to: 2 })
  t.equal(n.status().term, 0)
  t.notOk(n.hasReady())
  t.end()
})

t.test('a restart brings back term, vote, log, commit and the membership in force at the applied index', (t) => {
  const addLearner = encodeConfChange({ kind: 'add-learner', nodeId: 4 })
  const log = [entry(1, 1, 'noop'), entry(2, 1, 'conf-change', addLearner), entry(3, 2, 'command', Uint8Array.of(1))]
  const n = node({ storage: { hardState: { term: 2, vote: 3, commit: 3 }, snapshot: null, entries: log, applied: 2 } })
  const s = n.status()
  t.same([s.term, s.vote, s.commit, s.applied, s.lastIndex], [2, 3, 3, 2, 3])
  t.same(s.config, { voters: [1, 2, 3], learners: [4] })
  t.same(
    drain(n).committedEntriesToApply.map((e) => e.index),
    [3],
    'only what the state machine had not applied',
  )
  t.end()
})

t.test('a restart from a snapshot starts the log and the membership there', (t) => {
  const snapshot: Snapshot = { index: 10, term: 3, config: { voters: [1, 2], learners: [5] }, data: Uint8Array.of(1) }
  const n = node({ storage: { hardState: { term: 4, vote: null, commit: 0 }, snapshot, entries: [entry(11, 4)] } })
  const s = n.status()
  t.same([s.firstIndex, s.lastIndex, s.commit, s.applied], [11, 11, 10, 10])
  t.same(s.config, { voters: [1, 2], learners: [5] })
  t.notOk(n.hasReady(), 'nothing to persist or apply')
  t.end()
})

t.test('proposals and membership changes are refused with a reason', (t) => {
  const follower = node()
  t.same((follower.propose(new Uint8Array(0)) as NotLeaderError).leaderId, null)
  t.ok(follower.proposeConfChange({ kind: 'add-learner', nodeId: 4 }) instanceof NotLeaderError)
  t.ok(follower.readIndex(1) instanceof NotLeaderError)
  t.ok(follower.leaseRead() instanceof NotLeaderError)

  const n = leader()
  const invalid = n.proposeConfChange({ kind: 'promote-learner', nodeId: 2 })
  t.ok(invalid instanceof ConfChangeRefusedError && invalid.reason === 'invalid')
  t.same(n.proposeConfChange({ kind: 'add-learner', nodeId: 4 }), { index: 2, term: 1 })
  const pending = n.proposeConfChange({ kind: 'add-learner', nodeId: 5 })
  t.ok(pending instanceof ConfChangeRefusedError && pending.reason === 'pending')
  t.end()
})

t.test('a follower does not campaign while a committed membership change is unapplied', (t) => {
  const n = node()
  const change = entry(1, 1, 'conf-change', encodeConfChange({ kind: 'remove-node', nodeId: 3 }))
  n.step(append({ entries: [change], commit: 1 }))
  n.campaign()
  t.equal(n.status().role, 'follower', 'its idea of the voters may be stale')
  drain(n)
  t.same(n.status().config.voters, [1, 2])
  n.campaign()
  t.equal(n.status().role, 'candidate')
  t.end()
})

t.test('reads: a single voter answers at once; lease reads need check-quorum and a commit in the term', (t) => {
  const single = new RaftNode({ id: 1, voters: [1], random: mulberry32(3) })
  single.campaign()
  t.equal(single.readIndex(9), null)
  t.same(drain(single).readStates, [{ requestId: 9, index: 1 }])
  t.same(single.leaseRead(), { index: 1 })

  const n = leader()
  t.equal((n.leaseRead() as ReadRefusedError).reason, 'check-quorum-off')
  const fresh = node({ checkQuorum: true })
  fresh.campaign()
  drain(fresh)
  fresh.step({ type: 'vote-response', from: 2, to: 1, term: 1, reject: false })
  t.equal((fresh.leaseRead() as ReadRefusedError).reason, 'no-commit-in-term')
  t.end()
})

t.test('compaction records the membership in force at the compacted index', (t) => {
  const n = leader()
  n.proposeConfChange({ kind: 'add-learner', nodeId: 4 })
  for (const m of drain(n).messages) {
    if (m.type === 'append' && m.to !== 4) {
      n.step({
        type: 'append-response',
        from: m.to,
        to: 1,
        term: 1,
        index: m.prevIndex + m.entries.length,
        reject: false,
        rejectHint: 0,
        hintTerm: 0,
      })
    }
  }
  drain(n)
  t.same(n.status().applied, 2)
  t.ok(n.compact(1, Uint8Array.of(1)))
  t.same(drain(n).snapshotToPersist?.config, { voters: [1, 2, 3], learners: [] }, 'before the change')
  t.notOk(n.compact(1, Uint8Array.of(1)), 'already compacted')
  t.ok(n.compact(2, Uint8Array.of(2)))
  t.same(drain(n).snapshotToPersist?.config, { voters: [1, 2, 3], learners: [4] }, 'after it')
  t.end()
})

t.test('a snapshot the follower does not need only moves its commit index', (t) => {
  const config = { voters: [1, 2, 3], learners: [] }
  const n = node({
    storage: { hardState: { term: 2, vote: null, commit: 2 }, snapshot: null, entries: [entry(1, 1), entry(2, 1), entry(3, 2)] },
  })
  const snap = (index: number, term: number): RaftMessage => ({
    type: 'snapshot',
    from: 2,
    to: 1,
    term: 2,
    snapshot: { index, term, config, data: new Uint8Array(0) },
  })
  n.step(snap(1, 1))
  t.same(
    drain(n).messages.map((m) => m.type === 'append-response' && m.index),
    [2],
    'older than the commit: answer with the commit',
  )
  n.step(snap(3, 2))
  const ready = drain(n)
  t.equal(n.status().commit, 3, 'we hold its last entry, hence the prefix')
  t.equal(ready.snapshotToApply, null)
  t.same(
    n.entries().map((e) => e.index),
    [1, 2, 3],
    'the log stays',
  )
  t.end()
})

t.test('a snapshot that got no answer is sent again after an election timeout', (t) => {
  const n = node({ electionTicks: 5, heartbeatTicks: 1 })
  n.campaign()
  drain(n)
  n.step({ type: 'vote-response', from: 2, to: 1, term: 1, reject: false })
  const ack = (from: NodeId, index: number): RaftMessage => ({
    type: 'append-response',
    from,
    to: 1,
    term: 1,
    index,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
  })
  // Only node 2 answers, so node 3 still needs entry 1, which the compaction below removes.
  drain(n)
  n.step(ack(2, 1))
  n.propose(Uint8Array.of(1))
  drain(n)
  n.step(ack(2, 2))
  drain(n)
  t.ok(n.compact(2, Uint8Array.of(1)))
  drain(n)
  const toNode3 = () => drain(n).messages.filter((m) => m.to === 3 && m.type !== 'heartbeat')
  n.tick()
  n.step({ type: 'heartbeat-response', from: 3, to: 1, term: 1, round: 1 })
  t.same(
    toNode3().map((m) => m.type),
    ['snapshot'],
    'the entries it needs are gone',
  )
  t.equal(n.status().progress.get(3)?.state, 'snapshot')
  n.tick()
  n.step({ type: 'heartbeat-response', from: 3, to: 1, term: 1, round: 2 })
  t.same(toNode3(), [], 'waiting for the snapshot to be installed')
  for (let i = 0; i < 5; i++) n.tick()
  n.step({ type: 'heartbeat-response', from: 3, to: 1, term: 1, round: 3 })
  t.same(
    toNode3().map((m) => m.type === 'append' && `append prev=${m.prevIndex}`),
    ['append prev=2'],
    'no answer for an election timeout: probe again after the snapshot',
  )
  n.step({ type: 'append-response', from: 3, to: 1, term: 1, index: 2, reject: true, rejectHint: 0, hintTerm: 0 })
  t.same(
    toNode3().map((m) => m.type),
    ['snapshot'],
    'the snapshot was lost: send it again',
  )
  t.end()
})

t.test('stale messages', (t) => {
  const withChecks = node({ checkQuorum: true, storage: { hardState: { term: 5, vote: null, commit: 0 }, snapshot: null, entries: [] } })
  withChecks.step(append({ term: 3 }))
  withChecks.step({ type: 'heartbeat', from: 2, to: 1, term: 3, commit: 0, round: 1 })
  withChecks.step({ type: 'pre-vote', from: 3, to: 1, term: 4, lastIndex: 9, lastTerm: 4 })
  withChecks.step({ type: 'vote-response', from: 3, to: 1, term: 4, reject: false })
  t.same(
    drain(withChecks).messages.map((m) => `${m.type} t${m.term} to ${m.to}`),
    ['append-response t5 to 2', 'append-response t5 to 2', 'pre-vote-response t5 to 3'],
    'an old leader learns the term; an old pre-candidate is refused; the rest is dropped',
  )

  const n = leader()
  n.step({ type: 'append-response', from: 9, to: 1, term: 1, index: 5, reject: false, rejectHint: 0, hintTerm: 0 })
  n.step({ type: 'vote-response', from: 2, to: 1, term: 1, reject: false })
  n.step(append({ from: 2, term: 1 }))
  t.notOk(n.hasReady(), 'the leader ignores a stranger, votes and appends of its own term')
  t.end()
})

t.test('a candidate counts only the answers of its current phase', (t) => {
  const n = node({ preVote: true })
  n.campaign()
  n.step({ type: 'pre-vote-response', from: 2, to: 1, term: 1, reject: false })
  t.equal(n.status().role, 'candidate')
  n.step({ type: 'pre-vote-response', from: 3, to: 1, term: 1, reject: false })
  t.equal(n.status().role, 'candidate', 'a late pre-vote answer is not a vote')
  n.step({ type: 'heartbeat', from: 3, to: 1, term: 1, commit: 0, round: 1 })
  t.same([n.status().role, n.status().leaderId], ['follower', 3])
  t.end()
})

t.test('a leader with check-quorum ignores vote requests of a higher term', (t) => {
  const n = leader({ checkQuorum: true })
  n.step({ type: 'vote', from: 2, to: 1, term: 7, lastIndex: 9, lastTerm: 6 })
  t.same([n.status().role, n.status().term], ['leader', 1])
  t.end()
})

t.test('status shows the leader its followers', (t) => {
  const n = leader({ maxInflight: 1 })
  n.propose(Uint8Array.of(1))
  drain(n)
  t.same(n.status().progress.get(2), { match: 1, next: 3, state: 'replicate', paused: true, inflight: 1, recentActive: true })
  t.end()
})

t.test('refusals say what to do', (t) => {
  t.match(new NotLeaderError(2, 1).message, /forward to node 1/)
  t.match(new NotLeaderError(2, null).message, /knows no leader/)
  t.match(new ConfChangeRefusedError('pending', 'x').message, /retry after it commits/)
  t.match(new ConfChangeRefusedError('invalid', 'node 4 is not a learner').message, /refused: node 4 is not a learner/)
  t.match(new ReadRefusedError('check-quorum-off').message, /check_quorum/)
  t.match(new ReadRefusedError('no-commit-in-term').message, /not committed an entry of its term/)
  t.match(new ReadRefusedError('lease-expired').message, /within its lease/)
  t.end()
})

t.test('campaign() does nothing on a leader or a node that is not a voter', (t) => {
  const n = leader()
  n.campaign()
  t.same([n.status().role, n.status().term], ['leader', 1])
  const learner = node({ id: 4, learners: [4] })
  learner.campaign()
  for (let i = 0; i < 100; i++) learner.tick()
  t.same([learner.status().role, learner.status().term], ['follower', 0])
  t.notOk(learner.hasReady())
  t.end()
})
