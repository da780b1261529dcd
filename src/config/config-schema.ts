import { z } from 'zod'
import { didYouMean } from './did-you-mean.js'
import { parseDurationMs } from './duration.js'
import { formatHostPort, hostPort, type HostPortError } from './host-port.js'

// Messages in this file are the "expected …" half of a problem; see config-error-map.ts.

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export const REGION_ROLES = ['primary', 'secondary'] as const
export const POSTGRES_ROLES = ['primary', 'sync-standby', 'async-standby'] as const
export const CONSISTENCY_LEVELS = ['strong', 'bounded', 'session', 'eventual'] as const
export const STRONG_CQL_CONSISTENCIES = ['LOCAL_QUORUM', 'QUORUM'] as const
export const CONFLICT_STRATEGIES = ['hlc-lww', 'wall-clock-lww'] as const

export type RegionRole = (typeof REGION_ROLES)[number]
export type PostgresRole = (typeof POSTGRES_ROLES)[number]
export type ConsistencyLevel = (typeof CONSISTENCY_LEVELS)[number]
export type ConflictStrategy = (typeof CONFLICT_STRATEGIES)[number]

/** Node.js timers cannot wait longer than 2^31-1 ms (longer ones fire after 1 ms instead). */
const MAX_TIMER_MS = 2 ** 31 - 1
const REGION_NAME = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/
const PORT = 'a port number from 1 to 65535'
const SECRET = 'a secret of at least 16 characters'

type IssueSink = { issues: z.core.$ZodRawIssue[] }

function fail(ctx: IssueSink, input: unknown, expected: string): never {
  ctx.issues.push({ code: 'custom', input, message: expected })
  return z.NEVER
}

function report(ctx: z.core.$RefinementCtx, path: PropertyKey[], expected: string, found: unknown): void {
  // `input` is set explicitly (even when undefined) so that "found" shows the offending value.
  ctx.addIssue({ code: 'custom', path, message: expected, input: found })
}

function durationMs(input: unknown): number | undefined {
  if (typeof input !== 'string' && typeof input !== 'number') return undefined
  try {
    return parseDurationMs(input)
  } catch {
    return undefined
  }
}

/** A duration written like "500ms"; parsed to a number of milliseconds. */
function duration({ positive }: { positive: boolean }) {
  return z.unknown().transform((input, ctx): number => {
    const ms = durationMs(input)
    if (ms === undefined) return fail(ctx, input, 'a duration like "500ms"')
    if (positive && ms === 0) return fail(ctx, input, 'a duration greater than 0, like "500ms"')
    if (ms > MAX_TIMER_MS) return fail(ctx, input, `a duration of at most ${MAX_TIMER_MS}ms (about 24.8 days)`)
    return ms
  })
}

/** "host:port", validated and normalised (IPv6 in brackets). With a default port, "host" alone is accepted. */
function address(example: string, defaultPort?: number) {
  return z.string({ error: example }).transform((text, ctx) => {
    try {
      return formatHostPort(hostPort(text, defaultPort))
    } catch (error) {
      // hostPort throws nothing but HostPortError.
      return fail(ctx, text, `${example} (${(error as HostPortError).reason})`)
    }
  })
}

const hostAndPort = () => address('a host:port like "127.0.0.1:6432"')
const port = z.int({ error: PORT }).min(1, { error: PORT }).max(65_535, { error: PORT })
const secret = z.string({ error: SECRET }).min(16, { error: SECRET })
const nonEmpty = z.string().min(1)
const regionName = z.string().regex(REGION_NAME, { error: 'a region name of lowercase letters, digits and dashes, like "us-east"' })
const regexSource = nonEmpty.superRefine((source, ctx) => {
  try {
    new RegExp(source)
  } catch (error) {
    report(ctx, [], `a valid regular expression (${(error as SyntaxError).message})`, source)
  }
})

