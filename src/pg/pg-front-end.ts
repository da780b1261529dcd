import type { Server } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { Logger } from 'pino'
import type { GreyMetrics } from '../admin/metrics.js'
import { listenForClients } from '../cli/client-listener.js'
import type { FrontEnd } from '../cli/front-end.js'
import { queryOnce } from './backend/query-once.js'
import { PrimaryConfirmer } from './backend/primary-confirmer.js'
import type { BackendCredentials } from './backend/backend-connection.js'
import type { Config } from '../config/config-schema.js'
import { clusterView, type ClusterView } from '../consensus/cluster-view.js'
import type { ClientAuthConfig, ClientAuthMethod } from './auth/auth-method.js'
import { AuthQuery } from './auth/auth-query.js'
import { makeScramVerifier, parseScramVerifier, ScramVerifierParseError } from './auth/scram-verifier.js'
import { HybridLogicalClock } from '../clock/hlc.js'
import { ReplicationMonitor } from '../topology/replication-monitor.js'
import { BackendPool } from './backend/backend-pool.js'
import * as msg from './protocol/backend-serializer.js'
import { PgSession, type PgNodes, type PgSessionObserver, type PgWriteQueue } from './pg-session.js'
import { FileQueueStore } from '../partition/file-queue-store.js'
import { PartitionQueue } from '../partition/partition-queue.js'
import { createPartitionQueueMetrics } from '../partition/partition-queue-metrics.js'
import { RedisQueueStore } from '../partition/redis-queue-store.js'
import { monotonicMs } from '../clock/monotonic-ms.js'
/** How often a write waiting for a failover looks at the cluster view and asks the new primary. */
const PRIMARY_WAIT_POLL_MS = 25
/** How long the question "has the new primary left recovery?" may take. */
const CONFIRM_TIMEOUT_MS = 1000
/** Connections kept to each failover candidate for that question: enough for one every poll across a 150 ms round trip. */
const CONFIRM_CONNECTIONS = 6
/** Connections kept open to each failover candidate, checked this often. */
const WARM_CONNECTIONS = 2
const WARM_EVERY_MS = 5000
/** How often the front end looks for a new primary in the cluster view (statements held by the old one end then). */
const EPOCH_WATCH_MS = 100

/** Client users of the config as authentication methods; a password becomes a SCRAM verifier once, here. */
export function clientAuthConfig(config: Config): ClientAuthConfig {
  const users = new Map<string, ClientAuthMethod>()
  for (const [name, u] of Object.entries(config.proxy.auth.users)) {
    if (u.trust) users.set(name, { method: 'trust' })
    else if (u.scram_verifier) {
      const verifier = parseScramVerifier(u.scram_verifier)
      if (verifier instanceof ScramVerifierParseError) throw new Error(`grey: proxy.auth.users.${name}.scram_verifier: ${verifier.message}`)
      users.set(name, { method: 'scram-sha-256', verifier })
    } else if (u.md5) users.set(name, { method: 'md5', md5Hash: u.md5 })
    else if (u.password !== undefined) users.set(name, { method: 'scram-sha-256', verifier: makeScramVerifier(u.password) })
  }
  const mockSecret = config.proxy.auth.mock_secret ?? `grey-mock-auth:${config.cluster.name}`
  return { users, mockAuthSecret: Buffer.from(mockSecret.padEnd(16, '.')) }
}

