import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { types, type Client } from 'cassandra-driver'
import { parse } from 'yaml'
import {
  CASSANDRA_MAIN_CLASS,
  cassandraJavaArgs,
  labCqlClient,
  CASSANDRA_DEFAULT_USER,
  LAB_KEYSPACE,
  LAB_TABLE,
  prepareLabKeyspace,
  renderCassandraYaml,
  renderLogbackXml,
  renderRackDc,
  runningCassandraPid,
  startCassandraNode,
  stopCassandraNode,
  type CassandraNodeSpec,
} from '../../src/lab/cassandra/cassandra-node.js'
import { residentMb } from '../../src/lab/lab-process.js'

const CASSANDRA_VERSION = '5.0.9'
const LIB_DIR = join(process.env.GREY_CACHE_DIR ?? join(homedir(), '.cache', 'grey'), `cassandra-${CASSANDRA_VERSION}`, 'lib')
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const

/** Node i of lab slot `labSlot`, addressed as the WAN emulator expects (ARCHITECTURE §9). */
function labSpec(i: number, root: string, opts: { labSlot?: number; relay?: boolean } = {}): CassandraNodeSpec {
  const octet = 20 + (opts.labSlot ?? 1)
  const region = REGIONS[i] ?? `region-${i}`
  const listenAddress = `127.${octet}.1.${i + 1}`
  const broadcastAddress = opts.relay === true ? `127.${octet}.2.${i + 1}` : listenAddress
  return {
    clusterName: 'grey-lab-test',
    region,
    datacenter: region,
    listenAddress,
    broadcastAddress,
    nativePort: 9042,
    storagePort: 7000,
    seeds: [opts.relay === true ? `127.${octet}.2.1` : `127.${octet}.1.1`],
    dir: join(root, region),
    heapMb: 768,
    libDir: LIB_DIR,
  }
}

// conf/jvm17-server.options of apache/cassandra (cassandra-5.0), the JPMS section, verbatim.
const JVM17_SERVER_OPTIONS = `
--add-exports java.base/jdk.internal.misc=ALL-UNNAMED
--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
--add-exports java.sql/java.sql=ALL-UNNAMED
--add-exports java.base/java.lang.ref=ALL-UNNAMED
--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
--add-opens java.base/java.lang.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.loader=ALL-UNNAMED
--add-opens java.base/jdk.internal.ref=ALL-UNNAMED
--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
--add-opens java.base/jdk.internal.math=ALL-UNNAMED
--add-opens java.base/jdk.internal.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
--add-opens java.base/sun.nio.ch=ALL-UNNAMED
--add-opens java.base/java.io=ALL-UNNAMED
--add-opens java.base/java.lang.reflect=ALL-UNNAMED
--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
--add-opens java.base/java.lang=ALL-UNNAMED
--add-opens java.base/java.util=ALL-UNNAMED
--add-opens java.base/java.nio=ALL-UNNAMED
`

/** Option/value pairs of `args` as "option value" strings, e.g. "--add-opens java.base/java.io=ALL-UNNAMED". */
function optionPairs(args: string[], option: string): Set<string> {
  const pairs = new Set<string>()
  args.forEach((arg, i) => {
    if (arg === option) pairs.add(`${option} ${args[i + 1] ?? ''}`)
  })
  return pairs
}