const ProxySchema = z.strictObject({
  /** The region this instance serves; a key of cluster.regions. */
  region: z.string(),
  /** Default: `grey-<region>`. */
  instance_id: nonEmpty.optional(),
  /** Front ends; each is disabled when absent. */
  listen: z.strictObject({ pg: hostAndPort().optional(), cql: hostAndPort().optional() }).prefault({}),
  drain_timeout: duration({ positive: false }).prefault('30s'),
  log_level: z.enum(LOG_LEVELS).default('info'),
  /** How clients authenticate to Grey's PostgreSQL front end. */
  auth: z
    .strictObject({
      /** user → exactly one of: password (Grey derives a SCRAM verifier), scram_verifier, md5 (a stored md5… hash), trust. */
      users: z
        .record(
          z.string().min(1),
          z.strictObject({
            password: z.string().optional(),
            scram_verifier: z.string().startsWith('SCRAM-SHA-256$').optional(),
            md5: z
              .string()
              .regex(/^md5[0-9a-f]{32}$/)
              .optional(),
            /** Accept without a password, from loopback only. */
            trust: z.literal(true).optional(),
          }),
        )
        .default({}),
      /** Keys the fake SCRAM salt of unknown users; the same on every Grey so a name's salt does not vary. Default: cluster name. */
      mock_secret: z.string().optional(),
      /**
       * For users not listed above: a query run on the primary with cluster.postgres credentials and the user name as $1;
       * its last column is the stored secret (SCRAM verifier or md5 hash), e.g. `SELECT rolpassword FROM pg_authid WHERE rolname = $1`.
       */
      auth_query: nonEmpty.optional(),
    })
    .prefault({}),
  /** TLS toward PostgreSQL clients (answers SSLRequest with 'S'); plain text when absent. */
  tls: z.strictObject({ cert_file: nonEmpty, key_file: nonEmpty }).optional(),
  /** Server connections Grey keeps to each PostgreSQL node. */
  pool: z
    .strictObject({
      /** transaction: a server connection per transaction; session: a client keeps each server connection it used until it leaves. */
      mode: z.enum(['transaction', 'session']).default('transaction'),
      max_connections_per_node: z.int().min(1).max(10_000).default(20),
      acquire_timeout: duration({ positive: true }).prefault('5s'),
      connect_timeout: duration({ positive: true }).prefault('5s'),
    })
    .prefault({}),
  /** Protection against clients that misbehave or never finish. */
  limits: z
    .strictObject({
      max_client_connections: z.int().min(1).max(1_000_000).default(1000),
      /** CQL: requests one client connection may have in flight (the protocol allows 32768). */
      max_streams_per_client: z.int().min(1).max(32_768).default(2048),
      /** Largest message a client may send, in bytes (Query, Parse, Bind, CopyData); PostgreSQL's own limit is 1 GiB. */
      max_message_size: z
        .int()
        .min(1024)
        .max(2 ** 30)
        .default(64 * 1024 * 1024),
      /** From connect to the end of authentication. */
      handshake_timeout: duration({ positive: true }).prefault('10s'),
      /** A client idle outside a transaction this long is disconnected; 0 = never. */
      client_idle_timeout: duration({ positive: false }).prefault('0s'),
    })
    .prefault({}),
})

const AdminSchema = z.strictObject({
  listen: hostAndPort().default('127.0.0.1:9187'),
  /** Required for /status details and every state-changing call. */
  token: secret.optional(),
})

const PostgresNodeSchema = z.strictObject({
  host: nonEmpty,
  port: port.default(5432),
  /** Default: primary in the primary region, sync-standby when listed in replication.postgres.synchronous_standbys, else async-standby. */
  role: z.enum(POSTGRES_ROLES).optional(),
})

const CassandraNodeSchema = z.strictObject({
  /** Port 9042 when left out; normalised to host:port. */
  contact_points: z.array(address('a host or host:port like "127.0.1.1:9042"', 9042)).min(1),
  /** Default: the region name. */
  datacenter: nonEmpty.optional(),
})

const RedisNodeSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\/\S+$/, { error: 'a redis:// or rediss:// URL' }),
})

const RegionSchema = z.strictObject({
  /** Default: primary for cluster.primary_region, secondary for the others. */
  role: z.enum(REGION_ROLES).optional(),
  /** One-way latency to other regions, informative. */
  latency_ms: z.record(regionName, z.number().min(0)).default({}),
  databases: z
    .strictObject({
      postgres: PostgresNodeSchema.optional(),
      cassandra: CassandraNodeSchema.optional(),
      redis: RedisNodeSchema.optional(),
    })
    .prefault({}),
})

