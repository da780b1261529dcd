import t from 'tap'
import { checkSessionHistory, type HistoryEvent } from '../fixtures/session-history.js'

const w = (session: string, key: number, version: number): HistoryEvent => ({ session, kind: 'write', key, version })
const r = (session: string, key: number, version: number): HistoryEvent => ({ session, kind: 'read', key, version, region: 'x' })

t.test('a consistent history has no violations', async (t) => {
  t.same(checkSessionHistory([w('a', 1, 1), r('a', 1, 1), r('b', 1, 0), r('b', 1, 1), w('b', 1, 2), r('a', 1, 2)]), [])
})

t.test('reading below one’s own write is a read-your-writes violation', async (t) => {
  t.same(checkSessionHistory([w('a', 1, 3), r('a', 1, 2)]), [
    { kind: 'read-your-writes', session: 'a', key: 1, read: 2, expectedAtLeast: 3 },
  ])
})

t.test('reading below an earlier read is a monotonic-reads violation', async (t) => {
  t.same(checkSessionHistory([r('a', 1, 5), r('a', 2, 1), r('a', 1, 4)]), [
    { kind: 'monotonic-reads', session: 'a', key: 1, read: 4, expectedAtLeast: 5 },
  ])
})

t.test('an adopted token carries the giver’s writes up to when it was taken, not later ones', async (t) => {
  const history: HistoryEvent[] = [
    w('g', 1, 1),
    w('g', 1, 2),
    w('g', 1, 3),
    { session: 'b', kind: 'adopt', giver: 'g', upTo: 2 },
    r('b', 1, 1),
    r('b', 1, 2),
  ]
  t.same(checkSessionHistory(history), [{ kind: 'read-your-writes', session: 'b', key: 1, read: 1, expectedAtLeast: 2 }])
})
