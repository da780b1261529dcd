import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { createConnection } from 'node:net'
import t from 'tap'
import { hostPort } from '../../src/config/host-port.js'
import pg from 'pg'
import { greyInProcess, run } from '../fixtures/grey-in-process.js'
import { ensureTestLab, metricValue, pgConnect, pgSuperuser, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()

const eu = await greyInProcess('eu-west')
const us = await greyInProcess('us-east')
t.teardown(async () => {
  await eu.stop()
  await us.stop()
})
const greyEu = eu.pg
const greyUs = us.pg
const portOf = (address: string): number => hostPort(address).port
const primaryPort = portOf(lab.regions['us-east']!.pg.direct)
const euReplicaPort = portOf(lab.regions['eu-west']!.pg.direct)
const serverPort = async (c: pg.Client, sql = 'SELECT inet_server_port() AS p'): Promise<number> =>
  Number((await c.query<{ p: number }>(sql)).rows[0]!.p)

const setup = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
await setup.query('DROP TABLE IF EXISTS proxy_t; CREATE TABLE proxy_t (id serial PRIMARY KEY, note text)')
await setup.end()

t.test('psql through Grey: reads on the local standby, writes on the primary', async (t) => {
  const { host, port } = hostPort(greyEu)
  const psql = await run(
    'psql',
    [
      '-X',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      host,
      '-p',
      String(port),
      '-U',
      lab.pg.user,
      '-d',
      lab.pg.database,
      '-c',
      'SELECT inet_server_port()',
      '-c',
      "INSERT INTO proxy_t (note) VALUES ('psql') RETURNING inet_server_port()",
    ],
    { env: { ...process.env, PGPASSWORD: lab.pg.password } },
  )
  t.equal(psql.status, 0, psql.stderr)
  const [readPort, writePort] = psql.stdout
    .trim()
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number)
  t.equal(readPort, euReplicaPort, 'SELECT ran on the eu-west standby')
  t.equal(writePort, primaryPort, 'INSERT ran on the us-east primary')
})

t.test('node-postgres: extended protocol and named prepared statements across backends', async (t) => {
  const c = await pgConnect(lab, greyEu)
  t.teardown(() => c.end())
  const named = { name: 'by_id', text: 'SELECT $1::int + 1 AS n, inet_server_port() AS p', values: [41] }
  for (let i = 0; i < 20; i++) {
    const r = await c.query<{ n: number; p: number }>({ ...named, values: [i] })
    t.equal(r.rows[0]!.n, i + 1)
  }
  const write = await c.query<{ p: number }>({
    name: 'ins',
    text: 'INSERT INTO proxy_t (note) VALUES ($1) RETURNING inet_server_port() AS p',
    values: ['named'],
  })
  t.equal(write.rows[0]!.p, primaryPort, 'a named INSERT goes to the primary')
  const again = await c.query<{ p: number }>({
    name: 'ins',
    text: 'INSERT INTO proxy_t (note) VALUES ($1) RETURNING inet_server_port() AS p',
    values: ['again'],
  })
  t.equal(again.rows[0]!.p, primaryPort)
  // A second client shares the pool: the named statements of the first must not leak or break.
  const d = await pgConnect(lab, greyEu)
  t.equal((await d.query<{ n: number }>({ name: 'by_id', text: 'SELECT $1::int * 2 AS n', values: [21] })).rows[0]!.n, 42)
  await d.end()
})

