import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { ConfigError, formatConfigProblem } from '../../src/config/config-error.js'
import { configErrorMap } from '../../src/config/config-error-map.js'
import { ConfigSchema } from '../../src/config/config-schema.js'
import { loadConfig, parseConfig } from '../../src/config/load-config.js'

const examplePath = fileURLToPath(new URL('../../src/config/grey.example.yaml', import.meta.url))
const minimalPath = fileURLToPath(new URL('../fixtures/config/minimal.yaml', import.meta.url))
const exampleText = readFileSync(examplePath, 'utf8')

/** The problems of a config that must fail, as the lines the user sees. */
function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, env, 'grey.yaml')
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatConfigProblem)
    throw error
  }
  return []
}

type Edit = { set?: Record<string, unknown>; remove?: string[] }

function keyPath(dotted: string): (string | number)[] {
  return dotted.split('.').map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment))
}

/** The example file with some keys set or removed (comments and layout kept). */
function editedExample({ set = {}, remove = [] }: Edit): string {
  const document = parseDocument(exampleText)
  for (const [path, value] of Object.entries(set)) document.setIn(keyPath(path), value)
  for (const path of remove) document.deleteIn(keyPath(path))
  return document.toString()
}

t.test('the example file is valid and says what the lab runs', async (t) => {
  const config = loadConfig(examplePath, {})
  t.equal(config.proxy.region, 'us-east')
  t.equal(config.proxy.instance_id, 'grey-us-east', 'instance_id defaults from the region')
  t.equal(config.proxy.drain_timeout, 30_000, 'durations are milliseconds')
  t.strictSame(config.proxy.listen, { pg: '127.0.0.1:6432', cql: '127.0.0.1:9043' })
  t.equal(config.cluster.primary_region, 'us-east')
  t.strictSame(Object.keys(config.cluster.regions), ['us-east', 'eu-west', 'ap-south'])
  t.equal(config.cluster.regions['eu-west']?.databases.postgres?.role, 'sync-standby')
  t.equal(config.cluster.regions['eu-west']?.databases.cassandra?.datacenter, 'eu-west', 'datacenter defaults to the region')
  t.strictSame(config.cluster.regions['ap-south']?.databases.cassandra?.contact_points, ['127.0.3.1:9042'], 'port 9042 filled in')
  t.equal(config.cluster.regions['us-east']?.databases.redis?.url, 'redis://127.0.0.1:6379')
  t.strictSame(config.cluster.regions['us-east']?.latency_ms, { 'eu-west': 40, 'ap-south': 90 })
  t.equal(config.consensus.raft.node_id, 'grey-us-east', 'node_id defaults to instance_id')
  t.equal(config.consensus.raft.listen, '127.0.0.1:7400', 'raft listen defaults to the own peer address')
  t.equal(config.consensus.raft.data_dir, './data/grey-us-east/raft')
  t.equal(config.consensus.raft.election_timeout, 500)
  t.equal(config.consensus.raft.heartbeat_interval, 150)
  t.equal(config.conflict_resolution.max_clock_offset, 500)
  t.strictSame(config.replication.postgres, {
    synchronous_standbys: ['eu-west'],
    lag_poll_interval: 1_000,
    max_lag_warning: 5_000,
    max_lag_critical: 30_000,
  })
  t.strictSame(config.replication.cassandra.replication_factor, { 'us-east': 1, 'eu-west': 1, 'ap-south': 1 })
  t.strictSame(config.routing.rules, [
    { match: { table: 'orders' }, consistency: 'strong' },
    { match: { statement: '^SELECT .* FROM reports' }, consistency: 'eventual' },
    { match: { application_name: 'batch-jobs' }, consistency: 'bounded', max_staleness: 30_000 },
  ])
  t.strictSame(config.routing.affinity, [{ key: 'user:*', tables: ['users', 'orders'], column: 'user_id', placement: 'hash' }])
  t.strictSame(config.failover, {
    enabled: true,
    check_interval: 250,
    check_timeout: 500,
    failover_after: 2_000,
    failover_hold: 5_000,
    allow_data_loss: false,
    raft_leader_off_primary_region: true,
  })
})

