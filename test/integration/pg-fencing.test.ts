// Fencing follows failover: a Grey whose Raft member hears less than a majority refuses writes (25006) only when
// failover is on, since only then may the majority promote another primary. Two us-east Greys in this process, each a
// voter of a three-member group whose other two members never answer, against the test lab's real primary.
import t from 'tap'
import type pg from 'pg'
import { cutOffGrey } from '../fixtures/cut-off-grey.js'
import { ensureTestLab, pgConnect, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const fenced = await cutOffGrey('fence-on', true)
const unfenced = await cutOffGrey('fence-off', false)
const clients: pg.Client[] = [await pgConnect(lab, fenced.pg), await pgConnect(lab, unfenced.pg)]
const [onClient, offClient] = clients as [pg.Client, pg.Client]
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.end()))
  await Promise.all([fenced.stop(), unfenced.stop()])
})
await offClient.query('CREATE TABLE IF NOT EXISTS fencing_probe (id serial PRIMARY KEY, note text)')

t.test('failover on: a member that hears 1 of 3 voters refuses writes with 25006, naming the region and the cause', async (t) => {
  // The member is cut off once its election timeout has passed without hearing anyone.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  await t.rejects(onClient.query("INSERT INTO fencing_probe (note) VALUES ('fenced')"), {
    code: '25006',
    message: /us-east is cut off from the Raft majority .*hears 1 of 3 voters/,
  })
  const rows = await offClient.query("SELECT 1 FROM fencing_probe WHERE note = 'fenced'")
  t.equal(rows.rowCount, 0, 'the refused write did not reach PostgreSQL')
})

t.test('failover on, cut off: eventual reads are served by the local node, flagged stale; strong reads are refused', async (t) => {
  const notices: string[] = []
  const listener = (n: { message?: string }): void => void notices.push(n.message ?? '')
  onClient.on('notice', listener)
  t.teardown(() => void onClient.off('notice', listener))
  const r = await onClient.query("/* grey: consistency=eventual */ SELECT count(*)::int AS n FROM fencing_probe WHERE note = 'fenced'")
  t.equal(r.rows[0]?.n, 0, 'the eventual read is answered')
  t.match(notices, [/^grey: stale read: us-east is cut off from the Raft majority; this read was served by the local PostgreSQL/])
  await t.rejects(onClient.query('/* grey: consistency=strong */ SELECT 1'), { code: '25006' })
})

t.test('failover off: nobody can promote, so the same cut-off member writes to the primary it reaches', async (t) => {
  const r = await offClient.query("INSERT INTO fencing_probe (note) VALUES ('unfenced') RETURNING id")
  t.equal(r.rowCount, 1, 'the write went through')
})
