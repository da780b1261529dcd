// The shell around replica-lag.ts: polls the PostgreSQL primary's WAL position and every standby's replay position
// at replication.postgres.lag_poll_interval, one short query per node per poll over a server connection of its own
// (Grey's backend connection, closed at once on any trouble), and keeps each standby's lag and ban for routing,
// /status and metrics.
import type { Logger } from 'pino'
import { AdminConnection } from '../pg/backend/query-once.js'
import { Gauge, type Registry } from 'prom-client'
import { formatLsn, parseLsn } from './lsn.js'
import { FAILURES_TO_BAN, replicaBans, type BanReason, type ReplicaHealth } from './replica-bans.js'
import { lagWhilePrimaryUnseen, LsnHistory, replicaLag, type ReplicaLag } from './replica-lag.js'

export interface MonitoredNode {
  readonly region: string
  readonly host: string
  readonly port: number
}

export interface ReplicationMonitorOptions {
  readonly nodes: readonly MonitoredNode[]
  readonly credentials: { readonly user: string; readonly password: string; readonly database: string }
  /** The region whose PostgreSQL is the primary now (the cluster view's, moved by failover). */
  readonly primary: () => string
  readonly pollIntervalMs: number
  /** proxy.pool.connect_timeout: a remote primary takes several round trips to log in to. */
  readonly connectTimeoutMs: number
  readonly maxLagCriticalMs: number
  readonly registry: Registry
  readonly log: Logger
  readonly now?: () => number
}

export interface ReplicaStatus {
  readonly region: string
  readonly replayLsn: string | null
  readonly lagBytes: number | null
  readonly lagSeconds: number | null
  /** The lag is more than lagSeconds: the replica is behind everything the history remembers. */
  readonly lagAtLeast: boolean
  readonly banned: BanReason | null
  readonly error: string | null
}

export interface ReplicationStatus {
  readonly primary: { readonly region: string; readonly lsn: string | null; readonly error: string | null }
  readonly replicas: readonly ReplicaStatus[]
}

interface NodeState {
  client: AdminConnection | null
  lsn: bigint | null
  /** The highest replay position a session saw there since the last poll (it checks before serving a session read). */
  noted: bigint | null
  lag: ReplicaLag | null
  failures: number
  error: string | null
  /**
   * Whether its last answer showed it replaying WAL (a standby): false when it answered without a replay position
   * (out of recovery, like an old primary that came back), null before it has answered since the primary changed.
   */
  standby: boolean | null
}

export class ReplicationMonitor {
  readonly #options: ReplicationMonitorOptions
  readonly #now: () => number
  readonly #history: LsnHistory
  readonly #nodes = new Map<string, NodeState>()
  #historyOf: string | null = null
  /** The primary has changed since this monitor started (a failover): see banned(). */
  #primaryChanged = false
  #bans: ReadonlyMap<string, BanReason> = new Map()
  #timer: NodeJS.Timeout | null = null
  #polling: Promise<void> | null = null

  constructor(options: ReplicationMonitorOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    // Long enough that any lag below max_lag_critical is measured, not only bounded from below.
    this.#history = new LsnHistory(Math.max(2 * options.maxLagCriticalMs, 60_000))
    for (const node of options.nodes)
      this.#nodes.set(node.region, { client: null, lsn: null, noted: null, lag: null, failures: 0, error: null, standby: null })
    const replicas = (): ReplicaStatus[] => this.status().replicas.filter((r) => r.lagSeconds !== null)
    const source = (): string => options.primary()
    new Gauge({
      name: 'grey_replication_lag_seconds',
      help: 'How stale a read from each PostgreSQL standby can be, from WAL positions (an upper bound within one poll interval).',
      labelNames: ['source', 'target'],
      registers: [options.registry],
      collect() {
        this.reset()
        for (const r of replicas()) this.set({ source: source(), target: r.region }, r.lagSeconds!)
      },
    })
    new Gauge({
      name: 'grey_replication_lag_bytes',
      help: 'WAL bytes each PostgreSQL standby has still to replay.',
      labelNames: ['source', 'target'],
      registers: [options.registry],
      collect() {
        this.reset()
        for (const r of replicas()) this.set({ source: source(), target: r.region }, r.lagBytes!)
      },
    })
  }

