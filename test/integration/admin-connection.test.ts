// AdminConnection (src/pg/backend/query-once.ts) against the test lab's real PostgreSQL: onIdleLoss reports a
// connection the server ends between queries (pg_terminate_backend, as a killed server resets it), once; a query that
// runs when the connection breaks rejects instead; closing it ourselves reports nothing. FailoverService counts such a
// loss of its check connection as a failed check at once.
import t from 'tap'
import { AdminConnection } from '../../src/pg/backend/query-once.js'
import { ensureTestLab, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const [host, port] = lab.regions['us-east']!.pg.direct.split(':')
const node = { region: 'us-east', host: host!, port: Number(port) }
const credentials = { user: lab.pg.user, password: lab.pg.password, database: lab.pg.database }
const open = (name: string): Promise<AdminConnection> => AdminConnection.open(node, credentials, { timeoutMs: 2000, applicationName: name })

async function terminate(name: string): Promise<number> {
  const su = await pgSuperuser(lab, 'us-east')
  try {
    const r = await su.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name])
    return r.rowCount ?? 0
  } finally {
    await su.end()
  }
}

async function within(ms: number, done: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > deadline) return false
  return true
}

t.test('a connection the server ends between queries is reported at once, and only once', async (t) => {
  const admin = await open('grey admin idle loss')
  let lost = 0
  admin.onIdleLoss(() => lost++)
  t.same(await admin.query('SELECT 1::text', 1000), ['1'], 'queries work while watched')
  t.equal(lost, 0, 'a query ending is no loss')
  t.equal(await terminate('grey admin idle loss'), 1, 'the server ends it')
  t.ok(await within(2000, () => lost > 0), 'reported without a query')
  await new Promise((r) => setTimeout(r, 100))
  t.equal(lost, 1, 'once')
  await t.rejects(admin.query('SELECT 1', 1000), /closed/, 'a query on it afterwards rejects')
  let late = 0
  admin.onIdleLoss(() => late++)
  t.equal(late, 1, 'watching a connection already lost reports at once')
})

t.test('a connection closed by Grey itself is no loss', async (t) => {
  const admin = await open('grey admin closed by us')
  let lost = 0
  admin.onIdleLoss(() => lost++)
  admin.close()
  await new Promise((r) => setTimeout(r, 200))
  t.equal(lost, 0)
})

t.test('a query running when the server ends the connection rejects; the watch is not called for it', async (t) => {
  const admin = await open('grey admin busy loss')
  let lost = 0
  admin.onIdleLoss(() => lost++)
  const slow = admin.query('SELECT pg_sleep(5)::text', 10_000).then(
    () => null,
    (err: unknown) => err,
  )
  await new Promise((r) => setTimeout(r, 200))
  t.equal(await terminate('grey admin busy loss'), 1)
  t.match(await slow, /terminat|closed/, 'the query rejects')
  t.equal(lost, 0, 'the query reported it, not the idle watch')
  admin.close()
})