const ClusterSchema = z.strictObject({
  name: nonEmpty.default('grey'),
  /** Default: the region with role primary, or the only region. */
  primary_region: z.string().optional(),
  regions: z
    .record(regionName, RegionSchema)
    .refine((regions) => Object.keys(regions).length > 0, { error: 'at least one region, like "us-east: {}"' }),
  /** Credentials Grey uses toward the PostgreSQL backends. */
  postgres: z
    .strictObject({ user: nonEmpty.default('grey'), password: z.string().optional(), database: nonEmpty.default('postgres') })
    .prefault({}),
  /** Credentials Grey uses toward the Cassandra backends. */
  cassandra: z.strictObject({ user: nonEmpty.optional(), password: z.string().optional(), keyspace: nonEmpty.optional() }).prefault({}),
})

const RaftPeerSchema = z.strictObject({
  id: nonEmpty,
  address: hostAndPort(),
  region: z.string().optional(),
})

const RaftSchema = z
  .strictObject({
    /** Default: proxy.instance_id. */
    node_id: nonEmpty.optional(),
    /** Default: this node's address in peers, else 127.0.0.1:7400. */
    listen: hostAndPort().optional(),
    /** The voters (3 or 5, spread over regions); a node not listed follows the log as a learner. */
    peers: z.array(RaftPeerSchema).default([]),
    election_timeout: duration({ positive: true }).prefault('500ms'),
    heartbeat_interval: duration({ positive: true }).prefault('150ms'),
    /** Default: ./data/<node_id>/raft (relative to the working directory). */
    data_dir: nonEmpty.optional(),
    /** Shared HMAC secret for Raft traffic; required when there is more than one voter. */
    secret: secret.optional(),
  })
  .superRefine(checkUniquePeers, { when: whenValid(field('peers')) })
  .superRefine(checkRaftSecret, { when: whenValid(keysOf('peers'), field('secret')) })
  .superRefine(checkRaftTimers, { when: whenValid(field('election_timeout'), field('heartbeat_interval')) })

const ConsensusSchema = z.strictObject({ raft: RaftSchema.prefault({}) })

const ConflictResolutionSchema = z.strictObject({
  strategy: z.enum(CONFLICT_STRATEGIES).default('hlc-lww'),
  max_clock_offset: duration({ positive: true }).prefault('500ms'),
})

const ReplicationSchema = z.strictObject({
  postgres: z
    .strictObject({
      /** Region names whose PostgreSQL is a synchronous standby. */
      synchronous_standbys: z.array(z.string()).default([]),
      lag_poll_interval: duration({ positive: true }).prefault('1s'),
      max_lag_warning: duration({ positive: true }).prefault('5s'),
      max_lag_critical: duration({ positive: true }).prefault('30s'),
    })
    .superRefine(checkLagThresholds, { when: whenValid(field('max_lag_warning'), field('max_lag_critical')) })
    .prefault({}),
  cassandra: z
    .strictObject({
      /** Replicas per region (NetworkTopologyStrategy); empty leaves keyspace replication alone. */
      replication_factor: z
        .record(
          regionName,
          z.int({ error: 'a whole number of replicas, at least 1' }).min(1, {
            error: 'a whole number of replicas, at least 1',
          }),
        )
        .default({}),
    })
    .prefault({}),
})

const RuleMatchSchema = z
  .strictObject({
    table: nonEmpty.optional(),
    /** A JavaScript regular expression source, matched against the statement text. */
    statement: regexSource.optional(),
    user: nonEmpty.optional(),
    application_name: nonEmpty.optional(),
    keyspace: nonEmpty.optional(),
  })
  .refine((match) => Object.values(match).some((value) => value !== undefined), {
    error: 'at least one of table | statement | user | application_name | keyspace',
  })

const RoutingRuleSchema = z
  .strictObject({
    match: RuleMatchSchema,
    consistency: z.enum(CONSISTENCY_LEVELS),
    /** Only with consistency: bounded; default routing.max_staleness. */
    max_staleness: duration({ positive: false }).optional(),
  })
  .superRefine(checkRuleStaleness, { when: whenValid(field('consistency'), field('max_staleness')) })

