import t from 'tap'
import { choosePromotion, type StandbyState } from '../../src/failover/choose-promotion.js'
import { decideFailover, type FailoverInput, type PrimaryReport } from '../../src/failover/decide-failover.js'

const REGIONS = ['us-east', 'eu-west', 'ap-south']
const NOW = 100_000
const report = (member: string, region: string, downForMs: number | null, more: Partial<PrimaryReport> = {}): PrimaryReport => ({
  member,
  region,
  epoch: 3,
  downSinceMs: downForMs === null ? null : NOW - downForMs,
  receivedAtMs: NOW - 50,
  ...more,
})
const decide = (reports: PrimaryReport[], more: Partial<FailoverInput> = {}) =>
  decideFailover({ reports, regions: REGIONS, epoch: 3, nowMs: NOW, failoverAfterMs: 2000, reportTtlMs: 1000, ...more })

t.test('failover when a majority of regions see the primary down long enough', async (t) => {
  const d = decide([report('a', 'us-east', 2500), report('b', 'eu-west', 2000), report('c', 'ap-south', null)])
  t.same(d, { failover: true, regions: ['us-east', 'eu-west'], reason: 'the primary is down for 2000 ms as seen from us-east, eu-west' })
  t.ok(decide([report('a', 'us-east', 3000), report('b', 'eu-west', 3000), report('c', 'ap-south', 3000)]).failover, 'all three')
})

t.test('no failover otherwise', async (t) => {
  t.same(
    decide([report('a', 'us-east', 5000)]),
    {
      failover: false,
      reason: 'us-east sees the primary down long enough; 2 of 3 regions must',
    },
    'one region (a Grey that lost its own network) never suffices',
  )
  t.notOk(decide([report('a', 'us-east', 5000), report('b', 'eu-west', 1999)]).failover, 'not yet long enough in eu-west')
  t.notOk(
    decide([report('a', 'us-east', 5000), report('b', 'eu-west', 5000), report('b2', 'eu-west', null)]).failover,
    'one Grey in eu-west still reaches it: eu-west does not count',
  )
  t.notOk(decide([report('a', 'us-east', 5000), report('b', 'eu-west', 5000, { epoch: 2 })]).failover, 'a report about an older primary')
  t.notOk(decide([report('a', 'us-east', 5000), report('b', 'eu-west', 5000, { receivedAtMs: NOW - 1001 })]).failover, 'a stale report')
  t.same(decide([]), { failover: false, reason: 'no region sees the primary down long enough; 2 of 3 regions must' })
  t.notOk(decide([report('a', 'us-east', 5000), report('x', 'mars', 5000)]).failover, 'a region outside the cluster does not count')
  t.ok(
    decide([report('a', 'us-east', 5000), report('b', 'eu-west', 5000)], { regions: ['us-east', 'eu-west', 'ap-south', 'sa-east'] })
      .failover === false,
    '2 of 4 is not a majority',
  )
})

const standby = (region: string, synchronous: boolean, lsn: bigint | null, inRecovery: boolean | null = true): StandbyState => ({
  region,
  synchronous,
  replayLsn: lsn,
  inRecovery,
})

t.test('the synchronous standby with the highest replay position', async (t) => {
  const p = choosePromotion([standby('ap-south', false, 900n), standby('eu-west', true, 500n), standby('sa-east', true, 700n)], false)
  t.same(p, { ok: true, region: 'sa-east', lsn: 700n, dataLoss: false, reason: 'the synchronous standby with the highest replay position' })
  t.equal((choosePromotion([standby('b', true, 5n), standby('a', true, 5n)], false) as { region: string }).region, 'a', 'ties: by name')
  t.equal(
    (choosePromotion([standby('eu-west', true, 800n, false), standby('x', true, 100n)], false) as { region: string }).region,
    'x',
    'a standby out of recovery is not a candidate',
  )
})

t.test('an asynchronous standby only when data loss is allowed, and then it says so', async (t) => {
  const onlyAsync = [standby('ap-south', false, 900n), standby('eu-west', true, null)]
  const refused = choosePromotion(onlyAsync, false)
  t.equal(refused.ok, false)
  t.match(refused.reason, /ap-south is asynchronous \(set failover.allow_data_loss: true/)
  const allowed = choosePromotion(onlyAsync, true)
  t.match(allowed, { ok: true, region: 'ap-south', dataLoss: true })
  t.match(allowed.reason, /commits it had not received are lost/)
  t.same(choosePromotion([standby('eu-west', true, null)], true), { ok: false, reason: 'no standby answered' })
  t.same(choosePromotion([], false), { ok: false, reason: 'no standby answered' })
})
