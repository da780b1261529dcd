// Conformance with the Raft paper (https://raft.github.io/raft.pdf): the behaviour of the 26 test functions of
// etcd-io/raft's raft_paper_test.go, ported one for one and named after them. etcd reaches into its raft struct
// (becomeCandidate, loadState, readMessages); these drive RaftNode through its public API instead: stored state
// for loadState, campaign() and vote responses for becomeCandidate/becomeLeader, ready()/advance() for readMessages.
// Like etcd's paper tests they run without pre-vote and check-quorum.
import t, { type Test } from 'tap'
import { RaftNode, type RaftNodeOptions, type Ready, type StoredState } from '../../src/consensus/raft-node.js'
import type { AppendRequest, AppendResponse, LogEntry, NodeId, RaftMessage, RaftRole } from '../../src/consensus/raft-message.js'
import { mulberry32 } from '../fixtures/raft/prng.js'

const NONE = null
const data = (text: string) => new TextEncoder().encode(text)

function ids(size: number): NodeId[] {
  return Array.from({ length: size }, (_, i) => i + 1)
}

/** Entries with consecutive indexes from `first` and the given terms (etcd's index(i).terms(...)). */
function entries(first: number, ...terms: number[]): LogEntry[] {
  return terms.map((term, i) => ({ index: first + i, term, kind: 'command' as const, data: new Uint8Array(0) }))
}

function stored(log: LogEntry[], hard: { term?: number; vote?: NodeId | null; commit?: number } = {}): StoredState {
  return { hardState: { term: hard.term ?? 0, vote: hard.vote ?? NONE, commit: hard.commit ?? 0 }, snapshot: null, entries: log }
}

function newTestRaft(id: NodeId, peers: NodeId[], options: Partial<RaftNodeOptions> = {}): RaftNode {
  return new RaftNode({
    id,
    voters: peers,
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: false,
    checkQuorum: false,
    random: mulberry32(id * 7919),
    ...options,
  })
}

/** One Ready handled as a shell would (everything persisted, sent, applied), returned for inspection. */
function drain(node: RaftNode): Ready {
  const ready = node.ready()
  node.advance()
  return ready
}

function readMessages(node: RaftNode): RaftMessage[] {
  return sortMessages([...drain(node).messages])
}

function sortMessages(messages: RaftMessage[]): RaftMessage[] {
  return messages.sort((a, b) => a.to - b.to || a.type.localeCompare(b.type) || a.from - b.from)
}

function role(node: RaftNode): RaftRole {
  return node.status().role
}

/** becomeCandidate + becomeLeader: campaign and collect the votes of a majority. */
function becomeLeader(node: RaftNode): void {
  node.campaign()
  if (role(node) !== 'leader') drain(node)
  const { term, config } = node.status()
  for (const id of config.voters) {
    if (role(node) === 'leader') break
    if (id !== node.id) node.step({ type: 'vote-response', from: id, to: node.id, term, reject: false })
  }
  if (role(node) !== 'leader') throw new Error('expected to win the election')
}

function acceptAndReply(m: RaftMessage): AppendResponse {
  if (m.type !== 'append') throw new Error(`expected an append, got ${m.type}`)
  return {
    type: 'append-response',
    from: m.to,
    to: m.from,
    term: m.term,
    index: m.prevIndex + m.entries.length,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
  }
}

/** The leader's first entry of its term gets acknowledged by every follower, and every message is read. */
function commitNoopEntry(node: RaftNode): void {
  for (const m of readMessages(node)) {
    if (m.type !== 'append' || m.entries.length !== 1 || m.entries[0]?.kind !== 'noop') throw new Error('not the noop append')
    node.step(acceptAndReply(m))
  }
  readMessages(node)
}

function append(from: NodeId, to: NodeId, term: number, fields: Partial<AppendRequest> = {}): AppendRequest {
  return { type: 'append', from, to, term, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, ...fields }
}