/** A list of routing rules on its own, as `grey cluster rules apply FILE` reads it. */
export const RoutingRulesSchema = z.array(RoutingRuleSchema)

const AffinityRuleSchema = z.strictObject({
  /** Key pattern, like "user:*"; the key comes from a `/* grey: key=user:123 *\/` hint or `column`. */
  key: nonEmpty,
  tables: z.array(nonEmpty).min(1),
  column: nonEmpty.optional(),
  /** `hash` spreads keys over the regions (stable); a region name pins them there. */
  placement: nonEmpty.default('hash'),
})

const RoutingSchema = z.strictObject({
  default_consistency: z.enum(CONSISTENCY_LEVELS).default('session'),
  /** For bounded reads. */
  max_staleness: duration({ positive: false }).prefault('5s'),
  /** How long a session read waits for a replica to catch up before going to the primary. */
  session_wait: duration({ positive: false }).prefault('200ms'),
  strong_cql_consistency: z.enum(STRONG_CQL_CONSISTENCIES).default('LOCAL_QUORUM'),
  /**
   * CQL causality tokens: how long after a request in another DC a session read still goes there, beyond the round
   * trip Grey measures to that DC (Cassandra reports no replication position; the margin covers the replica's apply
   * time and clock offset between Greys).
   */
  cql_replication_margin: duration({ positive: false }).prefault('250ms'),
  /** Functions that make a SELECT a write, besides nextval and setval (always writes). */
  writing_functions: z.array(nonEmpty).default([]),
  /** First match wins. */
  rules: z.array(RoutingRuleSchema).default([]),
  affinity: z.array(AffinityRuleSchema).default([]),
})

const FailoverSchema = z.strictObject({
  /** Automatic failover; off, the Greys still check and report, and `grey cluster` commands still move the primary. */
  enabled: z.boolean().default(true),
  /** How often every Grey checks the PostgreSQL primary it routes to, and reports to the Raft leader. */
  check_interval: duration({ positive: true }).prefault('250ms'),
  /** A check unanswered this long counts as failed. */
  check_timeout: duration({ positive: true }).prefault('500ms'),
  failover_after: duration({ positive: true }).prefault('2s'),
  failover_hold: duration({ positive: false }).prefault('5s'),
  allow_data_loss: z.boolean().default(false),
  /**
   * The Raft leader hands its leadership to a voter in another region (a synchronous standby's first) while it shares
   * the PostgreSQL primary's region: losing that region then needs no election before the failover.
   */
  raft_leader_off_primary_region: z.boolean().default(true),
})

export const PARTITION_QUEUE_STORES = ['none', 'redis', 'file'] as const
const redisUrl = z.string().regex(/^rediss?:\/\/\S+$/, { error: 'a redis:// or rediss:// URL' })
const positiveInt = (what: string) => z.int({ error: what }).min(1, { error: what })

/**
 * Writes a region cut off from the Raft majority may queue durably and replay on heal (issue 7): those with the
 * `/* grey: queue *\/` hint, or writing only `tables` (PostgreSQL) / `keyspaces` (CQL).
 */
const PartitionQueueSchema = z.strictObject({
  /** none: nothing is queued (cut-off writes are refused); redis: a stream on a Redis that fsyncs every write; file: an append-only file. */
  store: z.enum(PARTITION_QUEUE_STORES).default('none'),
  /** Default: this region's cluster.regions.<region>.databases.redis. */
  redis: redisUrl.optional(),
  /** The file store's directory (queue.jsonl for PostgreSQL, cql-queue.jsonl for CQL); default ./data/<instance_id>/partition-queue. */
  dir: nonEmpty.optional(),
  tables: z.array(nonEmpty).default([]),
  keyspaces: z.array(nonEmpty).default([]),
  /** A full queue refuses further writes (25006) rather than grow without bound. */
  max_entries: positiveInt('a whole number of entries, at least 1').default(100_000),
  /** How often the queue looks whether the region has rejoined and replays. */
  replay_interval: duration({ positive: true }).prefault('1s'),
})

const PartitionSchema = z.strictObject({ queue: PartitionQueueSchema.prefault({}) })

