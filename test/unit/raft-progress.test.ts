// Flow control per follower (Progress) and the majority arithmetic the leader commits and elects with.
import t from 'tap'
import { Progress } from '../../src/consensus/progress.js'
import { majorityOf, majorityValue, tallyVotes } from '../../src/consensus/quorum.js'

t.test('majorities', (t) => {
  t.same([1, 2, 3, 4, 5].map(majorityOf), [1, 2, 2, 3, 3])
  t.equal(
    majorityValue([], () => 7),
    0,
  )
  t.equal(
    majorityValue([1, 2, 3], (id) => id * 10),
    20,
  )
  t.equal(tallyVotes([1, 2, 3], new Map([[1, true]])), 'pending')
  t.equal(
    tallyVotes(
      [1, 2, 3],
      new Map([
        [1, true],
        [4, true],
      ]),
    ),
    'pending',
    'a non-voter does not count',
  )
  t.end()
})

t.test('progress: stale answers are ignored and a full window pauses', (t) => {
  const pr = new Progress(5, 2, false)
  t.notOk(pr.maybeDecrTo(3, 0), 'probe: answers an older append')
  t.ok(pr.maybeDecrTo(4, 1))
  t.equal(pr.next, 2)
  pr.maybeUpdate(3)
  pr.becomeReplicate()
  pr.sentEntries(2, 5)
  t.notOk(pr.isPaused())
  pr.sentEntries(1, 6)
  t.ok(pr.isPaused(), 'two in flight')
  pr.freeInflightsUpTo(5)
  t.same(pr.inflights, [6])
  t.notOk(pr.maybeDecrTo(2, 0), 'replicate: at or below match is stale')
  t.ok(pr.maybeDecrTo(6, 0))
  t.equal(pr.next, 4)
  pr.becomeSnapshot(10, 0)
  t.ok(pr.isPaused())
  pr.becomeProbe()
  t.equal(pr.next, 11, 'after a snapshot the probe starts past it')
  t.end()
})