/** becomeFollower(term, lead): a message from the leader at that term. */
function becomeFollower(node: RaftNode, term: number, lead: NodeId): void {
  node.step({ type: 'heartbeat', from: lead, to: node.id, term, commit: 0, round: 0 })
  drain(node)
}

function testUpdateTermFromMessage(t: Test, state: RaftRole) {
  const r = newTestRaft(1, [1, 2, 3])
  if (state === 'follower') becomeFollower(r, 1, 2)
  else if (state === 'candidate') r.campaign()
  else becomeLeader(r)
  if (r.hasReady()) drain(r)

  r.step(append(2, 1, 2))

  t.equal(r.status().term, 2)
  t.equal(role(r), 'follower')
  t.end()
}

t.test('TestFollowerUpdateTermFromMessage', (t) => testUpdateTermFromMessage(t, 'follower'))
t.test('TestCandidateUpdateTermFromMessage', (t) => testUpdateTermFromMessage(t, 'candidate'))
t.test('TestLeaderUpdateTermFromMessage', (t) => testUpdateTermFromMessage(t, 'leader'))

// Raft §5.1: a request with a stale term is rejected; like etcd, the core ignores it outright.
t.test('TestRejectStaleTermMessage', (t) => {
  const r = newTestRaft(1, [1, 2, 3], { storage: stored([], { term: 2 }) })
  const before = r.status()

  r.step(append(2, 1, 1, { entries: entries(1, 1), commit: 1 }))

  t.same(r.status(), before)
  t.notOk(r.hasReady(), 'no message, no state change')
  t.end()
})

t.test('TestStartAsFollower', (t) => {
  const r = newTestRaft(1, [1, 2, 3])
  t.equal(role(r), 'follower')
  t.end()
})

// Raft §5.2: the leader's heartbeat is an empty append carrying a commit index it knows the follower can take.
t.test('TestLeaderBcastBeat', (t) => {
  const r = newTestRaft(1, [1, 2, 3], { heartbeatTicks: 1 })
  becomeLeader(r)
  for (let i = 0; i < 10; i++) r.propose(data(`entry ${i}`))
  readMessages(r)

  r.tick()

  t.strictSame(
    readMessages(r).map((m) => (m.type === 'heartbeat' ? { ...m, round: 0 } : m)),
    [
      { type: 'heartbeat', from: 1, to: 2, term: 1, commit: 0, round: 0 },
      { type: 'heartbeat', from: 1, to: 3, term: 1, commit: 0, round: 0 },
    ],
  )
  t.end()
})

// Raft §5.2: without word from a leader for an election timeout, a follower (or a candidate that got no majority)
// increments its term, votes for itself and asks every other server for its vote.
function testNonleaderStartElection(t: Test, state: 'follower' | 'candidate') {
  const et = 10
  const r = newTestRaft(1, [1, 2, 3], { electionTicks: et })
  if (state === 'follower') becomeFollower(r, 1, 2)
  else {
    r.campaign()
    drain(r)
  }

  for (let i = 1; i < 2 * et; i++) r.tick()

  const status = r.status()
  t.equal(status.term, 2)
  t.equal(status.role, 'candidate')
  t.equal(status.vote, 1, 'voted for itself')
  t.strictSame(readMessages(r), [
    { type: 'vote', from: 1, to: 2, term: 2, lastIndex: 0, lastTerm: 0 },
    { type: 'vote', from: 1, to: 3, term: 2, lastIndex: 0, lastTerm: 0 },
  ])
  t.end()
}

t.test('TestFollowerStartElection', (t) => testNonleaderStartElection(t, 'follower'))
t.test('TestCandidateStartNewElection', (t) => testNonleaderStartElection(t, 'candidate'))