const ConfigObjectSchema = z.strictObject({
  proxy: ProxySchema,
  admin: AdminSchema.prefault({}),
  cluster: ClusterSchema,
  consensus: ConsensusSchema.prefault({}),
  conflict_resolution: ConflictResolutionSchema.prefault({}),
  replication: ReplicationSchema.prefault({}),
  routing: RoutingSchema.prefault({}),
  failover: FailoverSchema.prefault({}),
  partition: PartitionSchema.prefault({}),
})

/** The top-level keys of a config file; environment overrides must start with one of them. */
export const CONFIG_SECTIONS: readonly string[] = Object.keys(ConfigObjectSchema.shape)

type CheckedConfig = z.output<typeof ConfigObjectSchema>
type CheckedCluster = CheckedConfig['cluster']

/**
 * The whole configuration. Parsing turns every duration into a number of milliseconds (the
 * keys keep their YAML names: `consensus.raft.election_timeout` is 500 for "500ms"), normalises
 * addresses to "host:port", and fills the defaults that depend on other keys: proxy.instance_id,
 * cluster.primary_region, each region's role, postgres role and cassandra datacenter, and
 * consensus.raft node_id, listen and data_dir.
 */
export const ConfigSchema = ConfigObjectSchema.superRefine(checkProxyRegion, {
  when: whenValid(keysOf('cluster.regions'), field('proxy.region')),
})
  .superRefine(checkPrimaryRegion, {
    when: whenValid(keysOf('cluster.regions'), field('cluster.primary_region'), field('cluster.regions.*.role')),
  })
  .superRefine(checkPostgresPrimary, {
    when: whenValid(
      keysOf('cluster.regions'),
      field('cluster.primary_region'),
      field('cluster.regions.*.role'),
      keysOf('cluster.regions.*.databases'),
      field('cluster.regions.*.databases.postgres.role'),
    ),
  })
  .superRefine(checkSynchronousStandbys, {
    when: whenValid(
      keysOf('cluster.regions'),
      field('cluster.primary_region'),
      field('cluster.regions.*.role'),
      keysOf('cluster.regions.*.databases'),
      field('cluster.regions.*.databases.postgres.role'),
      field('replication.postgres.synchronous_standbys'),
    ),
  })
  .superRefine(checkLatencyRegions, {
    when: whenValid(keysOf('cluster.regions'), keysOf('cluster.regions.*.latency_ms')),
  })
  .superRefine(checkPeerRegions, {
    when: whenValid(keysOf('cluster.regions'), field('consensus.raft.peers.*.region')),
  })
  .superRefine(checkReplicationFactorRegions, {
    when: whenValid(keysOf('cluster.regions'), keysOf('replication.cassandra.replication_factor')),
  })
  .superRefine(checkAffinityPlacement, {
    when: whenValid(keysOf('cluster.regions'), field('routing.affinity.*.placement')),
  })
  .superRefine(checkPartitionQueueRedis, {
    when: whenValid(
      field('proxy.region'),
      keysOf('cluster.regions'),
      keysOf('cluster.regions.*.databases'),
      field('partition.queue.store'),
      field('partition.queue.redis'),
    ),
  })
  .superRefine(checkLeaseOrdering, {
    when: whenValid(field('failover.failover_after'), field('consensus.raft.election_timeout')),
  })
  .transform(resolveDerivedDefaults)

/** A validated configuration; every duration is in milliseconds. */
export type Config = z.output<typeof ConfigSchema>
/** What a config file (or an object handed to ConfigSchema) may contain. */
export type ConfigInput = z.input<typeof ConfigSchema>
export type RegionConfig = Config['cluster']['regions'][string]
export type RaftPeer = Config['consensus']['raft']['peers'][number]
export type RoutingRule = Config['routing']['rules'][number]
export type AffinityRule = Config['routing']['affinity'][number]

// ---------------------------------------------------------------------------------------------
// Cross-field checks. Each runs only when the fields it reads parsed cleanly, so that one bad
// value elsewhere does not hide its findings, and a bad value here is reported once.

interface Dependency {
  readonly path: readonly string[]
  /** Only the mapping's keys are read: problems inside its values do not matter. */
  readonly keysOnly: boolean
}

