import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Ajv } from 'ajv'
import t from 'tap'
import { stringify } from 'yaml'
import type { Config } from '../../src/config/config-schema.js'
import { parseDurationMs } from '../../src/config/duration.js'
import { hostPort } from '../../src/config/host-port.js'
import { loadConfig } from '../../src/config/load-config.js'
import { bindMount, COMPOSE_FILE, dockerfileEnv, loadCompose, ROOT, serviceEnv, type ComposeService } from '../fixtures/ship-files.js'
import { requireTool, runTool, SHELLCHECK } from '../fixtures/ship-tools.js'

const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const PRIMARY = 'us-east'

// The compose-spec JSON schema as dclint ships it (schemas/compose.schema.json, draft-07); package.json pins the version.
const dclintDir = dirname(createRequire(import.meta.url).resolve('dclint/package.json'))
const composeSchema = JSON.parse(readFileSync(join(dclintDir, 'schemas', 'compose.schema.json'), 'utf8')) as { $schema?: string }
// It names draft-07 by its https URL, which ajv knows by the http one.
composeSchema.$schema = 'http://json-schema.org/draft-07/schema#'
// Options as dclint validates with: the schema uses union types and keywords ajv's strict mode rejects.
const validateCompose = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true }).compile(composeSchema)

const { compose, problems: interpolationProblems } = loadCompose()
const services = compose.services
const service = (name: string): ComposeService => {
  const found = services[name]
  if (found === undefined) throw new Error(`compose.yaml has no service ${name}`)
  return found
}
const command = (value: string[] | string | undefined): string[] => (typeof value === 'string' ? value.split(' ') : (value ?? []))
const mounts = (s: ComposeService) => (s.volumes ?? []).map(bindMount).filter((m) => m !== null)
const hostFile = (source: string): string => join(ROOT, source)

/** A Grey service's configuration as the container loads it: the mounted file, the image's ENV, then the service's. */
function greyConfig(name: string): Config {
  const s = service(name)
  const config = mounts(s).find((m) => m.target === command(s.command).at(-1))
  if (config === undefined) throw new Error(`${name}: no file mounted at its --config path`)
  return loadConfig(hostFile(config.source), { ...dockerfileEnv(), ...serviceEnv(s) })
}

function schemaErrors(document: unknown): string[] {
  return validateCompose(document)
    ? []
    : (validateCompose.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
}

t.test('compose.yaml, its variables interpolated, is valid against the compose-spec schema', async (t) => {
  t.same(interpolationProblems, [], 'every variable has a default')
  t.same(schemaErrors(compose), [], 'no schema errors')
  t.equal(compose.name, 'grey', 'a project name')
  // Variables reach the services: a password from the environment replaces the default.
  const withEnv = loadCompose({ POSTGRES_PASSWORD: 'from-the-environment' }).compose
  t.equal(serviceEnv(withEnv.services['grey-eu-west']!).GREY_CLUSTER__POSTGRES__PASSWORD, 'from-the-environment', 'interpolated from env')
  t.equal(serviceEnv(service('grey-eu-west')).GREY_CLUSTER__POSTGRES__PASSWORD, 'grey-compose-password', 'else the default')
})

t.test('the schema check catches a broken file', async (t) => {
  const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> }
  broken.services['grey-us-east']!.imagee = 'grey:dev'
  broken.services['redis-us-east']!.ports = '6379'
  broken.services['pg-eu-west']!.depends_on = { 'pg-us-east': { condition: 'service_up' } }
  const errors = schemaErrors(broken)
  t.match(
    errors.join('\n'),
    /\/services\/grey-us-east must NOT have additional properties \{"additionalProperty":"imagee"\}/,
    'an unknown key',
  )
  t.match(errors.join('\n'), /\/services\/redis-us-east\/ports must be array/, 'a wrong type')
  t.match(
    errors.join('\n'),
    /\/services\/pg-eu-west\/depends_on\/pg-us-east\/condition must be equal to one of the allowed values/,
    'a bad enum',
  )
  const unset = loadCompose({}, stringify({ services: { a: { image: '${IMAGE}', command: 'echo $$HOME ${X:?set X}' } } }))
  t.same(
    unset.problems,
    ['services.a.image: IMAGE is unset and has no default', 'services.a.command: X is required (set X)'],
    'missing variables',
  )
  t.equal(unset.compose.services.a?.command, 'echo $HOME ', '$$ is a literal $')
})