// Raft §5.2: one round of RequestVote wins, loses, or leaves the outcome open.
t.test('TestLeaderElectionInOneRoundRPC', (t) => {
  const cases: { size: number; votes: [NodeId, boolean][]; state: RaftRole }[] = [
    // A majority of grants wins.
    { size: 1, votes: [], state: 'leader' },
    {
      size: 3,
      votes: [
        [2, true],
        [3, true],
      ],
      state: 'leader',
    },
    { size: 3, votes: [[2, true]], state: 'leader' },
    {
      size: 5,
      votes: [
        [2, true],
        [3, true],
        [4, true],
        [5, true],
      ],
      state: 'leader',
    },
    {
      size: 5,
      votes: [
        [2, true],
        [3, true],
        [4, true],
      ],
      state: 'leader',
    },
    {
      size: 5,
      votes: [
        [2, true],
        [3, true],
      ],
      state: 'leader',
    },
    // A majority of denials returns to follower.
    {
      size: 3,
      votes: [
        [2, false],
        [3, false],
      ],
      state: 'follower',
    },
    {
      size: 5,
      votes: [
        [2, false],
        [3, false],
        [4, false],
        [5, false],
      ],
      state: 'follower',
    },
    {
      size: 5,
      votes: [
        [2, true],
        [3, false],
        [4, false],
        [5, false],
      ],
      state: 'follower',
    },
    // Neither stays candidate.
    { size: 3, votes: [], state: 'candidate' },
    { size: 5, votes: [[2, true]], state: 'candidate' },
    {
      size: 5,
      votes: [
        [2, false],
        [3, false],
      ],
      state: 'candidate',
    },
    { size: 5, votes: [], state: 'candidate' },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, ids(c.size))
    r.campaign()
    for (const [id, granted] of c.votes) r.step({ type: 'vote-response', from: id, to: 1, term: r.status().term, reject: !granted })
    t.equal(role(r), c.state, `#${i}`)
    t.equal(r.status().term, 1, `#${i}`)
  })
  t.end()
})

// Raft §5.2: at most one vote per term, first come first served.
t.test('TestFollowerVote', (t) => {
  const cases: { vote: NodeId | null; nvote: NodeId; wreject: boolean }[] = [
    { vote: NONE, nvote: 2, wreject: false },
    { vote: NONE, nvote: 3, wreject: false },
    { vote: 2, nvote: 2, wreject: false },
    { vote: 3, nvote: 3, wreject: false },
    { vote: 2, nvote: 3, wreject: true },
    { vote: 3, nvote: 2, wreject: true },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, [1, 2, 3], { storage: stored([], { term: 1, vote: c.vote }) })
    r.step({ type: 'vote', from: c.nvote, to: 1, term: 1, lastIndex: 0, lastTerm: 0 })
    t.strictSame(readMessages(r), [{ type: 'vote-response', from: 1, to: c.nvote, term: 1, reject: c.wreject }], `#${i}`)
  })
  t.end()
})

// Raft §5.2: a candidate that hears from a leader with a term at least its own becomes its follower.
t.test('TestCandidateFallback', (t) => {
  for (const [i, m] of [append(2, 1, 1), append(2, 1, 2)].entries()) {
    const r = newTestRaft(1, [1, 2, 3])
    r.campaign()
    t.equal(role(r), 'candidate', `#${i}`)

    r.step(m)

    t.equal(role(r), 'follower', `#${i}`)
    t.equal(r.status().term, m.term, `#${i}`)
  }
  t.end()
})

// Raft §5.2: election timeouts are randomised, every value of [et, 2et) turns up.
function testNonleaderElectionTimeoutRandomized(t: Test, state: 'follower' | 'candidate') {
  const et = 10
  const r = newTestRaft(1, [1, 2, 3], { electionTicks: et })
  const timeouts = new Set<number>()
  for (let round = 0; round < 50 * et; round++) {
    if (state === 'follower') becomeFollower(r, r.status().term + 1, 2)
    else {
      r.campaign()
      drain(r)
    }
    let time = 0
    do {
      r.tick()
      time++
    } while (readMessages(r).length === 0)
    timeouts.add(time)
  }
  for (let d = et; d < 2 * et; d++) t.ok(timeouts.has(d), `timeout in ${d} ticks should happen`)
  t.ok(
    [...timeouts].every((d) => d >= et && d < 2 * et),
    'and nothing outside [et, 2et)',
  )
  t.end()
}

