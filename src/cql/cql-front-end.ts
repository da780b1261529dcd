import type { Server } from 'node:net'
import type { Logger } from 'pino'
import type { GreyMetrics } from '../admin/metrics.js'
import { listenForClients } from '../cli/client-listener.js'
import type { FrontEnd } from '../cli/front-end.js'
import { cassandraWriteStamper, type CassandraWriteStamper } from '../clock/cassandra-write-stamper.js'
import { HybridLogicalClock, type HlcTimestamp } from '../clock/hlc.js'
import { clusterView, type ClusterView } from '../consensus/cluster-view.js'
import type { Config } from '../config/config-schema.js'
import { hostPort } from '../config/host-port.js'
import { chooseAuth, type ClientAuthConfig } from '../pg/auth/auth-method.js'
import { verifyPlainPassword } from '../pg/auth/verify-plain-password.js'
import { clientAuthConfig } from '../pg/pg-front-end.js'
import type { CausalityToken } from '../routing/causality-token.js'
import type { CqlDatacenter } from '../routing/decide-cql-route.js'
import { tokenReadDcs } from '../routing/token-read-dcs.js'
import { affinityHome } from '../routing/affinity-home.js'
import { describeCql, routeCql } from './cql-statement-routing.js'
import { CassandraConnection, CassandraError, type CqlResponseFrame } from './backend/cassandra-connection.js'
import { CassandraPool } from './backend/cassandra-pool.js'
import { CqlSession, type CqlRoute, type CqlStatementInfo, type CqlWriteQueue } from './cql-session.js'
import { CqlWriteReplayer, type CqlQueueInput } from '../partition/cql-write-replayer.js'
import { FileQueueStore } from '../partition/file-queue-store.js'
import { createPartitionQueueMetrics } from '../partition/partition-queue-metrics.js'
import type { CqlQueuedWrite } from '../partition/queued-write.js'
import { RedisQueueStore } from '../partition/redis-queue-store.js'
import { ReplayQueue } from '../partition/replay-queue.js'
import { emptyPeers, greyNodeIdentity, rewriteSystemLocal, type GreyNodeIdentity } from './grey-node-identity.js'
import { PreparedStatementRegistry } from './prepared-registry.js'
import { CqlErrorCode } from './protocol/cql-error-code.js'
import { decodeResponse } from './protocol/decode-response.js'
import type { CqlVersion } from './protocol/frame-header.js'
import type { ResponseMessage } from './protocol/response-messages.js'

const SCHEMA_AGREEMENT_TIMEOUT_MS = 10_000
const SCHEMA_AGREEMENT_POLL_MS = 200
const CONTROL_RETRY_MS = 2000
/** CQL token entries older than this are dropped (src/routing/causality-token.ts observeCql). */
const TOKEN_HORIZON_MS = 60_000
/** How long after a read in another DC returns the state it saw may still be on its way into the local DC. */
const READ_APPLY_ALLOWANCE_MS = 50

/**
 * The CQL front end: Grey is the driver's only node. It answers system.local/peers as itself,
 * routes each request to a datacenter by consistency, stamps writes with its HLC, and relays
 * schema-change events from a control connection it keeps to the local node.
 */
/** How often each DC's coordinator is probed for health and latency. */
const CASSANDRA_PROBE_INTERVAL_MS = 1000
/** A replayed queued write must be answered within this (Cassandra's own write timeout is 2 s by default). */
const REPLAY_TIMEOUT_MS = 10_000