t.test('every file compose.yaml mounts or builds from exists', async (t) => {
  for (const [name, s] of Object.entries(services)) {
    for (const { source } of mounts(s)) {
      t.ok(existsSync(hostFile(source)), `${name}: ${source} exists`)
      if (source === './loadtest') t.ok(statSync(hostFile(source)).isDirectory(), `${name}: ${source} is a directory`)
    }
    if (s.build !== undefined) {
      const build = typeof s.build === 'string' ? { context: s.build } : s.build
      const context = join(ROOT, build.context ?? '.')
      t.ok(existsSync(context), `${name}: build context ${build.context} exists`)
      t.ok(existsSync(join(context, build.dockerfile ?? 'Dockerfile')), `${name}: ${build.dockerfile} exists`)
    }
    for (const volume of s.volumes ?? []) {
      if (bindMount(volume) !== null) continue
      const named = typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '')
      t.ok(compose.volumes && named in compose.volumes, `${name}: named volume ${named} is declared`)
    }
  }
})

t.test('services start in an order that can work', async (t) => {
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s.depends_on)
      ? s.depends_on.map((dep) => [dep, 'service_started'] as const)
      : Object.entries(s.depends_on ?? {}).map(([dep, { condition }]) => [dep, condition] as const)
    for (const [dep, condition] of deps) {
      const target = services[dep]
      t.ok(target, `${name} depends on ${dep}, a service`)
      if (condition === 'service_healthy') t.ok(target?.healthcheck?.test, `${name}: ${dep} has a healthcheck to wait for`)
      if (condition === 'service_completed_successfully') t.equal(target?.restart, 'no', `${name}: ${dep} runs once`)
      t.notOk(target?.profiles && !s.profiles, `${name}: ${dep} is not behind a profile`)
    }
  }
  const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, port: String(p) })))
  for (const { name, port } of published) t.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name}: ${port} is published on loopback only`)
  const hostPorts = published.map((p) => p.port.split(':')[1])
  t.equal(new Set(hostPorts).size, hostPorts.length, 'no host port is published twice')
})

t.test('PostgreSQL 15: a primary in us-east, a synchronous standby in eu-west, an asynchronous one in ap-south', async (t) => {
  const primary = service(`pg-${PRIMARY}`)
  const init = mounts(primary).find((m) => m.target.startsWith('/docker-entrypoint-initdb.d/'))
  t.ok(init, 'the primary runs a replication init script')
  const initScript = readFileSync(hostFile(init!.source), 'utf8')
  t.match(initScript, /CREATE ROLE replicator WITH REPLICATION LOGIN/, 'a replication role')
  t.match(initScript, /^wal_level = replica$/m, 'WAL for streaming replication')
  t.match(initScript, /'host replication replicator all scram-sha-256' >>"\$PGDATA\/pg_hba\.conf"/, 'replication connections are admitted')
  const syncNames = /^synchronous_standby_names = '(.*)'$/m.exec(initScript)?.[1]
  const grey = greyConfig(`grey-${PRIMARY}`)
  t.same(grey.replication.postgres.synchronous_standbys, ['eu-west'], "Grey's config: eu-west is the synchronous standby")
  t.equal(syncNames, 'FIRST 1 ("eu-west")', 'the primary waits for eu-west')
  for (const region of REGIONS) {
    const pg = service(`pg-${region}`)
    t.match(pg.image, /^postgres:15(\.\d+)?$/, `pg-${region}: the official PostgreSQL 15 image`)
    t.ok(pg.healthcheck?.test, `pg-${region}: health-checked`)
    t.equal(
      grey.cluster.regions[region]?.databases.postgres?.host,
      `pg-${region}`,
      `Grey reaches ${region}'s PostgreSQL by its service name`,
    )
    if (region === PRIMARY) continue
    const env = serviceEnv(pg)
    const entrypoint = command(pg.entrypoint)
    const script = mounts(pg).find((m) => m.target === entrypoint.at(-1))
    t.ok(script, `pg-${region}: its entrypoint is the mounted standby script`)
    t.match(
      readFileSync(hostFile(script!.source), 'utf8'),
      /pg_basebackup [^\n]*\\\n[^\n]*--slot="\$REPLICATION_SLOT"/,
      'cloned with pg_basebackup from its slot',
    )
    t.match(
      env,
      { PRIMARY_HOST: `pg-${PRIMARY}`, STANDBY_NAME: region },
      `pg-${region}: streams from the primary as application_name ${region}`,
    )
    t.match(
      initScript,
      new RegExp(`pg_create_physical_replication_slot\\('${env.REPLICATION_SLOT}'\\)`),
      `its slot ${env.REPLICATION_SLOT} is created`,
    )
    t.equal(
      syncNames?.includes(`"${region}"`),
      grey.replication.postgres.synchronous_standbys.includes(region),
      `${region} is sync iff Grey says so`,
    )
  }
})