t.test('TestFollowerElectionTimeoutRandomized', (t) => testNonleaderElectionTimeoutRandomized(t, 'follower'))
t.test('TestCandidateElectionTimeoutRandomized', (t) => testNonleaderElectionTimeoutRandomized(t, 'candidate'))

// Raft §5.2: randomisation makes it rare that several servers time out in the same tick and split the vote.
function testNonleadersElectionTimeoutNonconflict(t: Test, state: 'follower' | 'candidate') {
  const et = 10
  const peers = ids(5)
  const rs = peers.map((id) => newTestRaft(id, peers, { electionTicks: et }))
  let conflicts = 0
  for (let round = 0; round < 1000; round++) {
    for (const r of rs) {
      if (state === 'follower') becomeFollower(r, r.status().term + 1, r.id === 1 ? 2 : 1)
      else {
        r.campaign()
        drain(r)
      }
    }
    let timeoutNum = 0
    while (timeoutNum === 0) {
      for (const r of rs) {
        r.tick()
        if (readMessages(r).length > 0) timeoutNum++
      }
    }
    if (timeoutNum > 1) conflicts++
  }
  t.ok(conflicts / 1000 <= 0.3, `conflict ratio ${conflicts / 1000} <= 0.3`)
  t.end()
}

t.test('TestFollowersElectionTimeoutNonconflict', (t) => testNonleadersElectionTimeoutNonconflict(t, 'follower'))
t.test('TestCandidatesElectionTimeoutNonconflict', (t) => testNonleadersElectionTimeoutNonconflict(t, 'candidate'))

// Raft §5.3: a proposal is appended to the leader's log (to be persisted) and sent to every follower, after the
// entry that precedes it.
t.test('TestLeaderStartReplication', (t) => {
  const r = newTestRaft(1, [1, 2, 3])
  becomeLeader(r)
  commitNoopEntry(r)
  const li = r.status().lastIndex

  r.propose(data('some data'))

  t.equal(r.status().lastIndex, li + 1)
  t.equal(r.status().commit, li)
  const ready = drain(r)
  const wents: LogEntry[] = [{ index: li + 1, term: 1, kind: 'command', data: data('some data') }]
  t.strictSame(sortMessages([...ready.messages]), [
    { type: 'append', from: 1, to: 2, term: 1, prevIndex: li, prevTerm: 1, entries: wents, commit: li },
    { type: 'append', from: 1, to: 3, term: 1, prevIndex: li, prevTerm: 1, entries: wents, commit: li },
  ])
  t.strictSame(ready.entriesToPersist, wents)
  t.end()
})

// Raft §5.3: once replicated on a majority the entry is committed, handed to the state machine, and the new commit
// index goes out in the next appends.
t.test('TestLeaderCommitEntry', (t) => {
  const r = newTestRaft(1, [1, 2, 3])
  becomeLeader(r)
  commitNoopEntry(r)
  const li = r.status().lastIndex
  r.propose(data('some data'))

  for (const m of readMessages(r)) r.step(acceptAndReply(m))

  t.equal(r.status().commit, li + 1)
  const ready = drain(r)
  t.strictSame(ready.committedEntriesToApply, [{ index: li + 1, term: 1, kind: 'command', data: data('some data') }])
  const msgs = sortMessages([...ready.messages])
  t.equal(msgs.length, 2)
  msgs.forEach((m, i) => {
    t.equal(m.to, i + 2)
    t.equal(m.type, 'append')
    t.equal(m.type === 'append' && m.commit, li + 1)
  })
  t.end()
})