/** The value at a dotted path ("*" matches any key or index) and everything under it. */
function field(path: string): Dependency {
  return { path: path.split('.'), keysOnly: false }
}

/** The set of keys of the mapping (or entries of the list) at a dotted path. */
function keysOf(path: string): Dependency {
  return { path: path.split('.'), keysOnly: true }
}

function spoils(issuePath: readonly PropertyKey[], dependency: Dependency): boolean {
  if (dependency.keysOnly && issuePath.length > dependency.path.length) return false
  const shared = Math.min(issuePath.length, dependency.path.length)
  for (let i = 0; i < shared; i++) {
    const segment = dependency.path[i]
    if (segment !== '*' && segment !== String(issuePath[i])) return false
  }
  return true
}

function whenValid(...dependencies: Dependency[]) {
  return (payload: z.core.ParsePayload): boolean =>
    !payload.issues.some(
      // An unknown key does not make the known ones wrong.
      (issue) => issue.code !== 'unrecognized_keys' && dependencies.some((d) => spoils(issue.path ?? [], d)),
    )
}

function expectRegion(
  ctx: z.core.$RefinementCtx,
  regions: readonly string[],
  path: PropertyKey[],
  value: string,
  alternatives: readonly string[] = [],
): void {
  const allowed = [...alternatives, ...regions]
  if (allowed.includes(value)) return
  const guess = didYouMean(value, allowed)
  report(ctx, path, `one of ${allowed.join(' | ')}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`, value)
}

/** cluster.primary_region, else the region declared primary, else the only region. */
function effectivePrimaryRegion(cluster: CheckedCluster): string | undefined {
  const names = Object.keys(cluster.regions)
  const declared = names.find((name) => cluster.regions[name]?.role === 'primary')
  return cluster.primary_region ?? declared ?? (names.length === 1 ? names[0] : undefined)
}

function checkProxyRegion(config: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  expectRegion(ctx, Object.keys(config.cluster.regions), ['proxy', 'region'], config.proxy.region)
}

function checkPrimaryRegion({ cluster }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const names = Object.keys(cluster.regions)
  if (cluster.primary_region !== undefined && !names.includes(cluster.primary_region)) {
    expectRegion(ctx, names, ['cluster', 'primary_region'], cluster.primary_region)
    return
  }
  const primary = effectivePrimaryRegion(cluster)
  if (primary === undefined) {
    report(ctx, ['cluster', 'primary_region'], `one of ${names.join(' | ')} (or role: primary on one region)`, undefined)
    return
  }
  for (const [name, region] of Object.entries(cluster.regions)) {
    const path = ['cluster', 'regions', name, 'role']
    if (name === primary && region.role === 'secondary') {
      report(ctx, path, `primary (cluster.primary_region is ${primary})`, region.role)
    } else if (name !== primary && region.role === 'primary') {
      report(ctx, path, `secondary (exactly one region is primary, and it is ${primary})`, region.role)
    }
  }
}

// The checks below run after checkPrimaryRegion and depend on the keys it reports at, so they
// only run once the primary region is known.

function checkPostgresPrimary({ cluster }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const primary = effectivePrimaryRegion(cluster)!
  const regions = Object.entries(cluster.regions)
  const primaryPostgres = cluster.regions[primary]?.databases.postgres
  if (primaryPostgres === undefined && regions.some(([, region]) => region.databases.postgres !== undefined)) {
    const path = ['cluster', 'regions', primary, 'databases', 'postgres']
    report(ctx, path, `a postgres node (the primary region ${primary} holds the postgres primary)`, undefined)
  }
  if (primaryPostgres?.role !== undefined && primaryPostgres.role !== 'primary') {
    const path = ['cluster', 'regions', primary, 'databases', 'postgres', 'role']
    report(ctx, path, `primary (${primary} is the primary region)`, primaryPostgres.role)
  }
  for (const [name, region] of regions) {
    if (name !== primary && region.databases.postgres?.role === 'primary') {
      const path = ['cluster', 'regions', name, 'databases', 'postgres', 'role']
      report(ctx, path, `sync-standby or async-standby (the postgres primary is in the primary region, ${primary})`, 'primary')
    }
  }
}

