import t from 'tap'
import { decidePgRoute, type PgRouteInput } from '../../src/routing/decide-pg-route.js'

const base: PgRouteInput = {
  classification: { access: 'read', reason: 'SELECT reads', hints: { problems: [] } },
  sessionConsistency: 'session',
  readOnlyTransaction: false,
  primary: { region: 'us-east', healthy: true },
  localReplica: { region: 'eu-west', healthy: true, lagSeconds: 0.5, banned: false },
  maxStalenessMs: 5000,
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