t.test('the replication scripts pass shellcheck', async (t) => {
  if (!requireTool(t, SHELLCHECK)) return
  const scripts = [
    ...new Set(
      Object.values(services).flatMap((s) =>
        mounts(s)
          .filter((m) => m.source.endsWith('.sh'))
          .map((m) => m.source),
      ),
    ),
  ]
  t.equal(scripts.length, 2, 'the primary init script and the standby entry point')
  for (const script of scripts) {
    const run = runTool(SHELLCHECK, ['--format=gcc', hostFile(script)])
    t.equal(run.status, 0, `shellcheck ${script}\n${run.stdout}${run.stderr}`)
  }
})

t.test('Cassandra 5.0: one DC per region, a keyspace replicated to all three', async (t) => {
  const grey = greyConfig(`grey-${PRIMARY}`)
  for (const region of REGIONS) {
    const node = service(`cassandra-${region}`)
    const env = serviceEnv(node)
    t.match(node.image, /^cassandra:5\.0(\.\d+)?$/, `cassandra-${region}: the official Cassandra 5.0 image`)
    t.match(env, { CASSANDRA_DC: region, CASSANDRA_ENDPOINT_SNITCH: 'GossipingPropertyFileSnitch' }, `cassandra-${region}: DC ${region}`)
    for (const seed of (env.CASSANDRA_SEEDS ?? '').split(',')) t.ok(services[seed], `seed ${seed} is a service`)
    t.same(
      grey.cluster.regions[region]?.databases.cassandra,
      { contact_points: [`cassandra-${region}:9042`], datacenter: region },
      'Grey knows it',
    )
  }
  const schema = service('cassandra-schema')
  const cql = mounts(schema).find((m) => m.source.endsWith('.cql'))
  t.ok(cql && command(schema.entrypoint).includes(`--file=${cql.target}`), 'the schema service runs the mounted CQL file')
  const text = readFileSync(hostFile(cql!.source), 'utf8')
  const keyspace = grey.cluster.cassandra.keyspace
  t.match(
    text,
    new RegExp(
      `CREATE KEYSPACE IF NOT EXISTS ${keyspace}\\s+WITH replication = \\{'class': 'NetworkTopologyStrategy', ${REGIONS.map((r) => `'${r}': 1`).join(', ')}\\}`,
    ),
    `keyspace ${keyspace}`,
  )
})

t.test('Redis: one per region, append-only with fsync always, known only to its own Grey', async (t) => {
  for (const region of REGIONS) {
    const redis = service(`redis-${region}`)
    t.same(command(redis.command), ['redis-server', '--appendonly', 'yes', '--appendfsync', 'always'], `redis-${region}`)
    const grey = greyConfig(`grey-${region}`)
    const known = REGIONS.filter((r) => grey.cluster.regions[r]?.databases.redis !== undefined)
    t.same(known, [region], `grey-${region} lists only its own region's Redis`)
    t.equal(grey.cluster.regions[region]?.databases.redis?.url, `redis://redis-${region}:6379`, 'at its service name')
  }
})

