// The replication monitor against nodes that refuse connections (closed ports: a real failure, no mock): failed
// polls count, the primary shows as out of reach, bans on every replica are lifted, and what sessions note stays.
import t from 'tap'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { FAILURES_TO_BAN } from '../../src/topology/replica-bans.js'
import { ReplicationMonitor } from '../../src/topology/replication-monitor.js'
import { freePort } from '../fixtures/free-port.js'

const ports = { 'us-east': await freePort(), 'eu-west': await freePort(), 'ap-south': await freePort() }
let primary = 'us-east'
const registry = new Registry()
const monitor = new ReplicationMonitor({
  nodes: Object.entries(ports).map(([region, port]) => ({ region, host: '127.0.0.1', port })),
  credentials: { user: 'grey', password: 'x', database: 'app' },
  primary: () => primary,
  pollIntervalMs: 50,
  connectTimeoutMs: 500,
  maxLagCriticalMs: 30_000,
  registry,
  log: pino({ level: 'silent' }),
})
t.teardown(() => monitor.stop())

t.test('nodes that refuse connections: errors, the primary out of reach, no bans when all would be banned', async (t) => {
  await monitor.poll()
  t.notOk(monitor.primaryUnreachable(), 'one failed poll is not an outage')
  for (let i = 1; i < FAILURES_TO_BAN; i++) await monitor.poll()
  t.ok(monitor.primaryUnreachable())
  const status = monitor.status()
  t.match(status.primary, { region: 'us-east', lsn: null, error: /polling PostgreSQL in us-east failed/ })
  t.same(
    status.replicas.map((r) => [r.region, r.lagSeconds, r.banned]),
    [
      ['eu-west', null, null],
      ['ap-south', null, null],
    ],
    'every replica unreachable: the bans are lifted',
  )
  t.equal(monitor.lag('eu-west'), null)
  t.notMatch(await registry.metrics(), /grey_replication_lag_seconds\{/, 'no lag sample while unknown')
})

t.test('positions sessions saw are kept, only raised, and forgotten with a new primary', async (t) => {
  t.equal(monitor.appliedLsn('eu-west'), null)
  monitor.noteApplied('eu-west', 500n)
  monitor.noteApplied('eu-west', 400n)
  t.equal(monitor.appliedLsn('eu-west'), 500n)
  t.equal(monitor.appliedLsn('nowhere'), null)
  monitor.noteApplied('nowhere', 1n)
  primary = 'eu-west'
  await monitor.poll()
  t.equal(monitor.appliedLsn('eu-west'), null, 'a new timeline')
  t.same(
    monitor.status().replicas.map((r) => r.region),
    ['us-east', 'ap-south'],
  )
})

t.test('start and stop poll on a timer and end cleanly', async (t) => {
  monitor.start()
  monitor.start()
  await new Promise((r) => setTimeout(r, 120))
  await monitor.stop()
  await monitor.stop()
  t.ok(monitor.primaryUnreachable())
})