export class CqlFrontEnd implements FrontEnd {
  readonly name = 'cql'
  private server: Server | null = null
  private readonly sessions = new Set<CqlSession>()
  private readonly pools = new Map<string, CassandraPool>()
  private readonly registry = new PreparedStatementRegistry()
  private readonly auth: ClientAuthConfig
  private readonly stampMicros: CassandraWriteStamper
  private readonly region: string
  /** Regions by one-way latency from this one: where requests go when the chosen DC is down. */
  private readonly nearest: string[]
  private identity: GreyNodeIdentity | null = null
  private control: CassandraConnection | null = null
  private supported = new Map<string, string[]>()
  private stopped = false
  private probeTimer: NodeJS.Timeout | null = null
  private cluster: () => ClusterView
  private cutOff: () => string | null = () => null
  private readonly clock: HybridLogicalClock
  /** The durable write queue of a cut-off region for CQL writes (partition.queue); null when its store is none. */
  readonly partitionQueue: ReplayQueue<CqlQueuedWrite, CqlQueueInput> | null
  private readonly writeQueue: CqlWriteQueue | null

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics: GreyMetrics,
    clock?: HybridLogicalClock,
  ) {
    this.region = config.proxy.region
    const configured = clusterView(config, null)
    this.cluster = () => configured
    this.auth = clientAuthConfig(config)
    this.clock = clock ?? new HybridLogicalClock({ maxOffsetMs: config.conflict_resolution.max_clock_offset })
    this.stampMicros = cassandraWriteStamper(config.conflict_resolution.strategy, this.clock)
    const credentials = { user: config.cluster.cassandra.user, password: config.cluster.cassandra.password }
    for (const [name, region] of Object.entries(config.cluster.regions)) {
      const cassandra = region.databases.cassandra
      if (!cassandra) continue
      const { host, port } = hostPort(cassandra.contact_points[0]!)
      const pool = new CassandraPool(
        { region: name, datacenter: cassandra.datacenter ?? name, host, port },
        credentials,
        { connectionsPerKeyspace: 2, connectTimeoutMs: config.proxy.pool.connect_timeout },
        log.child({ pool: `cassandra ${name}` }),
      )
      this.pools.set(name, pool)
      metrics.watchPool({ protocol: 'cql', node: name, active: () => pool.size, max: () => pool.size })
      metrics.watchCassandra({
        region: name,
        datacenter: pool.node.datacenter,
        latencyMs: () => pool.latencyMs,
        healthy: () => pool.healthy,
      })
    }
    const latency = config.cluster.regions[this.region]?.latency_ms ?? {}
    this.nearest = [...this.pools.keys()].sort((a, b) =>
      a === this.region ? -1 : b === this.region ? 1 : (latency[a] ?? Infinity) - (latency[b] ?? Infinity),
    )
    this.partitionQueue = this.newPartitionQueue()
    const queue = this.partitionQueue
    this.writeQueue = queue && { keyspaces: new Set(config.partition.queue.keyspaces), enqueue: (input) => queue.enqueue(input) }
  }

  /**
   * The CQL queue of partition.queue: a queue of its own beside the PostgreSQL front end's, on the same store kind (its
   * own file, cql-queue.jsonl, or Redis stream, …:cql), so each front end replays its database on its own and a
   * PostgreSQL primary out of reach does not hold CQL writes back. Its metrics are exported (at 0) either way.
   */
  private newPartitionQueue(): ReplayQueue<CqlQueuedWrite, CqlQueueInput> | null {
    const metrics = createPartitionQueueMetrics(this.metrics.registry)
    const q = this.config.partition.queue
    if (q.store === 'none') return null
    const instanceId = this.config.proxy.instance_id
    // The config check makes sure a Redis store has a URL: its own or the region's.
    const store =
      q.store === 'redis'
        ? new RedisQueueStore(q.redis ?? this.config.cluster.regions[this.region]!.databases.redis!.url, instanceId, ':cql')
        : new FileQueueStore(q.dir ?? `./data/${instanceId}/partition-queue`, 'cql-')
    const replayer = new CqlWriteReplayer({
      route: (write) => {
        const route = this.route(describeCql(write.query), write.consistency, null, [], null, null)
        return { node: this.pools.get(route.region)!.node, consistency: route.consistency ?? write.consistency }
      },
      credentials: { user: this.config.cluster.cassandra.user, password: this.config.cluster.cassandra.password },
      timeoutMs: REPLAY_TIMEOUT_MS,
    })
    const options = {
      store,
      region: this.region,
      instanceId,
      clock: this.clock,
      maxEntries: q.max_entries,
      replayIntervalMs: q.replay_interval,
      isCutOff: () => this.cutOff() !== null,
      metrics,
      log: this.log.child({ component: 'partition-queue', protocol: 'cql' }),
    }
    return new ReplayQueue(options, replayer)
  }

  get address(): string | null {
    return this.config.proxy.listen.cql ?? null
  }

  async start(cluster: () => ClusterView, cutOff: () => string | null = () => null): Promise<void> {
    this.cluster = cluster
    this.cutOff = cutOff
    const listen = this.config.proxy.listen.cql
    if (!listen) return
    const { host, port } = hostPort(listen)
    this.identity = greyNodeIdentity(this.config.proxy.instance_id, this.region, { host, port })
    if (!this.pools.has(this.region))
      throw new Error(`grey: proxy.listen.cql is set but cluster.regions.${this.region} has no cassandra database`)
    void this.keepControlConnection()
    // Each DC's coordinator: health and measured latency, once a second, one OPTIONS round trip each.
    const probeAll = (): void => {
      for (const pool of this.pools.values()) void pool.probe()
    }
    probeAll()
    this.probeTimer = setInterval(probeAll, CASSANDRA_PROBE_INTERVAL_MS)
    this.probeTimer.unref()
    await this.partitionQueue?.start()
    const limits = this.config.proxy.limits
    this.server = await listenForClients({
      address: listen,
      maxClients: limits.max_client_connections,
      clients: () => this.sessions.size,
      // Before STARTUP there is no protocol version to answer in: the connection is closed, as Cassandra does.
      refusal: null,
      log: this.log,
      accept: (socket) => {
        const session = new CqlSession(
          socket,
          {
            log: this.log,
            limits: {
              maxFrameBytes: limits.max_message_size,
              maxStreamsPerClient: limits.max_streams_per_client,
              handshakeTimeoutMs: limits.handshake_timeout,
            },
            authenticate: this.auth.users.size > 0 ? (user, password, loopback) => this.authenticate(user, password, loopback) : null,
            registry: this.registry,
            describe: describeCql,
            route: (info, consistency, serial, avoid, token, home) => this.route(info, consistency, serial, avoid, token, home),
            writeFence: () => this.writeFence(),
            queue: this.writeQueue,
            clock: this.clock,
            tokenHorizonMs: TOKEN_HORIZON_MS,
            observedAt: (region, kind) => this.observedAt(region, kind),
            affinityHome: (info, query, bound) => this.affinityHome(info, query, bound),
            connection: (region, version, keyspace) => this.connection(region, version, keyspace),
            nodeFailed: (region) => this.pools.get(region)?.markDown(),
            systemTable: (table, response) => this.systemTable(table, response),
            supportedOptions: () => this.supportedOptions(),
            stampMicros: this.stampMicros,
            awaitSchemaAgreement: (connection) => this.awaitSchemaAgreement(connection),
            observe: {
              routed: (route, kind) =>
                this.metrics.routing.inc({
                  protocol: 'cql',
                  kind,
                  target: route.region === this.region ? 'local' : 'remote',
                  region: route.region,
                  reason: route.reason,
                }),
              statementDone: (kind, region, seconds) => {
                this.metrics.statementSeconds.observe(
                  { protocol: 'cql', kind, target: region === this.region ? 'local' : 'remote' },
                  seconds,
                )
                if (kind === 'write') this.metrics.dbWrites.inc({ protocol: 'cql', region })
              },
              backendError: (region, kind) => this.metrics.backendErrors.inc({ protocol: 'cql', region, kind }),
              staleRead: (region) => this.metrics.staleReads.inc({ protocol: 'cql', region }),
              lwtNotApplied: () => this.metrics.conflicts.inc({ protocol: 'cql', kind: 'lwt_not_applied' }),
            },
          },
          (ended) => this.sessions.delete(ended),
        )
        this.sessions.add(session)
      },
    })
  }

  async stopAccepting(): Promise<void> {
    this.server?.close()
    this.server = null
  }

  activeSessions(): number {
    return [...this.sessions].filter((s) => s.busy).length
  }

  /** /status: each DC's coordinator as this Grey sees it, and the CQL partition queue. */
  status(): Record<string, unknown> {
    const queue = this.partitionQueue
    const store = this.config.partition.queue.store
    return {
      cql_partition_queue: queue ? { store, depth: queue.depth } : { store },
      cassandra: Object.fromEntries(
        [...this.pools].map(([region, pool]) => [
          region,
          { datacenter: pool.node.datacenter, healthy: pool.healthy, latencyMs: pool.latencyMs, error: pool.probeError },
        ]),
      ),
    }
  }

  async closeAll(reason: string): Promise<void> {
    this.stopped = true
    if (this.probeTimer) clearInterval(this.probeTimer)
    for (const s of this.sessions) s.close(reason)
    this.control?.close(null)
    for (const pool of this.pools.values()) pool.close()
    await this.partitionQueue?.stop()
  }

  private async authenticate(user: string, password: string, loopback: boolean): Promise<boolean> {
    const decision = chooseAuth(user, this.auth, loopback)
    if (decision.method === 'trust') return true
    const method = this.auth.users.get(user)
    if (!method || ('doomed' in decision && decision.doomed)) return false
    return verifyPlainPassword(method, user, password)
  }

  private route(
    info: CqlStatementInfo,
    consistency: number | null,
    serialConsistency: number | null,
    avoid: readonly string[],
    token: CausalityToken | null,
    home: string | null,
  ): CqlRoute {
    const healthy: Record<string, boolean> = {}
    for (const [name, pool] of this.pools) healthy[name] = pool.healthy && !avoid.includes(name)
    const dc = (region: string): CqlDatacenter => ({ region, datacenter: this.pools.get(region)?.node.datacenter ?? region })
    const tokenRegions =
      token === null || Object.keys(token.cql).length === 0
        ? []
        : tokenReadDcs(token, this.nearest, this.clock.now().wallMs, (from, to) => this.replicationWindowMs(from, to)).map(dc)
    return routeCql(info, consistency, serialConsistency, {
      tokenRegions,
      carriesToken: token !== null,
      home: home === null ? null : dc(home),
      sessionConsistency: this.config.routing.default_consistency,
      strongCqlConsistency: this.config.routing.strong_cql_consistency,
      local: dc(this.region),
      primary: dc(this.cluster().primaryRegion),
      nearest: this.nearest.map(dc),
      healthy,
    })
  }

  /**
   * How long a request answered by `from`'s DC may take to reach `to`'s DC. Cassandra reports no replication position,
   * so Grey bounds it by the slowest recent probe round trip to the DCs involved (a full round trip covers the one-way
   * trip replication takes; between two other DCs, the longer of the two) plus routing.cql_replication_margin. With no
   * measurement yet, twice the configured one-way latency, else a second.
   */
  private replicationWindowMs(from: string, to: string): number {
    if (from === to) return 0
    const roundTrip = (region: string): number => {
      if (region === this.region) return 0
      const measured = this.pools.get(region)?.recentMaxLatencyMs ?? null
      const configured = this.config.cluster.regions[this.region]?.latency_ms[region]
      return measured ?? (configured === undefined ? 1000 : 2 * configured)
    }
    return Math.max(roundTrip(from), roundTrip(to)) + this.config.routing.cql_replication_margin
  }

  /** routing.affinity: the home region of the row a statement names, over the regions that have Cassandra. */
  private affinityHome(info: CqlStatementInfo, query: string, bound: (marker: number) => string | null): string | null {
    const rules = this.config.routing.affinity
    if (rules.length === 0) return null
    const home = affinityHome(rules, [...this.pools.keys()], {
      table: info.table,
      keyspace: info.keyspace,
      hintKey: info.hints.key,
      query,
      bound,
    })
    if (home === null) return null
    this.log.debug({ key: home.key, home: home.region, rule: home.rule }, 'affinity: row has a home region')
    return home.region
  }

  /**
   * What a token records for a request `region`'s DC answered just now. A write: now; it reaches the other DCs within
   * their replication window. A read in another DC saw that DC's state when it ran there, which Cassandra had already
   * sent on to this Grey's DC: it arrives here about when the answer does, so the entry is set to expire
   * READ_APPLY_ALLOWANCE_MS from now here, instead of a whole window (which would keep a reading session in the other
   * DC for as long as it keeps reading).
   */
  private observedAt(region: string, kind: 'read' | 'write'): HlcTimestamp {
    const now = this.clock.now()
    if (kind === 'write' || region === this.region) return now
    return {
      wallMs: Math.max(0, Math.floor(now.wallMs + READ_APPLY_ALLOWANCE_MS - this.replicationWindowMs(region, this.region))),
      logical: 0,
    }
  }

  private async connection(region: string, version: CqlVersion, keyspace: string | null): Promise<CassandraConnection> {
    const pool = this.pools.get(region)
    if (!pool) throw new CassandraError(`grey: region ${region} has no Cassandra in cluster.regions`, CqlErrorCode.ServerError)
    return pool.acquire(version, keyspace)
  }

  private supportedOptions(): Map<string, string[]> {
    return new Map([
      ['CQL_VERSION', this.supported.get('CQL_VERSION') ?? ['3.4.7']],
      ['COMPRESSION', []],
      ['PROTOCOL_VERSIONS', ['3/v3', '4/v4']],
    ])
  }

  /** Why strong CQL requests are refused here (this region is cut off from the Raft majority), or null. */
  private writeFence(): string | null {
    const why = this.cutOff()
    if (why === null) return null
    return (
      `grey: ${this.region} is cut off from the Raft majority (${why}); strong requests (QUORUM in the primary DC, ` +
      'lightweight transactions, SERIAL reads) are refused here, so that they never split between two sides. ' +
      'LOCAL_* requests at eventual or session consistency are still served by the local DC. Retry once the region rejoins'
    )
  }

  private systemTable(table: 'local' | 'peers', response: CqlResponseFrame): ResponseMessage | null {
    const decoded = decodeResponse(response.header, response.body).message
    if (decoded.type !== 'RESULT' || decoded.kind !== 'Rows' || !this.identity) return null
    return table === 'local' ? rewriteSystemLocal(decoded, this.identity) : emptyPeers(decoded)
  }

  /** Polls the node that ran a DDL statement until it and its peers report one schema version. */
  private async awaitSchemaAgreement(connection: CassandraConnection): Promise<void> {
    const deadline = Date.now() + SCHEMA_AGREEMENT_TIMEOUT_MS
    while (Date.now() < deadline) {
      const versions = new Set<string>()
      for (const table of ['local', 'peers']) {
        const rows = await connection.call({
          type: 'QUERY',
          query: `SELECT schema_version FROM system.${table}`,
          parameters: { consistency: 1, skipMetadata: false },
        })
        if (rows.type === 'RESULT' && rows.kind === 'Rows') for (const row of rows.rows) if (row[0]) versions.add(row[0].toString('hex'))
      }
      if (versions.size <= 1) return
      await new Promise((r) => setTimeout(r, SCHEMA_AGREEMENT_POLL_MS))
    }
    this.log.warn({ node: connection.node.region }, 'no schema agreement within the timeout; answering anyway')
  }

  /** One connection to the local node that REGISTERs for schema changes and fans them out to clients. */
  private async keepControlConnection(): Promise<void> {
    let failures = 0
    while (!this.stopped) {
      try {
        const pool = this.pools.get(this.region)!
        const control = await CassandraConnection.connect(
          pool.node,
          { user: this.config.cluster.cassandra.user, password: this.config.cluster.cassandra.password },
          { version: 4, keyspace: null, timeoutMs: this.config.proxy.pool.connect_timeout },
        )
        if (this.stopped) {
          // closeAll ran while this connection was being opened.
          control.close(null)
          return
        }
        this.control = control
        this.supported = control.supported
        control.onEvent = (event) => {
          for (const s of this.sessions) s.deliverEvent('SCHEMA_CHANGE', event.frame)
        }
        await control.call({ type: 'REGISTER', events: ['SCHEMA_CHANGE'] })
        failures = 0
        await new Promise<void>((resolve) => (control.onClose = () => resolve()))
      } catch (err) {
        // Said once at warn; a Cassandra that stays away should not flood the log.
        this.log[failures++ === 0 ? 'warn' : 'debug']({ err: (err as Error).message }, 'CQL control connection failed; retrying')
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, CONTROL_RETRY_MS).unref())
    }
  }
}
