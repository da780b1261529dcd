// The in-memory Raft log: stored state, slicing, truncation, the follower's append rule, conflict hints and compaction.
import t from 'tap'
import { EMPTY_SNAPSHOT, RaftLog } from '../../src/consensus/raft-log.js'
import type { LogEntry, Snapshot } from '../../src/consensus/raft-message.js'

function entries(first: number, ...terms: number[]): LogEntry[] {
  return terms.map((term, i) => ({ index: first + i, term, kind: 'command' as const, data: Uint8Array.of(first + i) }))
}

const config = { voters: [1, 2, 3], learners: [] }

function snapshotAt(index: number, term: number): Snapshot {
  return { index, term, config, data: Uint8Array.of(9) }
}

t.test('a stored log must be contiguous after its snapshot, and its commit inside it', (t) => {
  t.throws(() => new RaftLog(EMPTY_SNAPSHOT, entries(2, 1), 0, 0), /without gaps/)
  t.throws(() => new RaftLog(snapshotAt(5, 2), entries(7, 2), 0, 0), /without gaps/)
  t.throws(() => new RaftLog(EMPTY_SNAPSHOT, entries(1, 1, 1), 3, 0), /past the last stored entry/)
  const log = new RaftLog(snapshotAt(5, 2), entries(6, 2, 3), 1, 99)
  t.equal(log.committed, 5, 'the snapshot is committed')
  t.equal(log.applied, 5, 'applied is clamped to the commit index')
  t.same([log.firstIndex(), log.lastIndex(), log.lastTerm()], [6, 7, 3])
  t.equal(log.term(5), 2, 'the snapshot knows its own term')
  t.equal(log.term(4), undefined, 'compacted')
  t.equal(log.term(8), undefined, 'beyond the end')
  t.end()
})

t.test('entries are sliced from memory only', (t) => {
  const log = new RaftLog(snapshotAt(2, 1), entries(3, 1, 2, 2), 3, 3)
  t.same(
    log.slice(3, 5).map((e) => e.index),
    [3, 4],
  )
  t.same(
    log.slice(5).map((e) => e.index),
    [5],
  )
  t.same(log.slice(6), [])
  t.throws(() => log.slice(2), /compacted/)
  t.end()
})

t.test('committed entries are never overwritten and appends leave no gap', (t) => {
  const log = new RaftLog(EMPTY_SNAPSHOT, entries(1, 1, 1, 1), 2, 0)
  t.throws(() => log.truncateAndAppend(entries(2, 2)), /refusing to overwrite committed entry 2/)
  t.throws(() => log.truncateAndAppend(entries(5, 2)), /gap/)
  log.truncateAndAppend([])
  log.truncateAndAppend(entries(3, 2))
  t.same(
    log.slice(1).map((e) => e.term),
    [1, 1, 2],
  )
  t.same(
    log.unstableEntries().map((e) => e.index),
    [3],
    'the rewritten entry must be persisted again',
  )
  t.throws(() => log.commitTo(4), /past the last entry/)
  t.end()
})

// Raft §5.3 (figure 2, receiver rule 5): commit up to min(leaderCommit, index of last new entry). A follower with a
// stale suffix that an append does not reach must not commit that suffix on the leader's word.

// Raft §5.3 (figure 2, receiver rule 5): commit up to min(leaderCommit, index of last new entry). A follower with a
// stale suffix that an append does not reach must not commit that suffix on the leader's word.
t.test('an append commits no further than its own last entry', (t) => {
  const log = new RaftLog(EMPTY_SNAPSHOT, entries(1, 1, 1, 2, 2), 1, 0)
  t.equal(log.maybeAppend(1, 1, 4, entries(2, 1)), 2)
  t.equal(log.committed, 2, 'not 4: entries 3 and 4 here may differ from the leader')
  t.equal(log.maybeAppend(2, 3, 4, []), null, 'mismatching previous term')
  t.equal(log.maybeAppend(9, 1, 4, []), null, 'previous entry missing')
  t.end()
})

t.test('findConflictByTerm skips every entry above the hint term', (t) => {
  const log = new RaftLog(snapshotAt(2, 1), entries(3, 2, 2, 4, 4, 5), 2, 2)
  t.same(log.findConflictByTerm(7, 3), { index: 4, term: 2 })
  t.same(log.findConflictByTerm(7, 5), { index: 7, term: 5 })
  t.same(log.findConflictByTerm(99, 4), { index: 6, term: 4 }, 'clamped to the last index')
  t.same(log.findConflictByTerm(4, 0), { index: 1, term: 0 }, 'below the snapshot nothing is known')
  t.end()
})

t.test('compaction keeps the tail and needs applied entries', (t) => {
  const log = new RaftLog(EMPTY_SNAPSHOT, entries(1, 1, 1, 2), 3, 2)
  t.throws(() => log.compact(3, config, new Uint8Array(0)), /only compact applied entries/)
  t.throws(() => log.compact(5, config, new Uint8Array(0)), /only compact applied entries/)
  const snapshot = log.compact(2, config, Uint8Array.of(7))
  t.same([snapshot.index, snapshot.term], [2, 1])
  t.equal(log.snapshotToPersist, snapshot)
  t.equal(log.snapshotToApply, null, 'the state machine made it; nothing to load')
  t.same(
    log.slice(3).map((e) => e.index),
    [3],
  )
  t.end()
})