t.test('transactions stay on one backend; BEGIN is held back; READ ONLY may use the replica', async (t) => {
  const c = await pgConnect(lab, greyEu)
  t.teardown(() => c.end())
  await c.query('BEGIN')
  const ins = await c.query<{ id: number; p: number }>("INSERT INTO proxy_t (note) VALUES ('tx') RETURNING id, inet_server_port() AS p")
  const seen = await c.query<{ p: number }>('SELECT inet_server_port() AS p FROM proxy_t WHERE id = $1', [ins.rows[0]!.id])
  t.equal(seen.rowCount, 1, 'the transaction reads its own write')
  t.equal(seen.rows[0]!.p, primaryPort, 'and does so on the primary, where it began')
  await c.query('COMMIT')

  await c.query('BEGIN READ ONLY')
  t.equal(await serverPort(c), euReplicaPort, 'a read-only transaction runs on the local standby')
  t.equal(await serverPort(c), euReplicaPort, 'and stays there')
  await c.query('COMMIT')

  await c.query('BEGIN')
  await c.query('COMMIT')
  t.pass('an empty transaction is answered without a server')
  await c.query('BEGIN')
  await t.rejects(c.query('SELECT 1/0'), /division by zero/)
  await t.rejects(c.query('SELECT 1'), /current transaction is aborted/, 'the failed transaction keeps its backend')
  await c.query('ROLLBACK')
  t.equal(await serverPort(c), euReplicaPort, 'after ROLLBACK, reads go local again')
})

t.test('SET is replayed on every backend the session uses; grey.consistency is answered by Grey', async (t) => {
  const c = await pgConnect(lab, greyEu)
  t.teardown(() => c.end())
  await c.query("SET statement_timeout = '4321ms'")
  const ports = new Set<number>()
  for (let i = 0; i < 6; i++) {
    const r = await c.query<{ s: string; p: number }>(
      i % 2
        ? 'SELECT current_setting($1) AS s, inet_server_port() AS p'
        : "INSERT INTO proxy_t (note) VALUES ('set') RETURNING current_setting('statement_timeout') AS s, inet_server_port() AS p",
      i % 2 ? ['statement_timeout'] : undefined,
    )
    t.equal(r.rows[0]!.s, '4321ms')
    ports.add(r.rows[0]!.p)
  }
  t.same([...ports].sort(), [euReplicaPort, primaryPort].sort(), 'on the primary and the standby')
  await c.query('RESET statement_timeout')
  t.not((await c.query<{ s: string }>('SHOW statement_timeout')).rows[0]!.s, '4321ms')

  await c.query("SET grey.consistency = 'strong'")
  t.equal((await c.query<{ 'grey.consistency': string }>('SHOW grey.consistency')).rows[0]!['grey.consistency'], 'strong')
  t.equal(await serverPort(c), primaryPort, 'strong reads go to the primary')
  t.equal(
    await serverPort(c, '/* grey: consistency=eventual */ SELECT inet_server_port() AS p'),
    euReplicaPort,
    'a hint beats the session setting',
  )
  await t.rejects(c.query("SET grey.consistency = 'sometimes'"), /grey\.consistency/)
})