t.test('the same file serves every region', async (t) => {
  const config = parseConfig(exampleText, { GREY_PROXY__REGION: 'ap-south' })
  t.equal(config.proxy.instance_id, 'grey-ap-south')
  t.equal(config.consensus.raft.node_id, 'grey-ap-south')
  t.equal(config.consensus.raft.listen, '127.0.0.1:7402')
  t.equal(config.consensus.raft.data_dir, './data/grey-ap-south/raft')
})

t.test('a minimal file gets every default', async (t) => {
  t.strictSame(loadConfig(minimalPath, {}), {
    proxy: {
      region: 'local',
      instance_id: 'grey-local',
      listen: {},
      drain_timeout: 30_000,
      log_level: 'info',
      auth: { users: {} },
      pool: { mode: 'transaction', max_connections_per_node: 20, acquire_timeout: 5000, connect_timeout: 5000 },
      limits: {
        max_client_connections: 1000,
        max_streams_per_client: 2048,
        max_message_size: 67108864,
        handshake_timeout: 10000,
        client_idle_timeout: 0,
      },
    },
    admin: { listen: '127.0.0.1:9187' },
    cluster: {
      name: 'grey',
      primary_region: 'local',
      regions: {
        local: {
          role: 'primary',
          latency_ms: {},
          databases: { postgres: { host: '127.0.0.1', port: 5432, role: 'primary' } },
        },
      },
      postgres: { user: 'grey', database: 'postgres' },
      cassandra: {},
    },
    consensus: {
      raft: {
        node_id: 'grey-local',
        listen: '127.0.0.1:7400',
        peers: [],
        election_timeout: 500,
        heartbeat_interval: 150,
        data_dir: './data/grey-local/raft',
      },
    },
    conflict_resolution: { strategy: 'hlc-lww', max_clock_offset: 500 },
    replication: {
      postgres: { synchronous_standbys: [], lag_poll_interval: 1_000, max_lag_warning: 5_000, max_lag_critical: 30_000 },
      cassandra: { replication_factor: {} },
    },
    routing: {
      default_consistency: 'session',
      max_staleness: 5_000,
      session_wait: 200,
      strong_cql_consistency: 'LOCAL_QUORUM',
      cql_replication_margin: 250,
      writing_functions: [],
      rules: [],
      affinity: [],
    },
    failover: {
      enabled: true,
      check_interval: 250,
      check_timeout: 500,
      failover_after: 2_000,
      failover_hold: 5_000,
      allow_data_loss: false,
      raft_leader_off_primary_region: true,
    },
    partition: {
      queue: { store: 'none', tables: [], keyspaces: [], max_entries: 100_000, replay_interval: 1_000 },
    },
  })
})

t.test('defaults that follow from other keys', async (t) => {
  const config = parseConfig(`
proxy: {region: b}
cluster:
  regions:
    a: {databases: {postgres: {host: pg-a}, cassandra: {contact_points: ["[::1]"], datacenter: dc-a}}}
    b: {role: primary, databases: {postgres: {host: pg-b}}}
    c: {databases: {postgres: {host: pg-c}}}
replication: {postgres: {synchronous_standbys: [c]}}
consensus: {raft: {node_id: raft-b, listen: "0.0.0.0:7500", data_dir: /var/lib/grey}}
`)
  t.equal(config.cluster.primary_region, 'b', 'primary_region from the region declared primary')
  t.equal(config.cluster.regions['a']?.role, 'secondary')
  t.equal(config.cluster.regions['a']?.databases.postgres?.role, 'async-standby', 'neither primary nor listed')
  t.equal(config.cluster.regions['b']?.databases.postgres?.role, 'primary')
  t.equal(config.cluster.regions['c']?.databases.postgres?.role, 'sync-standby')
  t.strictSame(config.cluster.regions['a']?.databases.cassandra, { contact_points: ['[::1]:9042'], datacenter: 'dc-a' })
  t.strictSame(
    [config.consensus.raft.node_id, config.consensus.raft.listen, config.consensus.raft.data_dir],
    ['raft-b', '0.0.0.0:7500', '/var/lib/grey'],
    'explicit raft settings are kept',
  )
})

