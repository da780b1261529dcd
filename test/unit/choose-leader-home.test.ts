// chooseLeaderHome (src/failover/choose-leader-home.ts): the Raft leader moves out of the PostgreSQL primary's region,
// to a voter heard recently, synchronous standby regions first; otherwise it stays, with the reason.
import t from 'tap'
import { chooseLeaderHome, type LeaderHomeMember } from '../../src/failover/choose-leader-home.js'

const member = (id: string, region: string | null, fields: Partial<LeaderHomeMember> = {}): LeaderHomeMember => ({
  id,
  nodeId: id.length * 100 + id.charCodeAt(id.length - 1),
  role: 'voter',
  self: false,
  region,
  lastContactAgoMs: 100,
  ...fields,
})
const self = member('grey-us-east', 'us-east', { self: true, lastContactAgoMs: null })
const eu = member('grey-eu-west', 'eu-west')
const ap = member('grey-ap-south', 'ap-south')
const base = {
  primaryRegion: 'us-east',
  members: [self, eu, ap],
  preferredRegions: ['eu-west'],
  latencyMs: { 'eu-west': 40, 'ap-south': 90 },
  upWithinMs: 500,
}

t.test('a leader in the primary region moves to a synchronous standby region first', (t) => {
  const home = chooseLeaderHome(base)
  t.match(home, { move: true, to: eu.nodeId, member: 'grey-eu-west', region: 'eu-west' })
  t.match(home.reason, /shares us-east with the PostgreSQL primary/)
  t.match(chooseLeaderHome({ ...base, preferredRegions: ['ap-south', 'eu-west'] }), { move: true, member: 'grey-ap-south' })
  t.match(chooseLeaderHome({ ...base, preferredRegions: [] }), { move: true, member: 'grey-eu-west' }, 'else the nearest')
  t.match(
    chooseLeaderHome({ ...base, preferredRegions: [], latencyMs: { 'ap-south': 90 } }),
    { move: true, member: 'grey-ap-south' },
    'a region of unknown latency counts as farthest',
  )
  t.match(chooseLeaderHome({ ...base, preferredRegions: [], latencyMs: {} }), { move: true, member: 'grey-ap-south' }, 'then by name')
  t.end()
})

t.test('only voters outside the primary region heard recently qualify', (t) => {
  const quiet = { ...eu, lastContactAgoMs: 900 }
  t.match(chooseLeaderHome({ ...base, members: [self, quiet, ap] }), { move: true, member: 'grey-ap-south' }, 'eu-west not heard')
  const learner = { ...ap, role: 'learner' as const }
  const never = { ...eu, lastContactAgoMs: null }
  const sameRegion = member('grey-us-east-2', 'us-east')
  const noRegion = member('grey-x', null)
  const home = chooseLeaderHome({ ...base, members: [self, never, learner, sameRegion, noRegion] })
  t.same(home, { move: false, reason: 'no voter outside us-east was heard within 500 ms' })
  t.end()
})

t.test('a leader outside the primary region stays', (t) => {
  t.same(chooseLeaderHome({ ...base, primaryRegion: 'eu-west' }), {
    move: false,
    reason: "the raft leader is outside the PostgreSQL primary's region (eu-west)",
  })
  t.match(chooseLeaderHome({ ...base, members: [eu, ap] }), { move: false }, 'no self in the list: nothing to decide')
  t.end()
})