function checkSynchronousStandbys({ cluster, replication }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const names = Object.keys(cluster.regions)
  const primary = effectivePrimaryRegion(cluster)!
  const standbys = replication.postgres.synchronous_standbys
  standbys.forEach((name, index) => {
    const path = ['replication', 'postgres', 'synchronous_standbys', index]
    if (!names.includes(name)) expectRegion(ctx, names, path, name)
    else if (name === primary) report(ctx, path, `a standby region (${name} is the primary region)`, name)
    else if (cluster.regions[name]?.databases.postgres === undefined) {
      report(ctx, path, `a region with a postgres node (${name} has none)`, name)
    }
  })
  for (const [name, region] of Object.entries(cluster.regions)) {
    const role = region.databases.postgres?.role
    const path = ['cluster', 'regions', name, 'databases', 'postgres', 'role']
    if (role === 'sync-standby' && !standbys.includes(name)) {
      report(ctx, path, `async-standby (${name} is not in replication.postgres.synchronous_standbys)`, role)
    } else if (role === 'async-standby' && standbys.includes(name)) {
      report(ctx, path, `sync-standby (${name} is in replication.postgres.synchronous_standbys)`, role)
    }
  }
}

function checkLatencyRegions({ cluster }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const names = Object.keys(cluster.regions)
  for (const [name, region] of Object.entries(cluster.regions)) {
    for (const other of Object.keys(region.latency_ms)) {
      expectRegion(ctx, names, ['cluster', 'regions', name, 'latency_ms', other], other)
    }
  }
}

function checkPeerRegions({ cluster, consensus }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const names = Object.keys(cluster.regions)
  consensus.raft.peers.forEach((peer, index) => {
    if (peer.region !== undefined) {
      expectRegion(ctx, names, ['consensus', 'raft', 'peers', index, 'region'], peer.region)
    }
  })
}

function checkReplicationFactorRegions({ cluster, replication }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const names = Object.keys(cluster.regions)
  for (const name of Object.keys(replication.cassandra.replication_factor)) {
    expectRegion(ctx, names, ['replication', 'cassandra', 'replication_factor', name], name)
  }
}

function checkAffinityPlacement({ cluster, routing }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const names = Object.keys(cluster.regions)
  routing.affinity.forEach((rule, index) => {
    expectRegion(ctx, names, ['routing', 'affinity', index, 'placement'], rule.placement, ['hash'])
  })
}

/** A Redis store needs a Redis: partition.queue.redis, or this region's. */
function checkPartitionQueueRedis({ proxy, cluster, partition }: CheckedConfig, ctx: z.core.$RefinementCtx): void {
  const queue = partition.queue
  if (queue.store !== 'redis' || queue.redis !== undefined) return
  if (cluster.regions[proxy.region]?.databases.redis !== undefined) return
  report(
    ctx,
    ['partition', 'queue', 'redis'],
    `a redis:// URL: partition.queue.store is redis and cluster.regions.${proxy.region}.databases.redis is not set to default to`,
    undefined,
  )
}

type CheckedPeers = z.output<typeof RaftPeerSchema>[]

function checkUniquePeers(raft: { peers: CheckedPeers }, ctx: z.core.$RefinementCtx): void {
  const firstById = new Map<string, number>()
  const firstByAddress = new Map<string, number>()
  raft.peers.forEach((peer, index) => {
    const sameId = firstById.get(peer.id)
    const sameAddress = firstByAddress.get(peer.address)
    if (sameId !== undefined) report(ctx, ['peers', index, 'id'], `a unique peer id (peers[${sameId}] has it)`, peer.id)
    if (sameAddress !== undefined) {
      report(ctx, ['peers', index, 'address'], `a unique peer address (peers[${sameAddress}] has it)`, peer.address)
    }
    if (sameId === undefined) firstById.set(peer.id, index)
    if (sameAddress === undefined) firstByAddress.set(peer.address, index)
  })
}

function checkRaftSecret(raft: { peers: CheckedPeers; secret?: string | undefined }, ctx: z.core.$RefinementCtx): void {
  if (raft.peers.length > 1 && raft.secret === undefined) {
    report(ctx, ['secret'], `${SECRET} (required when peers lists more than one voter)`, undefined)
  }
}

