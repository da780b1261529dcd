// The CQL side of fencing: a Grey whose Raft member hears less than a majority refuses strong CQL requests
// (a server error, with a sentence naming the region and the cause) and keeps serving LOCAL_* requests at eventual or
// session consistency; with failover off nothing is refused. Two us-east Greys in this process, each one voter of
// three whose other two never answer, against the test lab's real Cassandra.
import t from 'tap'
import type cassandra from 'cassandra-driver'
import { cassandraClient } from '../fixtures/cassandra-client.js'
import { cutOffGrey } from '../fixtures/cut-off-grey.js'
import { ensureTestLab, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab({ cassandra: true })
const fenced = await cutOffGrey('cql-fence-on', true, { cql: true })
const unfenced = await cutOffGrey('cql-fence-off', false, { cql: true })
const clients: cassandra.Client[] = []
const credentials = { user: lab.pg.user, password: lab.pg.password }
const on = cassandraClient(lab, clients, fenced.cql, 'us-east', credentials)
const off = cassandraClient(lab, clients, unfenced.cql, 'us-east', credentials)
t.teardown(async () => {
  await Promise.all(clients.map((c) => c.shutdown()))
  await Promise.all([fenced.stop(), unfenced.stop()])
})
await off.execute('CREATE TABLE IF NOT EXISTS fencing_probe (k text PRIMARY KEY, v text)')
// The member is cut off once its election timeout has passed without hearing anyone.
await new Promise((resolve) => setTimeout(resolve, 1500))

t.test('failover on: strong requests are refused with a server error and a sentence; local ones go on', async (t) => {
  await t.rejects(on.execute("/* grey: consistency=strong */ INSERT INTO fencing_probe (k, v) VALUES ('strong', 'x')"), {
    code: 0x0000,
    message: /us-east is cut off from the Raft majority .*hears 1 of 3 voters.*strong requests .* are refused here/,
  })
  await t.rejects(on.execute("INSERT INTO fencing_probe (k, v) VALUES ('lwt', 'x') IF NOT EXISTS"), { code: 0x0000 }, 'an LWT too')
  await on.execute("/* grey: consistency=eventual */ INSERT INTO fencing_probe (k, v) VALUES ('local', 'x')")
  const r = await on.execute("/* grey: consistency=eventual */ SELECT v FROM fencing_probe WHERE k = 'local'")
  t.equal(r.first()?.get('v'), 'x', 'an eventual write and read in the local DC are served')
})

t.test('failover off: the same cut-off member serves strong requests', async (t) => {
  await off.execute("/* grey: consistency=strong */ INSERT INTO fencing_probe (k, v) VALUES ('strong', 'y')")
  const r = await off.execute("/* grey: consistency=strong */ SELECT v FROM fencing_probe WHERE k = 'strong'")
  t.equal(r.first()?.get('v'), 'y')
})