// Raft §5.3: an entry is committed once the leader that created it has replicated it on a majority.
t.test('TestLeaderAcknowledgeCommit', (t) => {
  const cases: { size: number; acceptors: NodeId[]; wack: boolean }[] = [
    { size: 1, acceptors: [], wack: true },
    { size: 3, acceptors: [], wack: false },
    { size: 3, acceptors: [2], wack: true },
    { size: 3, acceptors: [2, 3], wack: true },
    { size: 5, acceptors: [], wack: false },
    { size: 5, acceptors: [2], wack: false },
    { size: 5, acceptors: [2, 3], wack: true },
    { size: 5, acceptors: [2, 3, 4], wack: true },
    { size: 5, acceptors: [2, 3, 4, 5], wack: true },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, ids(c.size))
    becomeLeader(r)
    commitNoopEntry(r)
    const li = r.status().lastIndex
    r.propose(data('some data'))
    for (const m of readMessages(r)) if (c.acceptors.includes(m.to)) r.step(acceptAndReply(m))
    t.equal(r.status().commit > li, c.wack, `#${i}`)
  })
  t.end()
})

// Raft §5.3: committing an entry commits every preceding one, earlier leaders' entries included, applied in order.
t.test('TestLeaderCommitPrecedingEntries', (t) => {
  const cases: LogEntry[][] = [[], entries(1, 2), entries(1, 1, 2), entries(1, 1)]
  cases.forEach((tt, i) => {
    const r = newTestRaft(1, [1, 2, 3], { storage: stored(tt, { term: 2 }) })
    becomeLeader(r)
    r.propose(data('some data'))

    const applied: LogEntry[] = []
    for (let msgs = readMessages(r); msgs.length > 0;) {
      for (const m of msgs) r.step(acceptAndReply(m))
      const ready = drain(r)
      applied.push(...ready.committedEntriesToApply)
      msgs = [...ready.messages]
    }

    const li = tt.length
    t.strictSame(
      applied,
      [
        ...tt,
        { index: li + 1, term: 3, kind: 'noop', data: new Uint8Array(0) },
        { index: li + 2, term: 3, kind: 'command', data: data('some data') },
      ],
      `#${i}`,
    )
  })
  t.end()
})

// Raft §5.3: a follower that learns an entry is committed applies it, in log order.
t.test('TestFollowerCommitEntry', (t) => {
  const withData = (index: number, text: string): LogEntry => ({ index, term: 1, kind: 'command', data: data(text) })
  const cases: { ents: LogEntry[]; commit: number }[] = [
    { ents: [withData(1, 'some data')], commit: 1 },
    { ents: [withData(1, 'some data'), withData(2, 'some data2')], commit: 2 },
    { ents: [withData(1, 'some data2'), withData(2, 'some data')], commit: 2 },
    { ents: [withData(1, 'some data'), withData(2, 'some data2')], commit: 1 },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, [1, 2, 3])
    becomeFollower(r, 1, 2)

    r.step(append(2, 1, 1, { entries: c.ents, commit: c.commit }))

    t.equal(r.status().commit, c.commit, `#${i}`)
    t.strictSame(drain(r).committedEntriesToApply, c.ents.slice(0, c.commit), `#${i}`)
  })
  t.end()
})