// Each case edits the example file; the expected lines are ALL the problems reported.
const errorCases: { name: string; edit: Edit; problems: string[] }[] = [
  {
    name: 'a duration that is not one',
    edit: { set: { 'consensus.raft.election_timeout': 'fast' } },
    problems: ['grey.yaml: consensus.raft.election_timeout: expected a duration like "500ms", found "fast"'],
  },
  {
    name: 'a value outside an enum',
    edit: { set: { 'cluster.regions.eu-west.role': 'master' } },
    problems: ['grey.yaml: cluster.regions.eu-west.role: expected one of primary | secondary, found "master"'],
  },
  {
    name: 'a duration of the wrong type',
    edit: { set: { 'proxy.drain_timeout': true } },
    problems: ['grey.yaml: proxy.drain_timeout: expected a duration like "500ms", found true'],
  },
  {
    name: 'a zero duration where it must be positive',
    edit: { set: { 'failover.failover_after': '0s' } },
    problems: ['grey.yaml: failover.failover_after: expected a duration greater than 0, like "500ms", found "0s"'],
  },
  {
    name: 'a duration longer than a timer can wait',
    edit: { set: { 'proxy.drain_timeout': '600h' } },
    problems: ['grey.yaml: proxy.drain_timeout: expected a duration of at most 2147483647ms (about 24.8 days), found "600h"'],
  },
  {
    name: 'a missing required key',
    edit: { remove: ['proxy.region'] },
    problems: ['grey.yaml: proxy.region: expected a string, found nothing'],
  },
  {
    name: 'a missing required section',
    edit: { remove: ['cluster'] },
    problems: ['grey.yaml: cluster: expected a mapping, found nothing'],
  },
  {
    name: 'a section of the wrong type',
    edit: { set: { routing: 5 } },
    problems: ['grey.yaml: routing: expected a mapping, found 5'],
  },
  {
    name: 'an unknown key close to a known one',
    edit: { set: { 'consensus.raft.electon_timeout': '1s' } },
    problems: [
      'grey.yaml: consensus.raft.electon_timeout: expected a known key (did you mean "election_timeout"?), found unknown key "electon_timeout"',
    ],
  },
  {
    name: 'an unknown key far from every known one',
    edit: { set: { 'proxy.colour': 'grey' } },
    problems: [
      'grey.yaml: proxy.colour: expected a known key (region | instance_id | listen | drain_timeout | log_level | auth | tls | pool | limits), found unknown key "colour"',
    ],
  },
  {
    name: 'an unknown section',
    edit: { set: { routng: {} } },
    problems: ['grey.yaml: routng: expected a known key (did you mean "routing"?), found unknown key "routng"'],
  },
  {
    name: 'a port out of range in host:port',
    edit: { set: { 'proxy.listen.pg': '127.0.0.1:70000' } },
    problems: [
      'grey.yaml: proxy.listen.pg: expected a host:port like "127.0.0.1:6432" (port must be an integer from 1 to 65535), found "127.0.0.1:70000"',
    ],
  },
  {
    name: 'host:port without a port',
    edit: { set: { 'admin.listen': 'localhost' } },
    problems: ['grey.yaml: admin.listen: expected a host:port like "127.0.0.1:6432" (missing ":port"), found "localhost"'],
  },
  {
    name: 'a contact point that is not an address',
    edit: { set: { 'cluster.regions.eu-west.databases.cassandra.contact_points': [7] } },
    problems: [
      'grey.yaml: cluster.regions.eu-west.databases.cassandra.contact_points[0]: expected a host or host:port like "127.0.1.1:9042", found 7',
    ],
  },
  {
    name: 'a port number out of range',
    edit: { set: { 'cluster.regions.us-east.databases.postgres.port': 0 } },
    problems: ['grey.yaml: cluster.regions.us-east.databases.postgres.port: expected a port number from 1 to 65535, found 0'],
  },
  {
    name: 'a port that is not a whole number',
    edit: { set: { 'cluster.regions.us-east.databases.postgres.port': 5432.5 } },
    problems: ['grey.yaml: cluster.regions.us-east.databases.postgres.port: expected a port number from 1 to 65535, found 5432.5'],
  },
  {
    name: 'a short admin token, not printed',
    edit: { set: { 'admin.token': 'hunter2' } },
    problems: ['grey.yaml: admin.token: expected a secret of at least 16 characters, found a 7-character string (hidden)'],
  },
  {
    name: 'a password of the wrong type, not printed',
    edit: { set: { 'cluster.postgres.password': 12_345_678 } },
    problems: ['grey.yaml: cluster.postgres.password: expected a string, found a value of type number (hidden)'],
  },
  {
    name: 'an empty password',
    edit: { set: { 'cluster.cassandra.password': null } },
    problems: ['grey.yaml: cluster.cassandra.password: expected a string, found a value of type null (hidden)'],
  },
  {
    name: 'proxy.region that is not a region',
    edit: { set: { 'proxy.region': 'eu-wset' } },
    problems: ['grey.yaml: proxy.region: expected one of us-east | eu-west | ap-south (did you mean "eu-west"?), found "eu-wset"'],
  },
  {
    name: 'primary_region that is not a region',
    edit: { set: { 'cluster.primary_region': 'mars' } },
    problems: ['grey.yaml: cluster.primary_region: expected one of us-east | eu-west | ap-south, found "mars"'],
  },
  {
    name: 'two primary regions',
    edit: { set: { 'cluster.regions.eu-west.role': 'primary' } },
    problems: [
      'grey.yaml: cluster.regions.eu-west.role: expected secondary (exactly one region is primary, and it is us-east), found "primary"',
    ],
  },
  {
    name: 'the primary region marked secondary',
    edit: { set: { 'cluster.regions.us-east.role': 'secondary' } },
    problems: ['grey.yaml: cluster.regions.us-east.role: expected primary (cluster.primary_region is us-east), found "secondary"'],
  },
  {
    name: 'no way to tell the primary region',
    edit: { remove: ['cluster.primary_region', 'cluster.regions.us-east.role'] },
    problems: [
      'grey.yaml: cluster.primary_region: expected one of us-east | eu-west | ap-south (or role: primary on one region), found nothing',
    ],
  },
  {
    name: 'a postgres primary outside the primary region',
    edit: { set: { 'cluster.regions.eu-west.databases.postgres.role': 'primary' } },
    problems: [
      'grey.yaml: cluster.regions.eu-west.databases.postgres.role: expected sync-standby or async-standby (the postgres primary is in the primary region, us-east), found "primary"',
    ],
  },
  {
    name: 'the primary region without postgres while others have it',
    edit: { remove: ['cluster.regions.us-east.databases.postgres'] },
    problems: [
      'grey.yaml: cluster.regions.us-east.databases.postgres: expected a postgres node (the primary region us-east holds the postgres primary), found nothing',
    ],
  },
  {
    name: "the primary region's postgres declared a standby",
    edit: { set: { 'cluster.regions.us-east.databases.postgres.role': 'async-standby' } },
    problems: [
      'grey.yaml: cluster.regions.us-east.databases.postgres.role: expected primary (us-east is the primary region), found "async-standby"',
    ],
  },
  {
    name: 'a problem inside a postgres node does not hide the role checks',
    edit: {
      set: {
        'cluster.regions.eu-west.databases.postgres.port': 'x',
        'cluster.regions.ap-south.databases.postgres.role': 'primary',
      },
    },
    problems: [
      'grey.yaml: cluster.regions.eu-west.databases.postgres.port: expected a port number from 1 to 65535, found "x"',
      'grey.yaml: cluster.regions.ap-south.databases.postgres.role: expected sync-standby or async-standby (the postgres primary is in the primary region, us-east), found "primary"',
    ],
  },
  {
    name: 'a synchronous standby that is not a region',
    edit: { set: { 'replication.postgres.synchronous_standbys': ['eu-wst'] } },
    problems: [
      'grey.yaml: cluster.regions.eu-west.databases.postgres.role: expected async-standby (eu-west is not in replication.postgres.synchronous_standbys), found "sync-standby"',
      'grey.yaml: replication.postgres.synchronous_standbys[0]: expected one of us-east | eu-west | ap-south (did you mean "eu-west"?), found "eu-wst"',
    ],
  },
  {
    name: 'the primary region as a synchronous standby',
    edit: { set: { 'replication.postgres.synchronous_standbys': ['eu-west', 'us-east'] } },
    problems: [
      'grey.yaml: replication.postgres.synchronous_standbys[1]: expected a standby region (us-east is the primary region), found "us-east"',
    ],
  },
  {
    name: 'a synchronous standby without postgres',
    edit: {
      set: { 'replication.postgres.synchronous_standbys': ['eu-west', 'ap-south'] },
      remove: ['cluster.regions.ap-south.databases.postgres'],
    },
    problems: [
      'grey.yaml: replication.postgres.synchronous_standbys[1]: expected a region with a postgres node (ap-south has none), found "ap-south"',
    ],
  },
  {
    name: 'a listed synchronous standby declared asynchronous',
    edit: { set: { 'replication.postgres.synchronous_standbys': ['eu-west', 'ap-south'] } },
    problems: [
      'grey.yaml: cluster.regions.ap-south.databases.postgres.role: expected sync-standby (ap-south is in replication.postgres.synchronous_standbys), found "async-standby"',
    ],
  },
  {
    name: 'a region name that is not one',
    edit: { set: { 'cluster.regions.EU_North': {} } },
    problems: [
      'grey.yaml: cluster.regions.EU_North: expected a region name of lowercase letters, digits and dashes, like "us-east", found "EU_North"',
    ],
  },
  {
    name: 'no regions',
    edit: { set: { 'cluster.regions': {} } },
    problems: ['grey.yaml: cluster.regions: expected at least one region, like "us-east: {}", found {}'],
  },
  {
    name: 'latency to an unknown region',
    edit: { set: { 'cluster.regions.us-east.latency_ms.eu-wast': 41 } },
    problems: [
      'grey.yaml: cluster.regions.us-east.latency_ms.eu-wast: expected one of us-east | eu-west | ap-south (did you mean "eu-west"?), found "eu-wast"',
    ],
  },
  {
    name: 'a latency that is not a number',
    edit: { set: { 'cluster.regions.us-east.latency_ms.eu-west': 'far' } },
    problems: ['grey.yaml: cluster.regions.us-east.latency_ms.eu-west: expected a number, found "far"'],
  },
  {
    name: 'a negative latency',
    edit: { set: { 'cluster.regions.us-east.latency_ms.eu-west': -1 } },
    problems: ['grey.yaml: cluster.regions.us-east.latency_ms.eu-west: expected a number of at least 0, found -1'],
  },
  {
    name: 'an unusable redis URL',
    edit: { set: { 'cluster.regions.us-east.databases.redis.url': 'http://127.0.0.1:6379' } },
    problems: [
      'grey.yaml: cluster.regions.us-east.databases.redis.url: expected a redis:// or rediss:// URL, found "http://127.0.0.1:6379"',
    ],
  },
  {
    name: 'no contact points',
    edit: { set: { 'cluster.regions.us-east.databases.cassandra.contact_points': [] } },
    problems: ['grey.yaml: cluster.regions.us-east.databases.cassandra.contact_points: expected a non-empty list, found []'],
  },
  {
    name: 'an empty cluster name',
    edit: { set: { 'cluster.name': '' } },
    problems: ['grey.yaml: cluster.name: expected a non-empty string, found ""'],
  },
  {
    name: 'a duplicate raft peer id',
    edit: { set: { 'consensus.raft.peers.1.id': 'grey-us-east' } },
    problems: ['grey.yaml: consensus.raft.peers[1].id: expected a unique peer id (peers[0] has it), found "grey-us-east"'],
  },
  {
    name: 'a duplicate raft peer address',
    edit: { set: { 'consensus.raft.peers.2.address': '127.0.0.1:7401' } },
    problems: ['grey.yaml: consensus.raft.peers[2].address: expected a unique peer address (peers[1] has it), found "127.0.0.1:7401"'],
  },
  {
    name: 'a raft peer in an unknown region',
    edit: { set: { 'consensus.raft.peers.2.region': 'ap-sout' } },
    problems: [
      'grey.yaml: consensus.raft.peers[2].region: expected one of us-east | eu-west | ap-south (did you mean "ap-south"?), found "ap-sout"',
    ],
  },
  {
    name: 'several voters without a secret',
    edit: { remove: ['consensus.raft.secret'] },
    problems: [
      'grey.yaml: consensus.raft.secret: expected a secret of at least 16 characters (required when peers lists more than one voter), found nothing',
    ],
  },
  {
    name: 'a heartbeat no shorter than the election timeout',
    edit: { set: { 'consensus.raft.heartbeat_interval': '0.6s' } },
    problems: ['grey.yaml: consensus.raft.heartbeat_interval: expected a duration shorter than election_timeout (500ms), found "600ms"'],
  },
  {
    name: 'a lag warning above the critical lag',
    edit: { set: { 'replication.postgres.max_lag_warning': '1m' } },
    problems: [
      'grey.yaml: replication.postgres.max_lag_warning: expected a duration shorter than max_lag_critical (30000ms), found "60000ms"',
    ],
  },
  {
    name: 'a replication factor for an unknown region, and one of zero',
    edit: { set: { 'replication.cassandra.replication_factor': { 'us-east': 0, mars: 1 } } },
    problems: [
      'grey.yaml: replication.cassandra.replication_factor.us-east: expected a whole number of replicas, at least 1, found 0',
      'grey.yaml: replication.cassandra.replication_factor.mars: expected one of us-east | eu-west | ap-south, found "mars"',
    ],
  },
  {
    name: 'a rule regex that does not compile',
    edit: { set: { 'routing.rules.1.match.statement': '^SELECT (' } },
    problems: [
      'grey.yaml: routing.rules[1].match.statement: expected a valid regular expression (Invalid regular expression: /^SELECT (/: Unterminated group), found "^SELECT ("',
    ],
  },
  {
    name: 'a rule that matches nothing in particular',
    edit: { set: { 'routing.rules.0.match': {} } },
    problems: [
      'grey.yaml: routing.rules[0].match: expected at least one of table | statement | user | application_name | keyspace, found {}',
    ],
  },
  {
    name: 'a rule with max_staleness that is not bounded',
    edit: { set: { 'routing.rules.2.consistency': 'eventual' } },
    problems: ['grey.yaml: routing.rules[2].consistency: expected bounded (max_staleness applies only to bounded rules), found "eventual"'],
  },
  {
    name: 'an affinity placement that is neither hash nor a region',
    edit: { set: { 'routing.affinity.0.placement': 'nearest' } },
    problems: ['grey.yaml: routing.affinity[0].placement: expected one of hash | us-east | eu-west | ap-south, found "nearest"'],
  },
  {
    name: 'affinity without tables',
    edit: { set: { 'routing.affinity.0.tables': [] } },
    problems: ['grey.yaml: routing.affinity[0].tables: expected a non-empty list, found []'],
  },
  {
    name: 'a scalar where a list belongs',
    edit: { set: { 'routing.writing_functions': 'nextval' } },
    problems: ['grey.yaml: routing.writing_functions: expected a list, found "nextval"'],
  },
  {
    name: 'a failover_after that would let the majority promote before a cut-off region fences itself',
    edit: { set: { 'failover.failover_after': '900ms', 'consensus.raft.election_timeout': '500ms' } },
    problems: [
      'grey.yaml: failover.failover_after: expected at least 1000ms, twice consensus.raft.election_timeout: a region cut off from the Raft majority must stop taking writes (within an election timeout) before the majority may promote, or two primaries could take writes at once, found "900ms"',
    ],
  },
  {
    name: 'a string where a boolean belongs',
    edit: { set: { 'failover.allow_data_loss': 'yes' } },
    problems: ['grey.yaml: failover.allow_data_loss: expected true or false, found "yes"'],
  },
  {
    name: 'a long found value is truncated',
    edit: { set: { 'proxy.region': ['us-east', 'eu-west', 'ap-south', 'us-west', 'eu-north', 'me-central'] } },
    problems: ['grey.yaml: proxy.region: expected a string, found ["us-east","eu-west","ap-south","us-west","eu-north","me-ce…'],
  },
]

