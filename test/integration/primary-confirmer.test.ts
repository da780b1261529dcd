// PrimaryConfirmer (src/pg/backend/primary-confirmer.ts) against the test lab's real PostgreSQL: the connections it
// keeps, its answers for a standby (nothing) and for a primary (out of recovery, over a kept connection), what it does
// when its kept connections are cut by the server (drops them, then asks over a fresh one) and when a candidate cannot
// be reached at all (nothing, no throw). The failover tests use it end to end.
import t from 'tap'
import { PrimaryConfirmer } from '../../src/pg/backend/primary-confirmer.js'
import type { BackendNode } from '../../src/pg/backend/backend-connection.js'
import { freePort } from '../fixtures/free-port.js'
import { ensureTestLab, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const nodeOf = (region: string): BackendNode => {
  const [host, port] = lab.regions[region]!.pg.direct.split(':')
  return { region, host: host!, port: Number(port) }
}
const answers: { region: string; epoch: number; kept: boolean }[] = []
const confirmer = new PrimaryConfirmer({
  credentials: { user: lab.pg.user, password: lab.pg.password, database: lab.pg.database },
  perCandidate: 3,
  connectTimeoutMs: 2000,
  timeoutMs: 1000,
  outOfRecovery: (region, epoch, kept) => answers.push({ region, epoch, kept }),
})
t.teardown(() => confirmer.close())

/** The confirmer's connections open on a node, as the server lists them. */
async function keptOn(region: string): Promise<number> {
  const su = await pgSuperuser(lab, region)
  try {
    const r = await su.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'grey failover'")
    return (r.rows[0] as { n: number }).n
  } finally {
    await su.end()
  }
}

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await done()); await sleep(25)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
  }
}

t.test('it keeps perCandidate connections, and a standby is not reported out of recovery', async (t) => {
  confirmer.keep(nodeOf('eu-west'))
  confirmer.keep(nodeOf('eu-west'))
  await until('3 kept connections on eu-west', async () => (await keptOn('eu-west')) === 3)
  t.equal(await keptOn('eu-west'), 3, 'kept, not opened twice')
  for (let i = 0; i < 5; i++) confirmer.ask(nodeOf('eu-west'), 1)
  await sleep(300)
  t.same(answers, [], 'eu-west is a standby: no answer')
})

t.test('a primary is reported out of recovery over a kept connection', async (t) => {
  confirmer.keep(nodeOf('us-east'))
  await until('kept connections on us-east', async () => (await keptOn('us-east')) === 3)
  confirmer.ask(nodeOf('us-east'), 7)
  await until('an answer', () => answers.length > 0)
  t.same(answers, [{ region: 'us-east', epoch: 7, kept: true }], 'out of recovery, over a kept connection')
})

t.test('kept connections the server cut are dropped; then it asks over a fresh one', async (t) => {
  answers.length = 0
  const su = await pgSuperuser(lab, 'us-east')
  await su.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'grey failover'")
  await su.end()
  await sleep(200)
  // Each ask takes one kept connection, finds it broken and drops it; the fourth has none left and logs in.
  for (let i = 0; i < 3; i++) confirmer.ask(nodeOf('us-east'), 8)
  await sleep(300)
  t.same(answers, [], 'the broken connections answered nothing')
  await until('an answer over a fresh connection', () => {
    confirmer.ask(nodeOf('us-east'), 8)
    return answers.length > 0
  })
  t.same(answers[0], { region: 'us-east', epoch: 8, kept: false }, 'out of recovery, over a fresh connection')
})

t.test('a candidate nobody listens for: nothing is kept, asking throws nothing', async (t) => {
  answers.length = 0
  const nowhere: BackendNode = { region: 'nowhere', host: '127.0.0.1', port: await freePort() }
  confirmer.keep(nowhere)
  confirmer.ask(nowhere, 9)
  await sleep(500)
  confirmer.ask(nowhere, 9)
  await sleep(500)
  t.same(
    answers.filter((a) => a.region === 'nowhere'),
    [],
    'no answer, and no throw (an answer from the last test may still arrive: only this region counts)',
  )
})

t.test('answered() waits for the questions in flight: a hold that ends mid-login still gets the answer', async (t) => {
  answers.length = 0
  // A region name with no kept connection, so the question logs in afresh (several round trips).
  const fresh: BackendNode = { ...nodeOf('us-east'), region: 'us-east-fresh' }
  confirmer.ask(fresh, 10)
  t.same(answers, [], 'no answer yet when asked')
  await confirmer.answered('us-east-fresh')
  t.same(
    answers.filter((a) => a.region === 'us-east-fresh'),
    [{ region: 'us-east-fresh', epoch: 10, kept: false }],
    'the answer is in once answered() settles',
  )
  await confirmer.answered('never-asked')
  t.pass('a region never asked: settles at once')
})