  start(): void {
    if (this.#timer) return
    // A poll slower than the interval is not stacked on: the next tick after it ends starts the next.
    const tick = (): void => {
      this.#polling ??= this.poll().finally(() => (this.#polling = null))
    }
    tick()
    this.#timer = setInterval(tick, this.#options.pollIntervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.#polling?.catch(() => undefined)
    for (const n of this.#nodes.values()) {
      n.client?.close()
      n.client = null
    }
  }

  /** The replica's lag, or null when it is not known (not polled yet, or unreachable). */
  lag(region: string): ReplicaLag | null {
    return this.#nodes.get(region)?.lag ?? null
  }

  /** The highest position known to be replayed on this replica (the last poll or a session's own check). */
  appliedLsn(region: string): bigint | null {
    const n = this.#nodes.get(region)
    if (!n) return null
    if (n.lsn === null) return n.noted
    return n.noted === null || n.lsn > n.noted ? n.lsn : n.noted
  }

  /** A session found `lsn` replayed on `region`: later sessions need not ask again for anything up to it. */
  noteApplied(region: string, lsn: bigint): void {
    const n = this.#nodes.get(region)
    if (n && (n.noted === null || lsn > n.noted)) n.noted = lsn
  }

  /** The primary failed the last poll in a row of at least FAILURES_TO_BAN: this region may be cut off from it. */
  primaryUnreachable(): boolean {
    return (this.#nodes.get(this.#options.primary())?.failures ?? 0) >= FAILURES_TO_BAN
  }

  /** Why reads must avoid this replica now, or null. */
  banned(region: string): BanReason | null {
    const n = this.#nodes.get(region)
    // Never lifted like the others: reads from a node that is not replaying the primary's WAL could see anything.
    if (n?.standby === false) return 'not a standby'
    // The primary changed and no poll has looked since (one may be stuck on a node that does not answer): no node
    // has been seen replaying from the new primary yet.
    const unpolled = this.#historyOf !== null && this.#options.primary() !== this.#historyOf
    if ((this.#primaryChanged || unpolled) && (n?.standby !== true || unpolled)) return 'not seen replaying from the new primary'
    return this.#bans.get(region) ?? null
  }

  /** One round: the primary first (its position and the time it was read), then every standby against it. */
  async poll(): Promise<void> {
    const primary = this.#options.primary()
    if (this.#historyOf !== primary) {
      // A new primary is a new timeline: positions from the old one do not compare.
      this.#history.clear()
      for (const n of this.#nodes.values()) {
        n.noted = null
        n.standby = null
      }
      // The first primary is the configured one; after a failover, a node serves reads only once seen replaying.
      this.#primaryChanged = this.#historyOf !== null
      this.#historyOf = primary
    }
    const primaryLsn = await this.#read(primary, 'SELECT pg_current_wal_lsn()::text AS lsn')
    if (primaryLsn !== null) this.#history.record(primaryLsn, this.#now())
    const standbys = [...this.#nodes.keys()].filter((r) => r !== primary)
    await Promise.all(
      standbys.map(async (region) => {
        const replay = await this.#read(region, 'SELECT pg_last_wal_replay_lsn()::text AS lsn')
        const state = this.#nodes.get(region)!
        const lag = replay === null ? null : replicaLag(this.#history, replay, this.#now())
        state.lag = lag !== null && primaryLsn === null ? lagWhilePrimaryUnseen(lag, this.#history, this.#now()) : lag
      }),
    )
    const health: ReplicaHealth[] = standbys.map((region) => ({ region, ...this.#nodes.get(region)! }))
    const bans = replicaBans(health, this.#options.maxLagCriticalMs)
    for (const [region, reason] of bans) {
      if (this.#bans.get(region) !== reason) this.#options.log.warn({ replica: region, reason }, 'replica banned for reads')
    }
    for (const region of this.#bans.keys()) {
      if (!bans.has(region)) this.#options.log.info({ replica: region }, 'replica ban lifted')
    }
    this.#bans = bans
  }

  status(): ReplicationStatus {
    const primary = this.#options.primary()
    const p = this.#nodes.get(primary)
    return {
      primary: { region: primary, lsn: p?.lsn == null ? null : formatLsn(p.lsn), error: p?.error ?? null },
      replicas: [...this.#nodes.entries()]
        .filter(([region]) => region !== primary)
        .map(([region, n]) => ({
          region,
          replayLsn: n.lsn === null ? null : formatLsn(n.lsn),
          lagBytes: n.lag === null ? null : Number(n.lag.bytes),
          lagSeconds: n.lag?.seconds ?? null,
          lagAtLeast: n.lag?.atLeast ?? false,
          banned: this.banned(region),
          error: n.error,
        })),
    }
  }

  async #read(region: string, sql: string): Promise<bigint | null> {
    const state = this.#nodes.get(region)
    const node = this.#options.nodes.find((n) => n.region === region)
    if (!state || !node) return null
    try {
      state.client ??= await AdminConnection.open(node, this.#options.credentials, {
        timeoutMs: this.#options.connectTimeoutMs,
        applicationName: 'grey replication monitor',
      })
      // One position query: a poll interval, or a second when the interval is shorter than a cross-region round trip.
      const [lsn] = await state.client.query(sql, Math.max(this.#options.pollIntervalMs, 1000))
      state.lsn = parseLsn(lsn)
      if (region !== this.#options.primary()) state.standby = state.lsn !== null
      state.failures = 0
      state.error = state.lsn === null ? `grey: ${region} reports no WAL position (${sql})` : null
    } catch (err) {
      state.failures++
      state.error = `grey: polling PostgreSQL in ${region} failed: ${(err as Error).message}`
      state.lsn = null
      if (state.failures === 1) this.#options.log.warn({ node: region, err: (err as Error).message }, 'replication poll failed')
      state.client?.close()
      state.client = null
    }
    return state.lsn
  }
}
