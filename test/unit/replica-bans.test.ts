import t from 'tap'
import { FAILURES_TO_BAN, replicaBans, type ReplicaHealth } from '../../src/topology/replica-bans.js'

const lag = (seconds: number, atLeast = false): ReplicaHealth['lag'] => ({ bytes: 1n, seconds, atLeast })
const replica = (region: string, change: Partial<ReplicaHealth> = {}): ReplicaHealth => ({ region, lag: lag(0), failures: 0, ...change })

t.test('a replica is banned after several failed polls in a row, or beyond max_lag_critical', async (t) => {
  const bans = replicaBans(
    [
      replica('a', { failures: FAILURES_TO_BAN - 1 }),
      replica('b', { failures: FAILURES_TO_BAN }),
      replica('c', { lag: lag(31) }),
      replica('d', { lag: lag(5, true) }),
      replica('e', { lag: null }),
      replica('f', { lag: lag(29) }),
    ],
    30_000,
  )
  t.same(Object.fromEntries(bans), { b: 'unreachable', c: 'lag beyond max_lag_critical', d: 'lag beyond max_lag_critical' })
})

t.test('when every replica would be banned, none is', async (t) => {
  t.same([...replicaBans([replica('a', { failures: 9 }), replica('b', { lag: lag(60) })], 30_000)], [])
  t.same([...replicaBans([], 30_000)], [], 'no replicas, no bans')
})
