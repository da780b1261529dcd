// Real clients through Grey against the test lab: pg-cursor, pg-copy-streams, LISTEN/NOTIFY, psql
// scripts with transactions, errors and \copy. Each test checks results and where statements went.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import type pg from 'pg'
import Cursor from 'pg-cursor'
import { from as copyFrom, to as copyTo } from 'pg-copy-streams'
import { hostPort } from '../../src/config/host-port.js'
import { greyInProcess, run } from '../fixtures/grey-in-process.js'
import { ensureTestLab, metricValue, pgConnect, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const eu = await greyInProcess('eu-west')
t.teardown(() => eu.stop())
const primaryPort = hostPort(lab.regions['us-east']!.pg.direct).port
const replicaPort = hostPort(lab.regions['eu-west']!.pg.direct).port
const routed = (text: string, kind: string, target: string, region: string, reason: string): number =>
  metricValue(text, `grey_query_routing_total{protocol="pg",kind="${kind}",target="${target}",region="${region}",reason="${reason}"}`)

const setup = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
await setup.query(`DROP TABLE IF EXISTS clients_t; CREATE TABLE clients_t (id int PRIMARY KEY, note text)`)
await setup.query(`INSERT INTO clients_t SELECT g, 'row ' || g FROM generate_series(1, 100) g`)
// The sync standby has flushed, not necessarily applied: wait until eu-west sees the rows.
for (let i = 0; i < 100; i++) {
  const replica = await pgConnect(lab, lab.regions['eu-west']!.pg.direct)
  const n = Number((await replica.query<{ n: string }>('SELECT count(*) AS n FROM clients_t')).rows[0]!.n)
  await replica.end()
  if (n === 100) break
  await new Promise((r) => setTimeout(r, 100))
}
await setup.end()

t.test('pg-cursor reads in batches from the local standby, on one backend until the cursor closes', async (t) => {
  const c = await pgConnect(lab, eu.pg)
  t.teardown(() => c.end())
  const cursor = c.query(new Cursor<{ id: number; port: number }>('SELECT id, inet_server_port() AS port FROM clients_t ORDER BY id'))
  const seen: number[] = []
  const ports = new Set<number>()
  for (;;) {
    const rows = await cursor.read(15)
    if (rows.length === 0) break
    for (const r of rows) {
      seen.push(r.id)
      ports.add(r.port)
    }
  }
  await cursor.close()
  t.equal(seen.length, 100, 'every row, in batches of 15')
  t.same(seen.slice(0, 3), [1, 2, 3])
  t.same([...ports], [replicaPort], 'the whole cursor ran on the eu-west standby')
  t.equal(Number((await c.query('SELECT 1 AS one')).rows[0].one), 1, 'the connection goes on after the cursor')
})

t.test('pg-copy-streams: COPY FROM STDIN reaches the primary, COPY TO STDOUT streams back', async (t) => {
  const c = await pgConnect(lab, eu.pg)
  t.teardown(() => c.end())
  await c.query('DROP TABLE IF EXISTS copy_t; CREATE TABLE copy_t (id int, note text)')
  const before = await eu.metrics()
  const lines = Array.from({ length: 5000 }, (_, i) => `${i}\tline ${i}\n`)
  await pipeline(Readable.from(lines), c.query(copyFrom('COPY copy_t FROM STDIN')))
  const after = await eu.metrics()
  t.ok(
    routed(after, 'write', 'primary', 'us-east', 'write') > routed(before, 'write', 'primary', 'us-east', 'write'),
    'COPY FROM counted as a write',
  )
  const out = c.query(copyTo('COPY (SELECT id FROM copy_t ORDER BY id) TO STDOUT /* grey: consistency=strong */'))
  const chunks: Buffer[] = []
  for await (const chunk of out) chunks.push(chunk as Buffer)
  const ids = Buffer.concat(chunks).toString().trim().split('\n')
  t.equal(ids.length, 5000, 'every row copied out')
  t.equal(ids[4999], '4999')
  const count = await c.query<{ n: string; port: number }>(
    'SELECT count(*) AS n, inet_server_port() AS port FROM copy_t /* grey: consistency=strong */',
  )
  t.equal(count.rows[0]!.n, '5000')
  t.equal(count.rows[0]!.port, primaryPort)
})

t.test('LISTEN pins the session to the primary and notifications arrive while it is idle', async (t) => {
  const listener = await pgConnect(lab, eu.pg)
  const notifier = await pgConnect(lab, eu.pg)
  t.teardown(async () => {
    await listener.end()
    await notifier.end()
  })
  await listener.query('LISTEN grey_events')
  const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve))
  t.equal(
    Number((await listener.query('SELECT inet_server_port() AS p')).rows[0].p),
    primaryPort,
    'pinned to the primary, where it listens',
  )
  await notifier.query("NOTIFY grey_events, 'hello from another session'")
  const n = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 5000))])
  t.equal(n?.channel, 'grey_events')
  t.equal(n?.payload, 'hello from another session')
  // A notification in the listener's own transaction arrives with its COMMIT.
  const own = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve))
  await listener.query("BEGIN; SELECT pg_notify('grey_events', 'own'); COMMIT")
  t.equal((await own).payload, 'own')
})