for (const { name, edit, problems } of errorCases) {
  t.test(name, async (t) => {
    t.strictSame(problemsOf(editedExample(edit)), problems)
  })
}

t.test('every problem is reported at once, in section order', async (t) => {
  const error = t.throws(() =>
    parseConfig(
      editedExample({
        set: {
          'consensus.raft.election_timeout': 'fast',
          'cluster.regions.eu-west.role': 'master',
          'proxy.region': 'mars',
          'routing.rules.0.match': {},
          'admin.listen': 'localhost:0',
        },
        remove: ['consensus.raft.secret'],
      }),
      {},
      'grey.yaml',
    ),
  )
  t.type(error, ConfigError)
  const configError = error as ConfigError
  t.equal(configError.name, 'ConfigError')
  t.equal(configError.problems.length, 6)
  t.equal(
    configError.message,
    [
      'invalid Grey configuration (6 problems):',
      '  grey.yaml: proxy.region: expected one of us-east | eu-west | ap-south, found "mars"',
      '  grey.yaml: admin.listen: expected a host:port like "127.0.0.1:6432" (port must be an integer from 1 to 65535), found "localhost:0"',
      '  grey.yaml: cluster.regions.eu-west.role: expected one of primary | secondary, found "master"',
      '  grey.yaml: consensus.raft.election_timeout: expected a duration like "500ms", found "fast"',
      '  grey.yaml: consensus.raft.secret: expected a secret of at least 16 characters (required when peers lists more than one voter), found nothing',
      '  grey.yaml: routing.rules[0].match: expected at least one of table | statement | user | application_name | keyspace, found {}',
    ].join('\n'),
  )
  t.strictSame(configError.problems[0], {
    source: 'grey.yaml',
    path: 'proxy.region',
    expected: 'one of us-east | eu-west | ap-south',
    found: '"mars"',
  })
})

