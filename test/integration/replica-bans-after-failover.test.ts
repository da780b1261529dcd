// After a failover, reads must not land on a node that is not replaying the new primary's WAL. A replication monitor
// on the test lab's real nodes is told that the primary is now eu-west (as the Raft log would say): us-east, still a
// primary in PostgreSQL (like an old primary that came back), is banned as "not a standby"; ap-south is banned only
// until it has answered as a standby; before any failover nothing of this applies.
import t from 'tap'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { hostPort } from '../../src/config/host-port.js'
import { ReplicationMonitor } from '../../src/topology/replication-monitor.js'
import { ensureTestLab, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
let primary = 'us-east'
const monitor = new ReplicationMonitor({
  nodes: Object.entries(lab.regions).map(([region, r]) => ({ region, ...hostPort(r.pg.direct) })),
  credentials: { user: lab.pg.user, password: lab.pg.password, database: lab.pg.database },
  primary: () => primary,
  pollIntervalMs: 100,
  connectTimeoutMs: 2000,
  maxLagCriticalMs: 30_000,
  registry: new Registry(),
  log: pino({ level: 'silent' }),
})
t.teardown(() => monitor.stop())

t.test('before any failover the configured standbys serve reads from the start', async (t) => {
  t.equal(monitor.banned('eu-west'), null, 'not banned before the first poll')
  await monitor.poll()
  t.equal(monitor.banned('eu-west'), null)
  t.equal(monitor.banned('ap-south'), null)
})

t.test('after the primary changes: a node out of recovery is never a replica; a standby is once seen replaying', async (t) => {
  primary = 'eu-west'
  t.equal(
    monitor.banned('ap-south'),
    'not seen replaying from the new primary',
    'before the next poll (one may be stuck on a node that does not answer) no node counts as replaying from it',
  )
  await monitor.poll()
  t.equal(monitor.banned('us-east'), 'not a standby', 'us-east answers without a replay position')
  t.equal(monitor.banned('ap-south'), null, 'ap-south answered as a standby')
  t.match(
    monitor.status().replicas.find((r) => r.region === 'us-east'),
    { banned: 'not a standby', error: /us-east reports no WAL position/ },
  )
  primary = 'ap-south'
  t.equal(
    monitor.banned('eu-west'),
    'not seen replaying from the new primary',
    'the old primary of the log: not a replica until seen replaying',
  )
  await monitor.poll()
  t.equal(monitor.banned('eu-west'), null, 'eu-west, a standby, serves reads again')
  t.equal(monitor.banned('us-east'), 'not a standby')
})