function checkRaftTimers(raft: { election_timeout: number; heartbeat_interval: number }, ctx: z.core.$RefinementCtx): void {
  if (raft.heartbeat_interval >= raft.election_timeout) {
    report(
      ctx,
      ['heartbeat_interval'],
      `a duration shorter than election_timeout (${raft.election_timeout}ms)`,
      `${raft.heartbeat_interval}ms`,
    )
  }
}

/**
 * Lease ordering (ARCHITECTURE §8): a region cut off from the Raft majority must refuse writes before the majority may
 * promote a new primary. It does so within an election timeout of its last contact; the majority's count starts when
 * its checks fail, which may be a round trip before the cut. Twice the election timeout leaves that margin.
 */
function checkLeaseOrdering(
  { failover, consensus }: { failover: { failover_after: number }; consensus: { raft: { election_timeout: number } } },
  ctx: z.core.$RefinementCtx,
): void {
  const least = 2 * consensus.raft.election_timeout
  if (failover.failover_after < least) {
    report(
      ctx,
      ['failover', 'failover_after'],
      `at least ${least}ms, twice consensus.raft.election_timeout: a region cut off from the Raft majority must stop taking ` +
        'writes (within an election timeout) before the majority may promote, or two primaries could take writes at once',
      `${failover.failover_after}ms`,
    )
  }
}

function checkLagThresholds(lag: { max_lag_warning: number; max_lag_critical: number }, ctx: z.core.$RefinementCtx): void {
  if (lag.max_lag_warning >= lag.max_lag_critical) {
    report(ctx, ['max_lag_warning'], `a duration shorter than max_lag_critical (${lag.max_lag_critical}ms)`, `${lag.max_lag_warning}ms`)
  }
}

function checkRuleStaleness(rule: { consistency: ConsistencyLevel; max_staleness?: number | undefined }, ctx: z.core.$RefinementCtx): void {
  if (rule.max_staleness !== undefined && rule.consistency !== 'bounded') {
    report(ctx, ['consistency'], 'bounded (max_staleness applies only to bounded rules)', rule.consistency)
  }
}

// ---------------------------------------------------------------------------------------------
// Defaults that depend on other keys, filled once everything is valid.

function regionRole(name: string, primaryRegion: string): RegionRole {
  return name === primaryRegion ? 'primary' : 'secondary'
}

function postgresRole(name: string, primaryRegion: string, syncStandbys: string[]): PostgresRole {
  if (name === primaryRegion) return 'primary'
  return syncStandbys.includes(name) ? 'sync-standby' : 'async-standby'
}

function resolveDerivedDefaults(config: CheckedConfig) {
  const { proxy, cluster, consensus, replication } = config
  // checkPrimaryRegion has made sure there is one.
  const primaryRegion = effectivePrimaryRegion(cluster)!
  const instanceId = proxy.instance_id ?? `grey-${proxy.region}`
  const nodeId = consensus.raft.node_id ?? instanceId
  const ownPeer = consensus.raft.peers.find((peer) => peer.id === nodeId)
  const syncStandbys = replication.postgres.synchronous_standbys
  const regions = Object.fromEntries(
    Object.entries(cluster.regions).map(([name, region]) => {
      const { postgres, cassandra, ...otherDatabases } = region.databases
      const resolved = {
        ...region,
        role: region.role ?? regionRole(name, primaryRegion),
        databases: {
          ...otherDatabases,
          ...(postgres && {
            postgres: { ...postgres, role: postgres.role ?? postgresRole(name, primaryRegion, syncStandbys) },
          }),
          ...(cassandra && { cassandra: { ...cassandra, datacenter: cassandra.datacenter ?? name } }),
        },
      }
      return [name, resolved]
    }),
  )
  return {
    ...config,
    proxy: { ...proxy, instance_id: instanceId },
    cluster: { ...cluster, primary_region: primaryRegion, regions },
    consensus: {
      ...consensus,
      raft: {
        ...consensus.raft,
        node_id: nodeId,
        listen: consensus.raft.listen ?? ownPeer?.address ?? '127.0.0.1:7400',
        data_dir: consensus.raft.data_dir ?? `./data/${nodeId}/raft`,
      },
    },
  }
}