t.test('a psql script with transactions, errors and \\copy: results, and where each statement went', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-psql-'))
  const input = join(dir, 'in.tsv')
  const output = join(dir, 'out.tsv')
  writeFileSync(input, '1\tfrom file\n2\tagain\n')
  const script = [
    'DROP TABLE IF EXISTS script_t;',
    'CREATE TABLE script_t (id int PRIMARY KEY, note text);',
    'BEGIN;',
    "INSERT INTO script_t VALUES (10, 'rolled back');",
    'SELECT 1/0;',
    'ROLLBACK;',
    'BEGIN;',
    "INSERT INTO script_t VALUES (20, 'committed');",
    'COMMIT;',
    `\\copy script_t FROM '${input}'`,
    "INSERT INTO script_t VALUES (1, 'duplicate');",
    `\\copy (SELECT id, note FROM script_t ORDER BY id /* grey: consistency=strong */) TO '${output}'`,
    "SELECT 'server:' || inet_server_port();",
    'SELECT count(*) FROM script_t /* grey: consistency=strong */;',
  ].join('\n')
  const before = await eu.metrics()
  const { host, port } = hostPort(eu.pg)
  const psql = await run('psql', ['-X', '-A', '-t', '-h', host, '-p', String(port), '-U', lab.pg.user, '-d', lab.pg.database], {
    env: { ...process.env, PGPASSWORD: lab.pg.password },
    input: script,
  })
  const after = await eu.metrics()
  t.equal(psql.status, 0, 'psql went on after the errors (ON_ERROR_STOP is off)')
  t.match(psql.stderr, /division by zero/)
  t.match(psql.stderr, /duplicate key value violates unique constraint/)
  t.equal(readFileSync(output, 'utf8'), '1\tfrom file\n2\tagain\n20\tcommitted\n', 'the rolled-back row is absent; \\copy both ways worked')
  t.match(psql.stdout, /server:\d+/)
  t.match(psql.stdout, /^3$/m, 'three rows, read on the primary')
  const writes = routed(after, 'write', 'primary', 'us-east', 'write') - routed(before, 'write', 'primary', 'us-east', 'write')
  t.ok(writes >= 6, `the DDL, the transactions' INSERTs, COPY FROM and the failed INSERT went to the primary (${writes})`)
  const strong =
    routed(after, 'read', 'primary', 'us-east', 'consistency strong') - routed(before, 'read', 'primary', 'us-east', 'consistency strong')
  t.equal(strong, 2, 'the hinted reads (\\copy TO and the count) went to the primary')
  // After the session's writes, its plain SELECT is a session read with a token that eu-west (the synchronous
  // standby) has replayed or soon will.
  const local = ['replica has the session token', 'replica caught up with the session token'].reduce(
    (sum, reason) => sum + routed(after, 'read', 'replica', 'eu-west', reason) - routed(before, 'read', 'replica', 'eu-west', reason),
    0,
  )
  t.equal(local, 1, 'the plain SELECT read the local standby, which had the session’s writes')
})