t.test('cassandra.yaml: addresses, DC wiring and auth as the lab needs them', async (t) => {
  const cases = [
    { name: 'no relay (tests)', relay: false, broadcast: '127.21.1.2', seeds: '127.21.1.1:7000' },
    { name: 'behind the WAN relay', relay: true, broadcast: '127.21.2.2', seeds: '127.21.2.1:7000' },
  ]
  for (const c of cases) {
    const spec = labSpec(1, '/srv/lab', { relay: c.relay })
    const doc = parse(renderCassandraYaml(spec)) as Record<string, unknown>
    t.equal(doc.cluster_name, 'grey-lab-test', c.name)
    t.equal(doc.listen_address, '127.21.1.2', `${c.name}: listen_address`)
    t.equal(doc.rpc_address, '127.21.1.2', `${c.name}: rpc_address`)
    t.equal(doc.broadcast_address, c.broadcast, `${c.name}: broadcast_address`)
    t.equal(doc.native_transport_port, 9042)
    t.equal(doc.storage_port, 7000)
    t.equal(doc.endpoint_snitch, 'GossipingPropertyFileSnitch')
    t.same(
      doc.seed_provider,
      [{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: c.seeds }] }],
      `${c.name}: seeds are the us-east broadcast address`,
    )
    t.same(doc.authenticator, { class_name: 'org.apache.cassandra.auth.PasswordAuthenticator' })
    t.same(doc.authorizer, { class_name: 'org.apache.cassandra.auth.CassandraAuthorizer' })
    t.same(doc.data_file_directories, ['/srv/lab/eu-west/data/data'])
    t.equal(doc.commitlog_directory, '/srv/lab/eu-west/data/commitlog')
    t.equal(doc.auto_snapshot, false)
    t.equal(doc.concurrent_compactors, 1)
  }
})

t.test('cassandra-rackdc.properties names the region as the DC', async (t) => {
  t.equal(renderRackDc(labSpec(2, '/srv/lab')), 'dc=ap-south\nrack=rack1\nprefer_local=true\n')
})

t.test('logback.xml logs to <dir>/logs/system.log only', async (t) => {
  const xml = renderLogbackXml(labSpec(0, '/srv/lab'))
  t.match(xml, '<file>/srv/lab/us-east/logs/system.log</file>')
  t.notMatch(xml, 'ConsoleAppender')
  t.match(xml, '<root level="INFO">')
})

t.test('java arguments: heap, every jvm17 add-opens/add-exports, config files, main class', async (t) => {
  const spec = { ...labSpec(0, '/srv/lab'), jmxPort: 7209 }
  const args = cassandraJavaArgs(spec)
  const expected = JVM17_SERVER_OPTIONS.trim().split('\n')
  t.ok(expected.length >= 20, 'the reference list is not empty')
  const given = new Set([...optionPairs(args, '--add-opens'), ...optionPairs(args, '--add-exports')])
  for (const line of expected) t.ok(given.has(line), line)
  for (const flag of [
    '-Xms768m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    '-Djdk.attach.allowAttachSelf=true',
    '-Dcassandra.config=file:///srv/lab/us-east/conf/cassandra.yaml',
    '-Dcassandra-rackdc.properties=file:///srv/lab/us-east/conf/cassandra-rackdc.properties',
    '-Dlogback.configurationFile=file:///srv/lab/us-east/conf/logback.xml',
    '-Dcassandra.storagedir=/srv/lab/us-east/data',
    '-Dcassandra.jmx.local.port=7209',
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    `-javaagent:${LIB_DIR}/jamm-0.4.0.jar`,
  ]) {
    t.ok(args.includes(flag), flag)
  }
  t.equal(args.at(-1), CASSANDRA_MAIN_CLASS, 'main class last')
  t.equal(args[args.indexOf('-cp') + 1], `/srv/lab/us-east/conf:${LIB_DIR}/*`, 'classpath: conf dir, then every jar')
  t.notOk(
    cassandraJavaArgs(labSpec(0, '/srv/lab')).some((a) => a.startsWith('-Dcassandra.jmx')),
    'no jmxPort → no JMX',
  )
})

t.test("stopCassandraNode never signals a process that is not the node's Cassandra", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-cassandra-pid-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'cassandra.pid'), `${process.pid}\n`)
  t.equal(runningCassandraPid(dir), undefined, 'this test process is not a CassandraDaemon')
  await stopCassandraNode(dir)
  t.notOk(existsSync(join(dir, 'cassandra.pid')), 'the stale pid file is removed, nothing is killed')
  await stopCassandraNode(dir)
  t.pass('stopping a node that never ran is a no-op')
  t.equal(residentMb(2 ** 22 + 1), null, 'a missing process has no RSS')
})