t.test('YAML syntax errors give line and column', async (t) => {
  const error = t.throws(() => parseConfig('proxy:\n  region: us-east\nproxy:\n  region: eu-west\n', {}, 'grey.yaml'))
  t.type(error, ConfigError)
  t.strictSame((error as ConfigError).problems, [
    {
      source: 'grey.yaml',
      path: '',
      expected: 'valid YAML',
      found: 'a syntax error (Map keys must be unique)',
      line: 3,
      column: 1,
    },
  ])
  t.equal(
    (error as ConfigError).message,
    'invalid Grey configuration (1 problem):\n  grey.yaml:3:1: expected valid YAML, found a syntax error (Map keys must be unique)',
  )

  t.strictSame(problemsOf('proxy:\n  region: [us-east\ncluster: {}\n'), [
    'grey.yaml:3:1: expected valid YAML, found a syntax error (Flow sequence in block collection must be sufficiently indented and end with a ])',
  ])
})

t.test('a file that is not a mapping', async (t) => {
  t.strictSame(problemsOf('- proxy\n- cluster\n'), ['grey.yaml: expected a mapping, found ["proxy","cluster"]'])
  t.strictSame(problemsOf('just text'), ['grey.yaml: expected a mapping, found "just text"'])
  t.strictSame(problemsOf('# nothing but a comment\n'), [
    'grey.yaml: proxy: expected a mapping, found nothing',
    'grey.yaml: cluster: expected a mapping, found nothing',
  ])
  t.strictSame(
    problemsOf(
      'proxy:\n  region: a\n  listen: {pg: "127.0.0.1:.inf"}\ncluster:\n  regions: {a: {databases: {postgres: {host: h, port: .inf}}}}\n',
    ),
    [
      'grey.yaml: proxy.listen.pg: expected a host:port like "127.0.0.1:6432" (port must be an integer from 1 to 65535), found "127.0.0.1:.inf"',
      'grey.yaml: cluster.regions.a.databases.postgres.port: expected a port number from 1 to 65535, found Infinity',
    ],
  )
})

