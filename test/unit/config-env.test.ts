import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigError, formatConfigProblem } from '../../src/config/config-error.js'
import { parseConfig } from '../../src/config/load-config.js'

const exampleText = readFileSync(fileURLToPath(new URL('../../src/config/grey.example.yaml', import.meta.url)), 'utf8')
const minimalText = readFileSync(fileURLToPath(new URL('../fixtures/config/minimal.yaml', import.meta.url)), 'utf8')

function problemsOf(text: string, env: NodeJS.ProcessEnv): string[] {
  const error = t.throws(() => parseConfig(text, env, 'grey.yaml'))
  t.type(error, ConfigError)
  return (error as ConfigError).problems.map(formatConfigProblem)
}

t.test('overrides set values of every kind', async (t) => {
  const config = parseConfig(exampleText, {
    GREY_CONSENSUS__RAFT__ELECTION_TIMEOUT: '700ms',
    GREY_PROXY__REGION: 'eu-west',
    GREY_ROUTING__DEFAULT_CONSISTENCY: 'strong',
    GREY_CLUSTER__REGIONS__US_EAST__DATABASES__POSTGRES__PORT: '6543',
    GREY_ROUTING__WRITING_FUNCTIONS: '[nextval, setval, next_invoice_no]',
    GREY_FAILOVER__ALLOW_DATA_LOSS: 'true',
    GREY_CLUSTER__REGIONS__EU_WEST__LATENCY_MS__US_EAST: '41',
    GREY_CLUSTER__POSTGRES__PASSWORD: 'p@ss: word #1',
    GREY_ADMIN__TOKEN: '@token-that-yaml-would-reject',
    GREY_CONSENSUS__RAFT__PEERS__0__ADDRESS: '10.0.0.5:7400',
  })
  t.equal(config.consensus.raft.election_timeout, 700, 'a duration')
  t.equal(config.proxy.region, 'eu-west')
  t.equal(config.proxy.instance_id, 'grey-eu-west', 'derived defaults follow the override')
  t.equal(config.routing.default_consistency, 'strong')
  t.equal(config.cluster.regions['us-east']?.databases.postgres?.port, 6543, 'a number, in a dashed region')
  t.strictSame(config.routing.writing_functions, ['nextval', 'setval', 'next_invoice_no'], 'a flow list')
  t.equal(config.failover.allow_data_loss, true, 'a boolean')
  t.equal(config.cluster.regions['eu-west']?.latency_ms['us-east'], 41, 'dashed keys at two levels')
  t.equal(config.cluster.postgres.password, 'p@ss: word #1', 'text that is no scalar stays literal')
  t.equal(config.admin.token, '@token-that-yaml-would-reject', 'text YAML cannot read stays literal')
  t.equal(config.consensus.raft.peers[0]?.address, '10.0.0.5:7400', 'a list index')
})

t.test('the cluster role of a dashed region, by underscore', async (t) => {
  const config = parseConfig(exampleText, {
    GREY_CLUSTER__PRIMARY_REGION: 'eu-west',
    GREY_CLUSTER__REGIONS__EU_WEST__ROLE: 'primary',
    GREY_CLUSTER__REGIONS__US_EAST__ROLE: 'secondary',
    GREY_CLUSTER__REGIONS__EU_WEST__DATABASES__POSTGRES__ROLE: 'primary',
    GREY_CLUSTER__REGIONS__US_EAST__DATABASES__POSTGRES__ROLE: 'sync-standby',
    GREY_REPLICATION__POSTGRES__SYNCHRONOUS_STANDBYS: '[us-east]',
  })
  t.equal(config.cluster.primary_region, 'eu-west')
  t.equal(config.cluster.regions['eu-west']?.role, 'primary')
  t.equal(config.cluster.regions['us-east']?.role, 'secondary')
  t.strictSame(Object.keys(config.cluster.regions), ['us-east', 'eu-west', 'ap-south'], 'no new region appeared')
})

t.test('variables that are not config paths are ignored', async (t) => {
  const plain = parseConfig(minimalText, {})
  const config = parseConfig(minimalText, {
    GREY_LAB_DIR: '/tmp/lab',
    GREY_NOT_A_SECTION__X: '1',
    GREY_LAB__DIR: '/tmp/lab',
    GREY_PROXY: 'whatever',
    PROXY__REGION: 'elsewhere',
    grey_proxy__region: 'elsewhere',
    GREY_PROXY__REGION: undefined,
  })
  t.strictSame(config, plain)
})

t.test('sections and mappings missing from the file are created', async (t) => {
  const config = parseConfig(`${minimalText}admin:\n`, {
    GREY_ADMIN__TOKEN: 'a-token-of-enough-length',
    GREY_ROUTING__RULES__0: '{match: {table: orders}, consistency: strong}',
    GREY_PROXY__LISTEN__PG: '127.0.0.1:6432',
    GREY_CONSENSUS__RAFT__PEERS__0__ID: 'solo',
    GREY_CONSENSUS__RAFT__PEERS__0__ADDRESS: '127.0.0.1:7400',
  })
  t.equal(config.admin.token, 'a-token-of-enough-length', 'under a null section')
  t.strictSame(config.routing.rules, [{ match: { table: 'orders' }, consistency: 'strong' }], 'appended to a missing list')
  t.equal(config.proxy.listen.pg, '127.0.0.1:6432')
  t.strictSame(config.consensus.raft.peers, [{ id: 'solo', address: '127.0.0.1:7400' }], 'three levels created')
})