t.test('a node whose native address is taken by another process is refused, not reported up', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'grey-cassandra-taken-'))
  const spec = labSpec(2, root, { labSlot: 3 })
  const squatter = createServer((s) => s.destroy()).listen(spec.nativePort, spec.listenAddress)
  await once(squatter, 'listening')
  t.teardown(() => {
    squatter.close()
    rmSync(root, { recursive: true, force: true })
  })
  await t.rejects(startCassandraNode(spec), /127\.23\.1\.3:9042 is already in use by another process/)
  t.equal(runningCassandraPid(spec.dir), undefined, 'no JVM was started')
})

t.test('a JVM that exits during start-up rejects with its log', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'grey-cassandra-bad-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  // -Xmx1m: the JVM refuses to start, before Cassandra runs.
  const spec = { ...labSpec(2, root, { labSlot: 3 }), heapMb: 1 }
  await t.rejects(startCassandraNode(spec, { timeoutMs: 60_000 }), /ap-south .* exited during start-up[\s\S]*stdout\.log/)
  t.equal(runningCassandraPid(spec.dir), undefined, 'nothing left running')
  t.notOk(existsSync(join(spec.dir, 'cassandra.pid')), 'no pid file left behind')
})

function portAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}

async function pidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    if (Date.now() >= deadline) return false
    await sleep(100)
  }
}