t.test('an unreadable file', async (t) => {
  const error = t.throws(() => loadConfig('/nonexistent/grey.yaml'))
  t.type(error, ConfigError)
  const [problem] = (error as ConfigError).problems
  t.equal(problem?.source, '/nonexistent/grey.yaml')
  t.equal(problem?.expected, 'a readable YAML file')
  t.match(problem?.found, /^"ENOENT: no such file or directory/)
})

t.test('loadConfig reads process.env unless told otherwise', async (t) => {
  const saved = process.env['GREY_PROXY__LOG_LEVEL']
  process.env['GREY_PROXY__LOG_LEVEL'] = 'debug'
  t.teardown(() => {
    if (saved === undefined) delete process.env['GREY_PROXY__LOG_LEVEL']
    else process.env['GREY_PROXY__LOG_LEVEL'] = saved
  })
  t.equal(loadConfig(minimalPath).proxy.log_level, 'debug')
  t.equal(loadConfig(minimalPath, {}).proxy.log_level, 'info')
  t.equal(parseConfig(readFileSync(minimalPath, 'utf8')).proxy.log_level, 'info', 'parseConfig uses no env by default')
})

t.test('problems without a source name say "config"', async (t) => {
  t.throws(() => parseConfig('proxy: 1\ncluster: {regions: {a: {}}}\n'), { message: /\n {2}config: proxy: expected a mapping, found 1$/ })
})

t.test('the error map phrases what is expected', async (t) => {
  const expected = (schema: z.ZodType, input: unknown): string | undefined =>
    schema.safeParse(input, { error: configErrorMap }).error?.issues[0]?.message
  t.equal(expected(z.date(), 'x'), 'a value of type date')
  t.equal(expected(z.string().min(3), 'ab'), 'a string of at least 3 characters')
  t.equal(expected(z.string().max(3), 'abcd'), 'a string of at most 3 characters')
  t.equal(expected(z.array(z.string()).min(2), ['a']), 'a list of at least 2 entries')
  t.equal(expected(z.array(z.string()).max(1), ['a', 'b']), 'a list of at most 1 entries')
  t.equal(expected(z.number().max(5), 6), 'a number of at most 5')
  t.equal(expected(z.number().positive(), 0), 'a number greater than 0')
  t.equal(expected(z.number().lt(5), 5), 'a number less than 5')
  t.equal(expected(z.literal('x'), 'y'), 'one of x')
  t.equal(expected(z.email(), 'nope'), 'Invalid email address', "other issues keep zod's own message")
})

t.test('ConfigSchema can be used directly on an object', async (t) => {
  const config = ConfigSchema.parse({ proxy: { region: 'x' }, cluster: { regions: { x: {} } } })
  t.equal(config.cluster.primary_region, 'x', 'the only region is the primary')
  t.equal(config.cluster.regions['x']?.role, 'primary')
  t.strictSame(config.cluster.regions['x']?.databases, {}, 'no databases')
})