t.test('a replayed SET that fails on another server becomes a warning; the statement and the session go on', async (t) => {
  const su = await pgSuperuser(lab)
  await su.query(`DROP ROLE IF EXISTS replay_r; CREATE ROLE replay_r; GRANT replay_r TO ${lab.pg.user}; GRANT ALL ON proxy_t TO replay_r`)
  const c = await pgConnect(lab, greyEu)
  t.teardown(async () => {
    await c.end()
    await su.query('REVOKE ALL ON proxy_t FROM replay_r; DROP ROLE replay_r')
    await su.end()
  })
  const notices: string[] = []
  c.on('notice', (n) => notices.push(n.message ?? ''))
  await c.query('SET ROLE replay_r')
  t.equal((await c.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u, 'replay_r')
  await su.query(`REVOKE replay_r FROM ${lab.pg.user}`)
  // The write goes to a primary connection that has not run the SET yet: Grey replays it there, and it fails.
  const r = await c.query<{ u: string }>("INSERT INTO proxy_t (note) VALUES ('after revoke') RETURNING current_user AS u")
  t.equal(r.rows[0]!.u, lab.pg.user, 'the statement ran, without the role')
  t.match(notices, [/grey: replaying this session's state on PostgreSQL us-east failed: permission denied to set role "replay_r"/])
  t.equal((await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1, 'and the protocol stream is intact')
  // SET ROLE is not undone by RESET ALL: the next user of these server connections must not inherit it.
  const d = await pgConnect(lab, greyEu)
  for (const sql of ['SELECT current_user AS u', 'SELECT current_user AS u /* grey: consistency=strong */']) {
    t.equal((await d.query<{ u: string }>(sql)).rows[0]!.u, lab.pg.user, `another session is itself again: ${sql}`)
  }
  await d.end()
})

t.test('the connection-string option sets the consistency', async (t) => {
  const c = await pgConnect(lab, greyEu, { options: '-c grey.consistency=strong' })
  t.equal(await serverPort(c), primaryPort)
  await c.end()
})

t.test('bad credentials, databases and bytes get clear errors and disturb no one', async (t) => {
  const bystander = await pgConnect(lab, greyEu)
  t.teardown(() => bystander.end())
  await t.rejects(pgConnect(lab, greyEu, { password: 'wrong' }), {
    code: '28P01',
    message: `password authentication failed for user "${lab.pg.user}"`,
  })
  await t.rejects(pgConnect(lab, greyEu, { user: 'nobody' }), {
    code: '28P01',
    message: 'password authentication failed for user "nobody"',
  })
  await t.rejects(pgConnect(lab, greyEu, { database: 'elsewhere' }), { code: '3D000' })
  const { host, port } = hostPort(greyEu)
  const raw = createConnection({ host, port })
  await once(raw, 'connect')
  raw.write(Buffer.from('00000008deadbeef', 'hex'))
  const [reply] = (await once(raw, 'data')) as [Buffer]
  t.equal(String.fromCharCode(reply[0]!), 'E', 'an ErrorResponse')
  t.match(
    reply.toString('latin1'),
    /C0A000\0Munsupported frontend protocol 57005\.48879/,
    'an unknown protocol version: 0A000, as PostgreSQL answers',
  )
  raw.destroy()
  const garbage = createConnection({ host, port })
  await once(garbage, 'connect')
  garbage.write(Buffer.from('ffffffff00030000', 'hex'))
  const [bad] = (await once(garbage, 'data')) as [Buffer]
  t.match(bad.toString('latin1'), /C08P01\0/, 'a nonsense length: 08P01')
  garbage.destroy()
  t.equal((await bystander.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1, 'other sessions carry on')
})

t.test('a CancelRequest with the key Grey handed out cancels the running query', async (t) => {
  const c = await pgConnect(lab, greyUs)
  t.teardown(() => c.end())
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number }
  const running = c.query('SELECT pg_sleep(20)')
  await new Promise((r) => setTimeout(r, 300))
  const { host, port } = hostPort(greyUs)
  const cancel = createConnection({ host, port })
  const packet = Buffer.alloc(16)
  packet.writeInt32BE(16, 0)
  packet.writeInt32BE(80877102, 4)
  packet.writeInt32BE(processID, 8)
  packet.writeInt32BE(secretKey, 12)
  cancel.end(packet)
  const t0 = Date.now()
  await t.rejects(running, { code: '57014' })
  t.ok(Date.now() - t0 < 5000, 'cancelled promptly')
})

t.test('pgbench runs through Grey (simple, extended and prepared protocols)', async (t) => {
  const { host, port } = hostPort(greyUs)
  const env = { ...process.env, PGPASSWORD: lab.pg.password }
  const base = ['-h', host, '-p', String(port), '-U', lab.pg.user]
  const init = await run('pgbench', [...base, '-i', '-s', '1', '-q', lab.pg.database], { env })
  t.equal(init.status, 0, init.stderr)
  for (const mode of ['simple', 'extended', 'prepared']) {
    const bench = await run('pgbench', [...base, '-M', mode, '-c', '4', '-t', '20', lab.pg.database], { env })
    t.equal(bench.status, 0, `${mode}: ${bench.stderr}`)
    t.match(bench.stdout, /number of transactions actually processed: 80\/80/, `${mode}: every transaction done`)
    t.match(bench.stdout, /number of failed transactions: 0 /, `${mode}: none failed`)
  }
})

t.test('a temporary table pins the session to its backend', async (t) => {
  const c = await pgConnect(lab, greyEu)
  t.teardown(() => c.end())
  await c.query('CREATE TEMP TABLE scratch (x int)')
  await c.query('INSERT INTO scratch VALUES (1), (2)')
  // Without the pin this read would go to the standby, which has no such table.
  t.equal((await c.query<{ n: string }>('SELECT count(*) AS n FROM scratch')).rows[0]!.n, '2')
  t.equal(await serverPort(c), primaryPort, 'every later statement stays on the pinned backend')
})

t.test('COPY FROM STDIN and COPY TO STDOUT pass through', async (t) => {
  const { host, port } = hostPort(greyEu)
  const env = { ...process.env, PGPASSWORD: lab.pg.password }
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', lab.pg.user, '-d', lab.pg.database]
  const copyIn = await run('psql', [...args, '-c', 'COPY proxy_t (note) FROM STDIN'], {
    input: 'copied-1\ncopied-2\n',
    env,
  })
  t.equal(copyIn.status, 0, copyIn.stderr)
  const copyOut = await run('psql', [...args, '-c', "COPY (SELECT note FROM proxy_t WHERE note LIKE 'copied-%' ORDER BY note) TO STDOUT"], {
    env,
  })
  t.equal(copyOut.status, 0, copyOut.stderr)
  t.equal(copyOut.stdout, 'copied-1\ncopied-2\n')
})

t.test('every routing decision is counted with its reason; statements are timed; pools are visible', async (t) => {
  const metrics = await eu.metrics()
  t.match(
    metrics,
    /grey_query_routing_total\{protocol="pg",kind="read",target="replica",region="eu-west",reason="read on local replica"\} [1-9]/,
  )
  t.match(metrics, /grey_query_routing_total\{protocol="pg",kind="write",target="primary",region="us-east",reason="write"\} [1-9]/)
  t.match(
    metrics,
    /grey_query_routing_total\{protocol="pg",kind="read",target="primary",region="us-east",reason="consistency strong"\} [1-9]/,
  )
  t.match(metrics, /grey_statement_duration_seconds_count\{protocol="pg",kind="read",target="replica"\} [1-9]/)
  t.match(metrics, /grey_statement_duration_seconds_count\{protocol="pg",kind="write",target="primary"\} [1-9]/)
  t.match(metrics, /grey_connection_pool_max\{protocol="pg",node="us-east"\} 20/)
  t.match(metrics, /grey_connection_pool_max\{protocol="pg",node="eu-west"\} 20/)
  t.match(metrics, /grey_connection_pool_active\{protocol="pg",node="eu-west"\} \d+/)
})

t.test('writes that lose a conflict are counted: serialization failures and deadlocks', async (t) => {
  const conflicts = async (kind: string): Promise<number> =>
    metricValue(await us.metrics(), `grey_conflicts_total{protocol="pg",kind="${kind}"}`)
  const [a, b] = [await pgConnect(lab, greyUs), await pgConnect(lab, greyUs)]
  t.teardown(() => Promise.all([a.end(), b.end()]))
  await a.query('DROP TABLE IF EXISTS conflict_probe; CREATE TABLE conflict_probe (id int PRIMARY KEY, v int)')
  await a.query('INSERT INTO conflict_probe VALUES (1, 0), (2, 0)')
  const [serializationBefore, deadlockBefore] = [await conflicts('serialization_failure'), await conflicts('deadlock')]

  // a's snapshot predates b's committed update of the same row: a's update cannot be serialised.
  await a.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
  await a.query('SELECT v FROM conflict_probe WHERE id = 1')
  await b.query('UPDATE conflict_probe SET v = v + 1 WHERE id = 1')
  await t.rejects(a.query('UPDATE conflict_probe SET v = v + 1 WHERE id = 1'), { code: '40001' })
  await a.query('ROLLBACK')
  t.equal(await conflicts('serialization_failure'), serializationBefore + 1, 'one serialization failure')

  // Each holds one row and asks for the other's: PostgreSQL aborts one of them after deadlock_timeout.
  await a.query('BEGIN')
  await b.query('BEGIN')
  await a.query('UPDATE conflict_probe SET v = v + 1 WHERE id = 1')
  await b.query('UPDATE conflict_probe SET v = v + 1 WHERE id = 2')
  const outcomes = await Promise.allSettled([
    a.query('UPDATE conflict_probe SET v = v + 1 WHERE id = 2'),
    b.query('UPDATE conflict_probe SET v = v + 1 WHERE id = 1'),
  ])
  await Promise.all([a.query('ROLLBACK'), b.query('ROLLBACK')])
  const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
  t.equal(failed.length, 1, 'one of the two was aborted')
  t.equal((failed[0]?.reason as { code?: string } | undefined)?.code, '40P01')
  t.equal(await conflicts('deadlock'), deadlockBefore + 1, 'one deadlock')
  t.equal(await conflicts('serialization_failure'), serializationBefore + 1, 'and no other serialization failure')
})

t.test('a backend that dies mid-transaction gives a clear error; the next statement works', async (t) => {
  const c = await pgConnect(lab, greyEu)
  t.teardown(() => c.end())
  await c.query('BEGIN')
  const { pid } = (await c.query<{ pid: number }>("INSERT INTO proxy_t (note) VALUES ('doomed') RETURNING pg_backend_pid() AS pid"))
    .rows[0]!
  const admin = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
  await admin.query('SELECT pg_terminate_backend($1)', [pid])
  await admin.end()
  await t.rejects(c.query('SELECT 1'), /terminating connection|was lost/)
  const r = await c.query<{ one: number }>('SELECT 1 AS one')
  t.equal(r.rows[0]!.one, 1, 'the session goes on, on a healthy server')
  t.match(await eu.metrics(), /grey_backend_errors_total\{protocol="pg",region="us-east",kind="lost"\} [1-9]/, 'counted as a lost backend')
  const check = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
  t.equal((await check.query("SELECT 1 FROM proxy_t WHERE note = 'doomed'")).rowCount, 0, 'the dead transaction left nothing behind')
  await check.end()
})

t.test('with a certificate configured, SSLRequest gets TLS; without one, plain text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-tls-'))
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
  const openssl = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=grey-test',
  ])
  t.equal(openssl.status, 0, openssl.stderr)
  const secure = await greyInProcess('eu-west', { GREY_PROXY__TLS__CERT_FILE: cert, GREY_PROXY__TLS__KEY_FILE: key })
  t.teardown(() => secure.stop())
  const c = await pgConnect(lab, secure.pg, { ssl: { rejectUnauthorized: false } })
  const stream = (c as unknown as { connection: { stream: { encrypted?: boolean; getProtocol?: () => string } } }).connection.stream
  t.equal(stream.encrypted, true, 'the client connection is encrypted')
  t.match(stream.getProtocol?.() ?? '', /^TLSv1\.[23]$/)
  t.equal(await serverPort(c), euReplicaPort, 'and routed as usual')
  await c.end()
  const { host, port } = hostPort(secure.pg)
  const psql = await run(
    'psql',
    ['-X', '-A', '-t', '-h', host, '-p', String(port), '-U', lab.pg.user, '-d', lab.pg.database, '-c', 'SELECT 1'],
    {
      env: { ...process.env, PGPASSWORD: lab.pg.password, PGSSLMODE: 'require' },
    },
  )
  t.equal(psql.status, 0, psql.stderr)
  await t.rejects(
    pgConnect(lab, greyEu, { ssl: { rejectUnauthorized: false } }),
    /does not support SSL/,
    'a Grey without a certificate answers N',
  )
})