t.test("one Grey per region, built from docker/Dockerfile, each config loading with Grey's own loader", async (t) => {
  const peers = new Set<string>()
  for (const region of REGIONS) {
    const name = `grey-${region}`
    const s = service(name)
    t.match(s.build, { context: '.', dockerfile: 'docker/Dockerfile' }, `${name}: built from the repo`)
    const config = greyConfig(name)
    t.equal(config.proxy.region, region, `${name}: proxy.region`)
    t.equal(config.proxy.instance_id, name, `${name}: instance id`)
    t.equal(config.consensus.raft.node_id, name, `${name}: Raft node id`)
    t.equal(config.cluster.primary_region, PRIMARY, `${name}: primary region`)
    t.ok(config.admin.token && config.consensus.raft.secret && config.cluster.postgres.password, `${name}: secrets from the environment`)
    t.ok(config.proxy.auth.users.grey?.password, `${name}: clients log in as grey`)
    for (const peer of config.consensus.raft.peers) {
      t.ok(services[hostPort(peer.address).host], `${name}: Raft peer ${peer.address} is a service`)
      peers.add(`${peer.id}@${peer.address}`)
    }
    // Each listener the config opens is published, and nothing else.
    const listening = [config.proxy.listen.pg, config.proxy.listen.cql, config.admin.listen].map((a) => hostPort(a!).port)
    const containerPorts = (s.ports ?? []).map((p) => Number(String(p).split(':').at(-1)))
    t.same(containerPorts, listening, `${name}: publishes its pg, cql and admin ports`)
    t.ok(
      parseDurationMs(s.stop_grace_period ?? '10s') > config.proxy.drain_timeout,
      `${name}: stop_grace_period ${s.stop_grace_period} is above drain_timeout (${config.proxy.drain_timeout} ms)`,
    )
    t.ok(
      mounts(s).some((m) => m.target === '/var/lib/grey') || (s.volumes ?? []).some((v) => String(v).endsWith(':/var/lib/grey')),
      `${name}: a volume for ${config.consensus.raft.data_dir}`,
    )
    t.ok(config.consensus.raft.data_dir.startsWith('/var/lib/grey/'), `${name}: the Raft log is on that volume`)
  }
  t.same([...peers].sort(), REGIONS.map((r) => `grey-${r}@grey-${r}:7400`).sort(), 'the three Greys agree on the Raft voters')
})

t.test('Prometheus, Grafana, and k6 behind its profile', async (t) => {
  t.match(service('prometheus').image, /^prom\/prometheus:v\d+\.\d+\.\d+$/, 'Prometheus, pinned')
  t.match(service('grafana').image, /^grafana\/grafana:\d+\.\d+\.\d+$/, 'Grafana, pinned')
  const k6 = service('k6')
  t.same(k6.profiles, ['k6'], 'k6 runs only with --profile k6')
  t.match(k6.build, { context: '.', dockerfile: 'docker/k6/Dockerfile' }, 'k6 with the SQL extension, built from the repo')
  t.ok(
    mounts(k6).some((m) => m.source === './loadtest' && m.target === '/loadtest'),
    'the load test scripts are mounted',
  )
  t.equal(k6.working_dir, '/loadtest', 'k6 runs from the mounted scripts')
  const script = command(k6.command).at(-1)!
  t.ok(existsSync(join(ROOT, 'loadtest', script)), `its script, ${script}, exists`)
  const k6Env = serviceEnv(k6)
  t.ok(REGIONS.includes(k6Env.GREY_REGION as (typeof REGIONS)[number]), `it loads one region's Grey (${k6Env.GREY_REGION})`)
  t.equal(k6Env.GREY_SEED, 'true', 'and seeds its tables first (nothing else in compose.yaml does)')
  for (const region of REGIONS) {
    const url = k6Env[`GREY_PG_${region.toUpperCase().replace('-', '_')}`]
    const grey = greyConfig(`grey-${region}`)
    t.equal(
      url && new URL(url).host,
      `grey-${region}:${hostPort(grey.proxy.listen.pg!).port}`,
      `k6 reaches the ${region} Grey's PostgreSQL front end`,
    )
  }
  t.match(readFileSync(COMPOSE_FILE, 'utf8'), /^# .*docker compose up/m, 'the file says how to run it')
})