// Raft §5.3: a follower refuses entries unless it holds the entry that precedes them; its refusal hints where the
// logs may meet.
t.test('TestFollowerCheckMsgApp', (t) => {
  const ents = entries(1, 1, 2)
  const cases = [
    // Matches a committed entry.
    { term: 0, index: 0, windex: 1, wreject: false, wrejectHint: 0, wlogterm: 0 },
    { term: 1, index: 1, windex: 1, wreject: false, wrejectHint: 0, wlogterm: 0 },
    // Matches an uncommitted entry.
    { term: 2, index: 2, windex: 2, wreject: false, wrejectHint: 0, wlogterm: 0 },
    // Does not match the existing entry.
    { term: 1, index: 2, windex: 2, wreject: true, wrejectHint: 1, wlogterm: 1 },
    // The entry does not exist.
    { term: 3, index: 3, windex: 3, wreject: true, wrejectHint: 2, wlogterm: 2 },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, [1, 2, 3], { storage: stored(ents, { term: 2, commit: 1 }) })
    becomeFollower(r, 2, 2)

    r.step(append(2, 1, 2, { prevTerm: c.term, prevIndex: c.index }))

    t.strictSame(
      readMessages(r),
      [
        {
          type: 'append-response',
          from: 1,
          to: 2,
          term: 2,
          index: c.windex,
          reject: c.wreject,
          rejectHint: c.wrejectHint,
          hintTerm: c.wlogterm,
        },
      ],
      `#${i}`,
    )
  })
  t.end()
})

// Raft §5.3: a valid append deletes the conflicting entry and all that follow it, then appends what is new; the new
// entries go to stable storage.
t.test('TestFollowerAppendEntries', (t) => {
  const cases = [
    { index: 2, term: 2, ents: entries(3, 3), wents: entries(1, 1, 2, 3), wunstable: entries(3, 3) },
    { index: 1, term: 1, ents: entries(2, 3, 4), wents: entries(1, 1, 3, 4), wunstable: entries(2, 3, 4) },
    { index: 0, term: 0, ents: entries(1, 1), wents: entries(1, 1, 2), wunstable: [] },
    { index: 0, term: 0, ents: entries(1, 3), wents: entries(1, 3), wunstable: entries(1, 3) },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, [1, 2, 3], { storage: stored(entries(1, 1, 2), { term: 2 }) })
    becomeFollower(r, 2, 2)

    r.step(append(2, 1, 2, { prevTerm: c.term, prevIndex: c.index, entries: c.ents }))

    t.strictSame(r.entries(), c.wents, `#${i}`)
    t.strictSame(drain(r).entriesToPersist, c.wunstable, `#${i}`)
  })
  t.end()
})

/** etcd's network: each message is stepped by its recipient, whose answers are delivered in turn; node 3 drops all. */
function deliverAll(nodes: Map<NodeId, RaftNode>, first: RaftMessage[]): void {
  const queue = [...first]
  for (let m = queue.shift(); m !== undefined; m = queue.shift()) {
    const node = nodes.get(m.to)
    if (node === undefined) continue
    node.step(m)
    queue.push(...drain(node).messages)
  }
}

// Raft §5.3, figure 7: whatever a follower's log looks like, the leader brings it into line with its own.
t.test('TestLeaderSyncFollowerLog', (t) => {
  const ents = entries(1, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6)
  const term = 8
  const followerLogs = [
    entries(1, 1, 1, 1, 4, 4, 5, 5, 6, 6),
    entries(1, 1, 1, 1, 4, 4),
    entries(1, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6),
    entries(1, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7),
    entries(1, 1, 1, 1, 4, 4, 4, 4),
    entries(1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3),
  ]
  followerLogs.forEach((tt, i) => {
    const lead = newTestRaft(1, [1, 2, 3], { storage: stored(ents, { term, commit: ents.length }) })
    const follower = newTestRaft(2, [1, 2, 3], { storage: stored(tt, { term: term - 1 }) })
    // A three-node cluster: the follower may have the more up-to-date log, then node 3's vote elects node 1.
    const nodes = new Map([
      [1, lead],
      [2, follower],
    ])
    lead.campaign()
    deliverAll(nodes, [...drain(lead).messages])
    deliverAll(nodes, [{ type: 'vote-response', from: 3, to: 1, term: term + 1, reject: false }])
    deliverAll(nodes, [...drain(lead).messages])
    lead.propose(new Uint8Array(0))
    deliverAll(nodes, [...drain(lead).messages])

    t.equal(role(lead), 'leader', `#${i}`)
    t.strictSame(follower.entries(), lead.entries(), `#${i}`)
    t.equal(follower.status().commit, lead.status().commit, `#${i}`)
  })
  t.end()
})

