// proxy.pool.mode: session — a client keeps the server connection of each node it used until it
// leaves; then DISCARD ALL and the connection serves someone else. Against the real test lab.
import t from 'tap'
import { hostPort } from '../../src/config/host-port.js'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { ensureTestLab, pgConnect, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const grey = await greyInProcess('eu-west', { GREY_PROXY__POOL__MODE: 'session', GREY_PROXY__POOL__MAX_CONNECTIONS_PER_NODE: '2' })
t.teardown(() => grey.stop())
const primaryPort = hostPort(lab.regions['us-east']!.pg.direct).port
const replicaPort = hostPort(lab.regions['eu-west']!.pg.direct).port
const BACKEND_SQL = 'SELECT pg_backend_pid() AS pid, inet_server_port() AS port'
const backend = async (c: Awaited<ReturnType<typeof pgConnect>>, sql = BACKEND_SQL) =>
  (await c.query<{ pid: number; port: number }>(sql)).rows[0]!

t.test('a client keeps one server connection per node for its whole life, still routed by statement', async (t) => {
  const a = await pgConnect(lab, grey.pg)
  const b = await pgConnect(lab, grey.pg)
  t.teardown(async () => {
    await a.end()
    await b.end()
  })
  const read1 = await backend(a)
  const write1 = await backend(a, 'SELECT pg_backend_pid() AS pid, inet_server_port() AS port /* grey: consistency=strong */')
  const read2 = await backend(a)
  const write2 = await backend(a, 'SELECT pg_backend_pid() AS pid, inet_server_port() AS port /* grey: consistency=strong */')
  t.equal(read1.port, replicaPort, 'reads on the local standby')
  t.equal(write1.port, primaryPort, 'strong reads on the primary')
  t.equal(read2.pid, read1.pid, 'the same standby connection every time')
  t.equal(write2.pid, write1.pid, 'the same primary connection every time')
  await a.query("SET application_name = 'kept'")
  t.equal(
    (await a.query<{ n: string }>("SELECT current_setting('application_name') AS n")).rows[0]!.n,
    'kept',
    'session state stays, as on a direct connection',
  )
  t.not((await backend(b)).pid, read1.pid, 'another client has a connection of its own')
})

t.test('when the client leaves, its connections are reset and serve the next client', async (t) => {
  const a = await pgConnect(lab, grey.pg)
  await a.query("SET application_name = 'left-behind'")
  await a.query('PREPARE old_plan AS SELECT 1')
  const first = await backend(a)
  await a.end()
  // The pool has two standby connections: two clients holding one each must include the one just freed.
  const [c1, c2] = [await pgConnect(lab, grey.pg), await pgConnect(lab, grey.pg)]
  t.teardown(async () => {
    await c1.end()
    await c2.end()
  })
  // PREPARE pinned the session to whichever node it ran on; ask the same node.
  const sameNode = first.port === primaryPort ? `${BACKEND_SQL} /* grey: consistency=strong */` : BACKEND_SQL
  const pids = [(await backend(c1, sameNode)).pid, (await backend(c2, sameNode)).pid]
  t.ok(pids.includes(first.pid), 'the server connection was reused rather than closed', { first, pids })
  const heir = pids[0] === first.pid ? c1 : c2
  const setting = await heir.query<{ n: string }>("SELECT current_setting('application_name') AS n")
  t.not(setting.rows[0]!.n, 'left-behind', 'the SET did not survive')
  await t.rejects(heir.query('EXECUTE old_plan'), { code: '26000' }, 'nor the prepared statement (DISCARD ALL)')
})

t.test('a third client waits for a connection and gets 53300 when none frees up', async (t) => {
  const a = await pgConnect(lab, grey.pg)
  const b = await pgConnect(lab, grey.pg)
  await backend(a)
  await backend(b)
  const c = await pgConnect(lab, grey.pg)
  t.teardown(async () => {
    await a.end()
    await b.end()
    await c.end()
  })
  await t.rejects(backend(c), { code: '53300', message: /no connection to PostgreSQL eu-west became free/ })
})