/** The PostgreSQL front end: listens, authenticates clients and routes their statements. */
export class PgFrontEnd implements FrontEnd {
  readonly name = 'pg'
  private server: Server | null = null
  private readonly sessions = new Set<PgSession>()
  /** One pool per PostgreSQL node used so far, by region: the PostgreSQL primary's and this region's to start with. */
  private readonly pools = new Map<string, BackendPool>()
  private readonly newPool: (region: string) => BackendPool
  private cluster: () => ClusterView
  private cutOff: () => string | null = () => null
  /** The highest failover epoch whose primary this Grey has seen out of recovery (epoch 0: the configured primary). */
  private confirmedEpoch = 0
  /** Asks a new primary whether it has left recovery, over connections kept to every failover candidate. */
  private readonly confirmer: PrimaryConfirmer
  private warmTimer: NodeJS.Timeout | null = null
  private epochTimer: NodeJS.Timeout | null = null
  /** The primary (and its epoch) this front end last saw named by the cluster view. */
  private watched: { region: string; epoch: number } | null = null
  private readonly credentials: BackendCredentials
  /** Replica lag and bans, polled while the front end runs. */
  readonly replication: ReplicationMonitor
  private readonly auth: ClientAuthConfig
  private readonly authQuery: AuthQuery | null
  private readonly tls: SecureContext | null
  private readonly observe: PgSessionObserver
  /** The durable write queue of a cut-off region (partition.queue); null when its store is none. */
  readonly partitionQueue: PartitionQueue | null
  private readonly writeQueue: PgWriteQueue | null

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    metrics: GreyMetrics,
    private readonly clock: HybridLogicalClock = new HybridLogicalClock({ maxOffsetMs: config.conflict_resolution.max_clock_offset }),
  ) {
    this.auth = clientAuthConfig(config)
    const tls = config.proxy.tls
    this.tls = tls ? createSecureContext({ cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file) }) : null
    const credentials = {
      user: config.cluster.postgres.user,
      password: config.cluster.postgres.password ?? '',
      database: config.cluster.postgres.database,
    }
    this.credentials = credentials
    this.confirmer = new PrimaryConfirmer({
      credentials,
      perCandidate: CONFIRM_CONNECTIONS,
      connectTimeoutMs: config.proxy.pool.connect_timeout,
      timeoutMs: CONFIRM_TIMEOUT_MS,
      outOfRecovery: (region, epoch, kept) => this.confirmed(region, epoch, kept),
    })
    const poolOptions = {
      maxConnections: config.proxy.pool.max_connections_per_node,
      acquireTimeoutMs: config.proxy.pool.acquire_timeout,
      connectTimeoutMs: config.proxy.pool.connect_timeout,
      applicationName: `grey ${config.proxy.instance_id}`,
    }
    this.newPool = (name) => {
      const pg = config.cluster.regions[name]?.databases.postgres
      if (!pg) throw new Error(`grey: cluster.regions.${name} has no postgres database`)
      const p = new BackendPool({ region: name, host: pg.host, port: pg.port }, credentials, poolOptions, log.child({ pool: name }))
      metrics.watchPool({ protocol: 'pg', node: name, active: () => p.active, max: () => p.max })
      return p
    }
    const configured = clusterView(config, null)
    this.cluster = () => configured
    const pgNodes = Object.entries(config.cluster.regions).flatMap(([name, r]) =>
      r.databases.postgres ? [{ region: name, host: r.databases.postgres.host, port: r.databases.postgres.port }] : [],
    )
    const lag = config.replication.postgres
    this.replication = new ReplicationMonitor({
      nodes: pgNodes,
      credentials,
      primary: () => this.cluster().pgPrimary.region,
      pollIntervalMs: lag.lag_poll_interval,
      connectTimeoutMs: config.proxy.pool.connect_timeout,
      maxLagCriticalMs: lag.max_lag_critical,
      registry: metrics.registry,
      log: log.child({ component: 'replication' }),
    })
    // The primary's and this region's pools exist from the start, so their gauges show before the first client.
    this.nodes()
    this.observe = {
      routed: (d, kind) => metrics.routing.inc({ protocol: 'pg', kind, target: d.target, region: d.region, reason: d.reason }),
      statementDone: (kind, target, seconds) => {
        metrics.statementSeconds.observe({ protocol: 'pg', kind, target }, seconds)
        if (kind === 'write') metrics.dbWrites.inc({ protocol: 'pg', region: this.cluster().pgPrimary.region })
      },
      staleRead: (region) => metrics.staleReads.inc({ protocol: 'pg', region }),
      backendError: (region, kind) => metrics.backendErrors.inc({ protocol: 'pg', region, kind }),
      conflict: (kind) => metrics.conflicts.inc({ protocol: 'pg', kind }),
      unconfirmedCommit: (region) => metrics.unconfirmedCommits.inc({ region }),
    }
    this.partitionQueue = this.newPartitionQueue(metrics)
    const queue = this.partitionQueue
    this.writeQueue = queue && { tables: new Set(config.partition.queue.tables), enqueue: (input) => queue.enqueue(input) }
    const query = config.proxy.auth.auth_query
    const primaryPg = config.cluster.regions[configured.pgPrimary.region]!.databases.postgres!
    this.authQuery = query
      ? new AuthQuery(query, {
          host: primaryPg.host,
          port: primaryPg.port,
          ...credentials,
          connectTimeoutMs: config.proxy.pool.connect_timeout,
        })
      : null
  }

  get address(): string | null {
    return this.config.proxy.listen.pg ?? null
  }

  async start(cluster: () => ClusterView, cutOff: () => string | null = () => null): Promise<void> {
    this.cluster = cluster
    this.cutOff = cutOff
    const listen = this.config.proxy.listen.pg
    if (!listen) return
    this.replication.start()
    if (this.config.failover.enabled) {
      const { pgPrimary } = this.cluster()
      this.watched = { region: pgPrimary.region, epoch: pgPrimary.epoch }
      this.epochTimer = setInterval(() => this.watchPrimary(), EPOCH_WATCH_MS)
      this.epochTimer.unref()
      this.warmCandidates()
      this.warmTimer = setInterval(() => this.warmCandidates(), WARM_EVERY_MS)
      this.warmTimer.unref()
    }
    await this.partitionQueue?.start()
    const limits = this.config.proxy.limits
    this.server = await listenForClients({
      address: listen,
      maxClients: limits.max_client_connections,
      clients: () => this.sessions.size,
      refusal: msg.errorResponse({
        severity: 'FATAL',
        code: '53300',
        message: `grey: sorry, too many clients already (proxy.limits.max_client_connections = ${limits.max_client_connections})`,
      }),
      log: this.log,
      accept: (socket) => {
        const session: PgSession = new PgSession(
          socket,
          {
            region: this.config.proxy.region,
            database: this.config.cluster.postgres.database,
            auth: this.auth,
            defaultConsistency: this.config.routing.default_consistency,
            maxStalenessMs: this.config.routing.max_staleness,
            sessionWaitMs: this.config.routing.session_wait,
            rules: () => this.cluster().rules.rules,
            clock: this.clock,
            noteReplicaApplied: (region, lsn) => this.replication.noteApplied(region, lsn),
            writingFunctions: this.config.routing.writing_functions,
            nodes: () => this.nodes(),
            awaitPrimary: (afterEpoch) => this.awaitPrimary(afterEpoch),
            writeFence: () => this.writeFence(),
            queue: this.writeQueue,
            tls: this.tls,
            log: this.log,
            limits: {
              maxMessageSize: limits.max_message_size,
              handshakeTimeoutMs: limits.handshake_timeout,
              clientIdleTimeoutMs: limits.client_idle_timeout,
            },
            poolMode: this.config.proxy.pool.mode,
            lookupUser: this.authQuery ? (user) => this.authQuery!.lookup(user) : null,
            observe: this.observe,
            findByKey: (pid, key) =>
              [...this.sessions].find((s) => s.processId === pid && key.length === 4 && timingSafeEqual(s.secretKey, key)),
          },
          (ended) => this.sessions.delete(ended),
        )
        this.sessions.add(session)
      },
    })
  }

  /** Closes the listener; open connections are the drain's business (server.close's callback would wait for them). */
  async stopAccepting(): Promise<void> {
    this.server?.close()
    this.server = null
  }

  status(): Record<string, unknown> {
    const queue = this.partitionQueue
    const store = this.config.partition.queue.store
    return { replication: this.replication.status(), partition_queue: queue ? { store, depth: queue.depth } : { store } }
  }

  /** The queue of partition.queue, on its store; its metrics are exported (at 0) either way. */
  private newPartitionQueue(metrics: GreyMetrics): PartitionQueue | null {
    const queueMetrics = createPartitionQueueMetrics(metrics.registry)
    const q = this.config.partition.queue
    if (q.store === 'none') return null
    const { region, instance_id: instanceId } = this.config.proxy
    // The config check makes sure a Redis store has a URL: its own or the region's.
    const store =
      q.store === 'redis'
        ? new RedisQueueStore(q.redis ?? this.config.cluster.regions[region]!.databases.redis!.url, instanceId)
        : new FileQueueStore(q.dir ?? `./data/${instanceId}/partition-queue`)
    return new PartitionQueue({
      store,
      region,
      instanceId,
      clock: this.clock,
      maxEntries: q.max_entries,
      replayIntervalMs: q.replay_interval,
      statementTimeoutMs: 10_000,
      isCutOff: () => this.cutOff() !== null,
      primary: () => {
        const primary = this.cluster().pgPrimary.region
        const pg = this.config.cluster.regions[primary]!.databases.postgres!
        return { region: primary, host: pg.host, port: pg.port }
      },
      credentials: this.credentials,
      metrics: queueMetrics,
      log: this.log.child({ component: 'partition-queue' }),
    })
  }

  activeSessions(): number {
    return [...this.sessions].filter((s) => s.busyWithBackend).length
  }

  /**
   * Where statements go now: the PostgreSQL primary the cluster view names (a failover decided through Raft moves
   * it), and this region's node as the local replica unless it is the primary.
   */
  private nodes(): PgNodes {
    const view = this.cluster()
    const primaryRegion = view.pgPrimary.region
    const region = this.config.proxy.region
    const hasLocal = this.config.cluster.regions[region]?.databases.postgres !== undefined
    const localReplica = hasLocal && region !== primaryRegion ? this.pool(region) : null
    const lag = localReplica ? this.replication.lag(region) : null
    return {
      primary: this.pool(primaryRegion),
      localReplica,
      replicaLag: {
        seconds: lag?.seconds ?? null,
        banned: localReplica !== null && this.replication.banned(region) !== null,
        appliedLsn: localReplica ? this.replication.appliedLsn(region) : null,
      },
      epoch: view.pgPrimary.epoch,
      staleBecause: localReplica ? this.staleBecause(region) : null,
    }
  }

  /** Why statements for the primary are refused here (this region is cut off from the Raft majority), or null. */
  private writeFence(): string | null {
    const why = this.cutOff()
    if (why === null) return null
    return (
      `grey: ${this.config.proxy.region} is cut off from the Raft majority (${why}); writes and strong reads are refused here, ` +
      'so that two primaries never take writes at once. Eventual, bounded and session reads are still served by the local ' +
      'standby, flagged stale. Retry once the region rejoins'
    )
  }

  /**
   * After a failover the Raft log names the new primary at once, but it takes writes only once pg_promote has brought
   * it out of recovery: until this Grey has seen that (one query, shared by every session), writes wait, up to
   * failover.failover_hold. With `afterEpoch`, also waits for a failover away from that epoch's primary.
   */
  private async awaitPrimary(afterEpoch: number | null): Promise<string | null> {
    const ready = (): boolean => {
      const { epoch } = this.cluster().pgPrimary
      return (afterEpoch === null || epoch > afterEpoch) && epoch <= this.confirmedEpoch
    }
    if (ready()) return null
    const holdMs = this.config.failover.failover_hold
    const deadline = monotonicMs() + holdMs
    while (monotonicMs() < deadline) {
      const { pgPrimary } = this.cluster()
      const node = this.config.cluster.regions[pgPrimary.region]?.databases.postgres
      if (node && (afterEpoch === null || pgPrimary.epoch > afterEpoch)) {
        this.confirmer.ask({ region: pgPrimary.region, host: node.host, port: node.port }, pgPrimary.epoch)
      }
      await new Promise((r) => setTimeout(r, PRIMARY_WAIT_POLL_MS))
      if (ready()) return null
    }
    // A question asked within the hold still counts when its answer comes after it (bounded by CONFIRM_TIMEOUT_MS).
    await this.confirmer.answered(this.cluster().pgPrimary.region)
    if (ready()) return null
    const { pgPrimary } = this.cluster()
    return afterEpoch !== null && pgPrimary.epoch <= afterEpoch
      ? `grey: no failover replaced the PostgreSQL primary in ${pgPrimary.region} within failover.failover_hold (${holdMs} ms); retry later`
      : `grey: the new PostgreSQL primary in ${pgPrimary.region} (failover epoch ${pgPrimary.epoch}) has not left recovery within failover.failover_hold (${holdMs} ms); retry later`
  }

  /** The confirmer's answer: the primary of `epoch` is out of recovery, so writes held for it go ahead. */
  private confirmed(region: string, epoch: number, kept: boolean): void {
    if (epoch <= this.confirmedEpoch) return
    this.confirmedEpoch = epoch
    this.log.info({ primary: region, epoch, kept }, 'the new PostgreSQL primary takes writes')
  }

  /** The stale flag's sentence for reads from this region's standby, or null while it keeps up. */
  private staleBecause(region: string): string | null {
    const lag = this.replication.lag(region)
    const warningMs = this.config.replication.postgres.max_lag_warning
    if (this.replication.primaryUnreachable()) {
      const since = lag === null ? '' : ` (its data is up to ${lag.seconds.toFixed(1)} s old)`
      return `grey: stale read: the ${region} standby served it while the PostgreSQL primary cannot be reached from here${since}`
    }
    if (lag !== null && (lag.atLeast || lag.seconds * 1000 > warningMs)) {
      return (
        `grey: stale read: the ${region} standby is ${lag.atLeast ? 'more than ' : ''}${lag.seconds.toFixed(1)} s behind the primary ` +
        `(replication.postgres.max_lag_warning is ${warningMs / 1000} s); ask for consistency=strong or a max_staleness to avoid it`
      )
    }
    return null
  }

  private pool(region: string): BackendPool {
    let pool = this.pools.get(region)
    if (!pool) {
      pool = this.newPool(region)
      this.pools.set(region, pool)
    }
    return pool
  }

  /**
   * The pools of the synchronous standbys (the failover candidates) keep WARM_CONNECTIONS open: once one is promoted,
   * the first writes reuse them instead of logging in across the WAN.
   */
  private warmCandidates(): void {
    const primary = this.cluster().pgPrimary.region
    for (const region of this.config.replication.postgres.synchronous_standbys) {
      const pg = this.config.cluster.regions[region]?.databases.postgres
      if (region === primary || !pg) continue
      this.pool(region).warm(WARM_CONNECTIONS)
      this.confirmer.keep({ region, host: pg.host, port: pg.port })
    }
  }

  /**
   * When the log replaces the primary, statements still held by the old one end at once if it does not answer (a
   * crashed, stopped or cut-off server): its sessions' connections are closed and their clients get 08006 with the
   * reason. After the leader's failover the log says so (predecessorDown: a majority saw it down); after any other
   * change this Grey asks it (SELECT 1 within check_timeout), and an old primary that answers (a planned switchover)
   * keeps them, so that they finish or drain.
   */
  private watchPrimary(): void {
    const { pgPrimary } = this.cluster()
    const old = this.watched
    if (old === null || pgPrimary.epoch <= old.epoch) return
    this.watched = { region: pgPrimary.region, epoch: pgPrimary.epoch }
    const node = this.config.cluster.regions[old.region]?.databases.postgres
    if (old.region === pgPrimary.region || !node) return
    const abandon = (): void => {
      const why =
        `the PostgreSQL primary ${old.region} was replaced by ${pgPrimary.region} (failover epoch ${pgPrimary.epoch}) and does not ` +
        'answer; whether a commit in flight there took effect is unknown: read it back before retrying'
      for (const session of this.sessions) session.abandonBackendOn(old.region, why)
    }
    // A failover: Greys in a majority of regions saw it down, which is answer enough.
    if (pgPrimary.predecessorDown === true) return abandon()
    void queryOnce({ region: old.region, host: node.host, port: node.port }, this.credentials, 'SELECT 1', {
      timeoutMs: this.config.failover.check_timeout,
      applicationName: 'grey failover',
    }).then(() => undefined, abandon)
  }

  async closeAll(reason: string): Promise<void> {
    if (this.warmTimer) clearInterval(this.warmTimer)
    if (this.epochTimer) clearInterval(this.epochTimer)
    for (const s of this.sessions) s.close(reason)
    for (const pool of this.pools.values()) pool.close()
    this.confirmer.close()
    await this.replication.stop()
    await this.partitionQueue?.stop()
    await this.authQuery?.close()
  }
}