// Raft §5.4.1: a vote request carries the candidate's last log index and term, and goes to every other server.
t.test('TestVoteRequest', (t) => {
  const cases = [
    { ents: entries(1, 1), wterm: 2 },
    { ents: entries(1, 1, 2), wterm: 3 },
  ]
  cases.forEach((c, j) => {
    const r = newTestRaft(1, [1, 2, 3])
    r.step(append(2, 1, c.wterm - 1, { entries: c.ents }))
    drain(r)

    for (let i = 1; i < 10 * 2; i++) r.tick()

    const msgs = readMessages(r)
    t.equal(msgs.length, 2, `#${j}`)
    const last = c.ents.at(-1) as LogEntry
    msgs.forEach((m, i) => {
      t.equal(m.type, 'vote', `#${j}.${i}`)
      t.equal(m.to, i + 2, `#${j}.${i}`)
      t.equal(m.term, c.wterm, `#${j}.${i}`)
      t.same(m.type === 'vote' && [m.lastIndex, m.lastTerm], [last.index, last.term], `#${j}.${i}`)
    })
  })
  t.end()
})

// Raft §5.4.1: a voter denies its vote to a candidate whose log is less up to date than its own.
t.test('TestVoter', (t) => {
  const cases = [
    // Same last term.
    { ents: entries(1, 1), logterm: 1, index: 1, wreject: false },
    { ents: entries(1, 1), logterm: 1, index: 2, wreject: false },
    { ents: entries(1, 1, 1), logterm: 1, index: 1, wreject: true },
    // The candidate's last term is higher.
    { ents: entries(1, 1), logterm: 2, index: 1, wreject: false },
    { ents: entries(1, 1), logterm: 2, index: 2, wreject: false },
    { ents: entries(1, 1, 1), logterm: 2, index: 1, wreject: false },
    // The voter's last term is higher.
    { ents: entries(1, 2), logterm: 1, index: 1, wreject: true },
    { ents: entries(1, 2), logterm: 1, index: 2, wreject: true },
    { ents: entries(1, 2, 2), logterm: 1, index: 1, wreject: true },
    { ents: entries(1, 1, 1), logterm: 1, index: 1, wreject: true },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, [1, 2], { storage: stored(c.ents) })

    r.step({ type: 'vote', from: 2, to: 1, term: 3, lastTerm: c.logterm, lastIndex: c.index })

    const msgs = readMessages(r)
    t.equal(msgs.length, 1, `#${i}`)
    t.equal(msgs[0]?.type, 'vote-response', `#${i}`)
    t.equal(msgs[0]?.type === 'vote-response' && msgs[0].reject, c.wreject, `#${i}`)
  })
  t.end()
})

// Raft §5.4.2: only entries of the leader's current term are committed by counting replicas.
t.test('TestLeaderOnlyCommitsLogFromCurrentTerm', (t) => {
  const cases = [
    // Entries of earlier terms are not committed by counting.
    { index: 1, wcommit: 0 },
    { index: 2, wcommit: 0 },
    // An entry of the current term is.
    { index: 3, wcommit: 3 },
  ]
  cases.forEach((c, i) => {
    const r = newTestRaft(1, [1, 2], { storage: stored(entries(1, 1, 2), { term: 2 }) })
    becomeLeader(r)
    readMessages(r)
    r.propose(new Uint8Array(0))

    r.step({ type: 'append-response', from: 2, to: 1, term: r.status().term, index: c.index, reject: false, rejectHint: 0, hintTerm: 0 })

    t.equal(r.status().commit, c.wcommit, `#${i}`)
  })
  t.end()
})