t.test('the more specific variable wins', async (t) => {
  const config = parseConfig(minimalText, {
    GREY_PROXY__LISTEN__PG: '127.0.0.1:3333',
    GREY_PROXY__LISTEN: '{pg: "127.0.0.1:1111", cql: "127.0.0.1:2222"}',
  })
  t.strictSame(config.proxy.listen, { pg: '127.0.0.1:3333', cql: '127.0.0.1:2222' })
})

const errorCases: { name: string; env: NodeJS.ProcessEnv; problems: string[] }[] = [
  {
    name: 'an unknown key names the variable',
    env: { GREY_CONSENSUS__RAFT__ELECTON_TIMEOUT: '1s' },
    problems: [
      'env GREY_CONSENSUS__RAFT__ELECTON_TIMEOUT: consensus.raft.electon_timeout: expected a known key (did you mean "election_timeout"?), found unknown key "electon_timeout"',
    ],
  },
  {
    name: 'a bad value names the variable',
    env: { GREY_ROUTING__DEFAULT_CONSISTENCY: 'strongest' },
    problems: [
      'env GREY_ROUTING__DEFAULT_CONSISTENCY: routing.default_consistency: expected one of strong | bounded | session | eventual, found "strongest"',
    ],
  },
  {
    name: 'a bad duration names the variable',
    env: { GREY_CONSENSUS__RAFT__HEARTBEAT_INTERVAL: 'often' },
    problems: [
      'env GREY_CONSENSUS__RAFT__HEARTBEAT_INTERVAL: consensus.raft.heartbeat_interval: expected a duration like "500ms", found "often"',
    ],
  },
  {
    name: 'a region that does not exist is not invented from underscores',
    env: { GREY_CLUSTER__REGIONS__EU_CENTRAL__ROLE: 'secondary' },
    problems: [
      'env GREY_CLUSTER__REGIONS__EU_CENTRAL__ROLE: cluster.regions.eu_central: expected a region name of lowercase letters, digits and dashes, like "us-east", found "eu_central"',
    ],
  },
  {
    name: 'a key below a scalar',
    env: { GREY_PROXY__REGION__NAME: 'x' },
    problems: ['env GREY_PROXY__REGION__NAME: proxy.region: expected a mapping to hold "name", found "us-east"'],
  },
  {
    name: 'a list index past the end',
    env: { GREY_CONSENSUS__RAFT__PEERS__7__ID: 'x' },
    problems: ['env GREY_CONSENSUS__RAFT__PEERS__7__ID: consensus.raft.peers: expected a list index from 0 to 3, found "7"'],
  },
  {
    name: 'a name where a list index belongs',
    env: { GREY_CONSENSUS__RAFT__PEERS__FIRST__ID: 'x' },
    problems: ['env GREY_CONSENSUS__RAFT__PEERS__FIRST__ID: consensus.raft.peers: expected a list index from 0 to 3, found "first"'],
  },
  {
    name: 'an empty segment',
    env: { GREY_PROXY__: 'x' },
    problems: ['env GREY_PROXY__: proxy: expected a key name after every "__", found nothing'],
  },
  {
    name: 'a key inherited from Object.prototype is still unknown',
    env: { GREY_PROXY__CONSTRUCTOR__NAME: 'x' },
    problems: [
      'env GREY_PROXY__CONSTRUCTOR__NAME: proxy.constructor: expected a known key (region | instance_id | listen | drain_timeout | log_level | auth | tls | pool | limits), found unknown key "constructor"',
    ],
  },
  {
    name: 'a value under a mapping set by a shallower variable',
    env: { GREY_PROXY__LISTEN: '{pg: "127.0.0.1:1111"}', GREY_PROXY__LISTEN__CQL: 'nowhere' },
    problems: [
      'env GREY_PROXY__LISTEN__CQL: proxy.listen.cql: expected a host:port like "127.0.0.1:6432" (missing ":port"), found "nowhere"',
    ],
  },
  {
    name: 'problems from the file and the environment together',
    env: { GREY_PROXY__REGION: 'mars', GREY_ADMIN__TOKN: 'x' },
    problems: [
      'env GREY_PROXY__REGION: proxy.region: expected one of us-east | eu-west | ap-south, found "mars"',
      'env GREY_ADMIN__TOKN: admin.tokn: expected a known key (did you mean "token"?), found unknown key "tokn"',
      'grey.yaml: failover.failover_after: expected a duration like "500ms", found "soon"',
    ],
  },
]

for (const { name, env, problems } of errorCases) {
  t.test(name, async (t) => {
    const text = name.includes('file and the environment') ? exampleText.replace('failover_after: 2s', 'failover_after: soon') : exampleText
    t.strictSame(problemsOf(text, env), problems)
  })
}

t.test('overrides are not applied to a file that is not a mapping', async (t) => {
  t.strictSame(problemsOf('[1, 2]', { GREY_PROXY__REGION: 'us-east' }), ['grey.yaml: expected a mapping, found [1,2]'])
})