t.test('two real nodes in two DCs replicate through NetworkTopologyStrategy', async (t) => {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' })
  if (java.status !== 0) {
    t.fail(`java is not on PATH (${java.error?.message ?? java.stderr}); run npm run setup (installs openjdk-17-jre-headless)`)
    return
  }
  if (!/version "17\./.test(java.stderr)) {
    t.fail(`Cassandra 5.0 in the lab runs on Java 17, but \`java -version\` says: ${java.stderr.split('\n')[0]}`)
    return
  }
  if (!existsSync(join(LIB_DIR, `cassandra-all-${CASSANDRA_VERSION}.jar`))) {
    t.fail(`Cassandra ${CASSANDRA_VERSION} jars are not in ${LIB_DIR}; run npm run setup`)
    return
  }

  const root = mkdtempSync(join(tmpdir(), 'grey-cassandra-'))
  // Slot 3 addresses (127.23.1.x): clear of the shared test lab (slot 1), which may be up.
  const specs = [labSpec(0, root, { labSlot: 3 }), labSpec(1, root, { labSlot: 3 })] as const
  for (const spec of specs) {
    for (const port of [spec.nativePort, spec.storagePort]) {
      if (await portAccepts(spec.listenAddress, port)) {
        t.fail(`${spec.listenAddress}:${port} is already in use (a test lab still running? try: grey lab down --dir .lab-test)`)
        return
      }
    }
  }
  const clients: Client[] = []
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.shutdown().catch(() => undefined)))
    for (const spec of [...specs].reverse()) await stopCassandraNode(spec.dir)
    if (t.passing()) rmSync(root, { recursive: true, force: true })
    else t.comment(`node files kept in ${root}`)
  })

  const pids: number[] = []
  for (const spec of specs) {
    const started = await startCassandraNode(spec)
    pids.push(started.pid)
    t.equal(runningCassandraPid(spec.dir), started.pid, `${spec.region}: pid file names the running JVM`)
    t.comment(`${spec.region}: started in ${(started.startMs / 1000).toFixed(1)} s, RSS ${residentMb(started.pid)} MiB`)
  }
  const [east, west] = specs
  await t.rejects(startCassandraNode(east), /already running/, 'a second start of a running node is refused')
  // The default superuser until prepareLabKeyspace has created the lab's role.
  const eastClient = labCqlClient(`${east.listenAddress}:${east.nativePort}`, east.datacenter, {}, CASSANDRA_DEFAULT_USER)
  const westClient = labCqlClient(`${west.listenAddress}:${west.nativePort}`, west.datacenter, {}, CASSANDRA_DEFAULT_USER)
  clients.push(eastClient, westClient)
  await eastClient.connect()
  await westClient.connect()

  const peers = (await eastClient.execute('SELECT peer, data_center, rack FROM system.peers')).rows
  t.same(
    peers.map((r) => [String(r.get('peer')), r.get('data_center'), r.get('rack')]),
    [[west.broadcastAddress, 'eu-west', 'rack1']],
    'us-east sees eu-west in system.peers',
  )
  for (const [name, client] of [
    ['us-east', eastClient],
    ['eu-west', westClient],
  ] as const) {
    const hosts = client.hosts
      .values()
      .map((h) => ({ address: h.address, dc: h.datacenter, up: h.isUp() }))
      .sort((a, b) => a.address.localeCompare(b.address))
    t.same(
      hosts,
      [
        { address: `${east.listenAddress}:9042`, dc: 'us-east', up: true },
        { address: `${west.listenAddress}:9042`, dc: 'eu-west', up: true },
      ],
      `driver metadata through ${name}: both nodes UP, one per DC`,
    )
  }

  await prepareLabKeyspace(`${east.listenAddress}:${east.nativePort}`, east.datacenter, ['us-east', 'eu-west'])
  await prepareLabKeyspace(`${west.listenAddress}:${west.nativePort}`, west.datacenter, ['us-east', 'eu-west'])
  t.pass('prepareLabKeyspace ran through us-east, then again (idempotent) through eu-west')
  const replication = async (keyspace: string): Promise<unknown> =>
    (await westClient.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace], { prepare: true }))
      .first()
      ?.get('replication')
  const oneReplicaPerDc = { class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'us-east': '1', 'eu-west': '1' }
  t.same(await replication(LAB_KEYSPACE), oneReplicaPerDc, 'eu-west sees grey_lab with one replica per DC')
  t.same(await replication('system_auth'), oneReplicaPerDc, 'system_auth has one replica per DC')

  // A CREATE KEYSPACE reads the creator's permissions at LOCAL_ONE: it works in a DC only if
  // system_auth has a replica there that holds the data (see replicateLabAuth).
  for (const [dc, client] of [
    ['us_east', eastClient],
    ['eu_west', westClient],
  ] as const) {
    const probe = `grey_auth_probe_${dc}`
    await client.execute(`CREATE KEYSPACE ${probe} WITH replication = {'class': 'NetworkTopologyStrategy', 'us-east': 1}`)
    await client.execute(`DROP KEYSPACE ${probe}`)
    t.pass(`CREATE KEYSPACE through ${dc} passes the creator-permission lookup`)
  }

  const key = `k-${Date.now()}`
  const localOne = { prepare: true, consistency: types.consistencies.localOne }
  await eastClient.execute(`INSERT INTO ${LAB_KEYSPACE}.${LAB_TABLE} (k, v) VALUES (?, ?)`, [key, 'written in us-east'], localOne)
  const writtenAt = Date.now()
  let value: unknown
  while (Date.now() - writtenAt < 30_000) {
    const row = (await westClient.execute(`SELECT v FROM ${LAB_KEYSPACE}.${LAB_TABLE} WHERE k = ?`, [key], localOne)).first()
    value = row?.get('v')
    if (value !== undefined) break
    await sleep(100)
  }
  t.equal(value, 'written in us-east', 'LOCAL_ONE read in eu-west sees the LOCAL_ONE write from us-east')
  t.comment(`cross-DC replication visible after ${Date.now() - writtenAt} ms`)

  await Promise.all(clients.splice(0).map((c) => c.shutdown()))
  for (const [i, spec] of [...specs.entries()].reverse()) {
    const stoppedAt = Date.now()
    await stopCassandraNode(spec.dir)
    t.comment(`${spec.region}: stopped in ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`)
    const pid = pids[i] ?? -1
    t.ok(await pidGone(pid, 10_000), `${spec.region}: pid ${pid} is gone`)
    t.notOk(existsSync(join(spec.dir, 'cassandra.pid')), `${spec.region}: pid file removed`)
    await stopCassandraNode(spec.dir) // no-op when not running
  }
})
