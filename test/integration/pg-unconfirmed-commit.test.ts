// A commit whose wait for the synchronous standby is cancelled is committed on the primary but not replicated:
// PostgreSQL says so in a WARNING, and Grey adds its own right behind it and counts it, so a client never takes it as
// durable. The test lab's eu-west (the synchronous standby) is partitioned so that commits wait; a CancelRequest
// through Grey cancels the wait (statement_timeout cannot: PostgreSQL turns it off before the commit).
import t from 'tap'
import { createConnection } from 'node:net'
import { hostPort } from '../../src/config/host-port.js'
import type pg from 'pg'
import { GREY, ensureTestLab, metricValue, pgConnect, TEST_LAB_DIR, type LabJson } from '../fixtures/test-lab.js'
import { greyInProcess, run } from '../fixtures/grey-in-process.js'

const lab: LabJson = await ensureTestLab()
const east = await greyInProcess('us-east')
const client: pg.Client = await pgConnect(lab, east.pg)
const primary: pg.Client = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
const notices: { code?: string; message: string }[] = []
client.on('notice', (n) => void notices.push({ code: n.code, message: n.message ?? '' }))

/** `grey lab …` without blocking this process's event loop, which the Grey under test shares. */
async function labAsync(...args: string[]): Promise<void> {
  const r = await run(process.execPath, [GREY, 'lab', ...args, '--dir', TEST_LAB_DIR])
  if (r.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed: ${r.stdout}${r.stderr}`)
}

t.teardown(async () => {
  await labAsync('heal', 'eu-west')
  await Promise.all([client.end(), primary.end()])
  await east.stop()
})
await primary.query('CREATE TABLE IF NOT EXISTS unconfirmed_probe (id serial PRIMARY KEY, note text)')

/** A CancelRequest with the key Grey handed the client, as a driver's cancel sends it. */
function cancel(c: pg.Client): void {
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number }
  const packet = Buffer.alloc(16)
  packet.writeInt32BE(16, 0)
  packet.writeInt32BE(80877102, 4)
  packet.writeInt32BE(processID, 8)
  packet.writeInt32BE(secretKey, 12)
  createConnection(hostPort(east.pg)).end(packet)
}

t.test('a commit cut short in its synchronous wait carries PostgreSQL warning and Grey warning, and is counted', async (t) => {
  const unconfirmed = async (): Promise<number> => metricValue(await east.metrics(), 'grey_unconfirmed_commits_total{region="us-east"}')
  const before = await unconfirmed()
  await client.query("SELECT 1 FROM unconfirmed_probe WHERE note = 'warm up'") // the session's connection exists
  const note = `unconfirmed ${Date.now()}`
  await labAsync('partition', 'eu-west')
  try {
    const insert = client.query('INSERT INTO unconfirmed_probe (note) VALUES ($1)', [note])
    await new Promise((resolve) => setTimeout(resolve, 500))
    cancel(client)
    const r = await insert
    t.equal(r.rowCount, 1, 'PostgreSQL acknowledges the insert: it committed locally')
  } finally {
    await labAsync('heal', 'eu-west')
  }
  const postgres = notices.findIndex((n) => /^canceling wait for synchronous replication/.test(n.message))
  t.ok(postgres >= 0, "PostgreSQL's own warning reaches the client")
  t.match(
    notices[postgres + 1],
    {
      code: '01000',
      message:
        /^grey: this commit is not known to be durable: PostgreSQL us-east committed it, but its wait for the synchronous standby was cancelled/,
    },
    "Grey's warning follows it",
  )
  t.equal(await unconfirmed(), before + 1, 'grey_unconfirmed_commits_total counts it')
  const row = await primary.query('SELECT 1 FROM unconfirmed_probe WHERE note = $1', [note])
  t.equal(row.rowCount, 1, 'the row is on the primary')
})

t.test('a commit that waited for the standby as usual gets no such warning', async (t) => {
  const seen = notices.length
  await client.query("INSERT INTO unconfirmed_probe (note) VALUES ('confirmed')")
  t.equal(notices.length, seen, 'no notice at all')
})
