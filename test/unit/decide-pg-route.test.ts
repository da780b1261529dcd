import t from 'tap'
import { decidePgRoute, type PgRouteInput } from '../../src/routing/decide-pg-route.js'

const base: PgRouteInput = {
  classification: { access: 'read', reason: 'SELECT reads', hints: { problems: [] } },
  sessionConsistency: 'session',
  readOnlyTransaction: false,
  primary: { region: 'us-east', healthy: true },
  localReplica: { region: 'eu-west', healthy: true, lagSeconds: 0.5, banned: false, appliedLsn: 1000n },
  maxStalenessMs: 5000,
  token: null,
  epoch: 2,
}
const replica = base.localReplica!
const bounded = (maxStalenessMs?: number): Partial<PgRouteInput> => ({
  sessionConsistency: maxStalenessMs === undefined ? 'bounded' : 'strong',
  classification: { ...base.classification, hints: { ...(maxStalenessMs === undefined ? {} : { maxStalenessMs }), problems: [] } },
})

const cases: Array<[string, Partial<PgRouteInput>, string, string]> = [
  ['a read goes to the local replica', {}, 'eu-west', 'read on local replica'],
  ['a write goes to the primary', { classification: { ...base.classification, access: 'write' } }, 'us-east', 'write'],
  ['strong session → primary', { sessionConsistency: 'strong' }, 'us-east', 'consistency strong'],
  [
    'strong hint beats an eventual session',
    { sessionConsistency: 'eventual', classification: { ...base.classification, hints: { consistency: 'strong', problems: [] } } },
    'us-east',
    'consistency strong',
  ],
  [
    'eventual hint beats a strong session',
    { sessionConsistency: 'strong', classification: { ...base.classification, hints: { consistency: 'eventual', problems: [] } } },
    'eu-west',
    'read on local replica',
  ],
  ['max_staleness implies bounded: a replica 0.5 s behind serves a 2 s bound', bounded(2000), 'eu-west', 'bounded read on local replica'],
  ['a replica 0.5 s behind does not serve a 200 ms bound', bounded(200), 'us-east', 'replica beyond max_staleness'],
  ['a bounded session uses routing.max_staleness (5 s)', bounded(), 'eu-west', 'bounded read on local replica'],
  [
    '… which a replica 6 s behind exceeds',
    { ...bounded(), localReplica: { ...replica, lagSeconds: 6 } },
    'us-east',
    'replica beyond max_staleness',
  ],
  [
    'a bounded read with the lag unknown → primary',
    { ...bounded(), localReplica: { ...replica, lagSeconds: null } },
    'us-east',
    'replica lag unknown',
  ],
  [
    'an eventual read does not care about the lag',
    { sessionConsistency: 'eventual', localReplica: { ...replica, lagSeconds: 600 } },
    'eu-west',
    'read on local replica',
  ],
  ['session: a token the replica has replayed', { token: { epoch: 2, lsn: 1000n } }, 'eu-west', 'replica has the session token'],
  ['session: a token from another epoch → primary', { token: { epoch: 1, lsn: 10n } }, 'us-east', 'token from another epoch'],
  ['eventual ignores the token', { sessionConsistency: 'eventual', token: { epoch: 2, lsn: 5000n } }, 'eu-west', 'read on local replica'],
  [
    'an after= hint makes an eventual session wait for its token',
    {
      sessionConsistency: 'eventual',
      token: { epoch: 2, lsn: 5000n },
      classification: { ...base.classification, hints: { after: 'g1…', problems: [] } },
    },
    'eu-west',
    'replica caught up with the session token',
  ],
  ['a banned replica → primary', { localReplica: { ...replica, banned: true } }, 'us-east', 'local replica banned'],
  [
    'route=primary hint',
    { classification: { ...base.classification, hints: { route: 'primary', problems: [] } } },
    'us-east',
    'hint route=primary',
  ],
  ['unhealthy replica → primary', { localReplica: { ...replica, healthy: false } }, 'us-east', 'local replica unhealthy'],
  ['the primary region has no replica', { localReplica: null }, 'us-east', 'no local replica'],
  ['read-only transaction on the replica', { readOnlyTransaction: true }, 'eu-west', 'read-only transaction on local replica'],
  [
    'a read-only transaction may start with what looks like a write (it will fail there, as on any server)',
    { readOnlyTransaction: true, classification: { ...base.classification, access: 'write' } },
    'eu-west',
    'read-only transaction on local replica',
  ],
]
for (const [name, change, region, reason] of cases) {
  const d = decidePgRoute({ ...base, ...change })
  t.same({ region: d.region, reason: d.reason }, { region, reason }, name)
  t.equal(d.target, region === 'us-east' ? 'primary' : 'replica')
}

t.test('a session token the replica has not replayed: the replica once it catches up, else the primary', async (t) => {
  for (const appliedLsn of [999n, null]) {
    const d = decidePgRoute({ ...base, localReplica: { ...replica, appliedLsn }, token: { epoch: 2, lsn: 1000n } })
    t.match(d, { target: 'replica', region: 'eu-west', reason: 'replica caught up with the session token' })
    t.same(d.waitFor, { lsn: 1000n, behind: { target: 'primary', region: 'us-east', reason: 'replica behind the session token' } })
  }
  t.notOk(decidePgRoute({ ...base, token: { epoch: 2, lsn: 1000n } }).waitFor, 'no wait when it has it')
  t.equal(decidePgRoute({ ...base, token: { epoch: 2, lsn: 5000n }, localReplica: null }).reason, 'no local replica')
  t.equal(decidePgRoute({ ...base, token: { epoch: 2, lsn: 5000n }, sessionConsistency: 'strong' }).reason, 'consistency strong')
})
