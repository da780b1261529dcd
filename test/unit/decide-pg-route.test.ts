import t from 'tap'
import { decidePgRoute, type PgRouteInput } from '../../src/routing/decide-pg-route.js'

const base: PgRouteInput = {
  classification: { access: 'read', reason: 'SELECT reads', hints: { problems: [] } },
  sessionConsistency: 'session',
  readOnlyTransaction: false,
  primary: { region: 'us-east', healthy: true },
  localReplica: { region: 'eu-west', healthy: true },
}

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
  [
    'max_staleness implies bounded: a replica',
    { sessionConsistency: 'strong', classification: { ...base.classification, hints: { maxStalenessMs: 2000, problems: [] } } },
    'eu-west',
    'read on local replica',
  ],
  [
    'route=primary hint',
    { classification: { ...base.classification, hints: { route: 'primary', problems: [] } } },
    'us-east',
    'hint route=primary',
  ],
  ['unhealthy replica → primary', { localReplica: { region: 'eu-west', healthy: false } }, 'us-east', 'local replica unhealthy'],
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
