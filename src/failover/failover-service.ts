// The shell of PostgreSQL failover (ARCHITECTURE §8): every Grey checks the primary it routes to and reports to the
// Raft voters; the leader decides from the reports (decide-failover.ts), picks the standby (choose-promotion.ts),
// commits the new primary and epoch to the Raft log first, then promotes it. Every Grey routes writes by the log, and
// waits for the new primary to leave recovery before sending it any (src/pg/pg-front-end.ts).
import type { Logger } from 'pino'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { ClusterView } from '../consensus/cluster-view.js'
import type { RaftServer } from '../consensus/raft-server.js'
import type { Config } from '../config/config-schema.js'
import type { BackendCredentials, BackendNode } from '../pg/backend/backend-connection.js'
import { AdminConnection } from '../pg/backend/query-once.js'
import { parseLsn } from '../topology/lsn.js'
import { chooseLeaderHome } from './choose-leader-home.js'
import { choosePromotion, type StandbyState } from './choose-promotion.js'
import { decideFailover } from './decide-failover.js'
import { sqlLiteral } from '../routing/sql-literal.js'
import { decideLocalNode, repointConninfo } from './tend-local-node.js'
import { monotonicMs } from '../clock/monotonic-ms.js'

/** After a failed attempt (no candidate, a refused proposal), the leader tries again this much later. */
const RETRY_AFTER_MS = 2000
/** How often the leader decides while the primary is reported down (see #leadAgainSoon). */
const SUSPECT_LEAD_INTERVAL_MS = 25
const PROMOTE_TIMEOUT_S = 30
/** A leader in the primary's region hands its leadership over at most this often (a transfer that fails is retried). */
const PLACE_LEADER_EVERY_MS = 5000
/** The local node is looked after every this many checks (about a second at the default check_interval). */
const TEND_EVERY_TICKS = 4
/**
 * A fenced old primary's synchronous_standby_names: no standby has this name, so a commit that gets past
 * default_transaction_read_only waits for ever and is never acknowledged.
 */
const FENCE_STANDBY_NAME = 'grey_fenced'

export interface FailoverMetrics {
  readonly failovers: Counter<'cluster'>
  readonly seconds: Histogram<'cluster'>
}

export function createFailoverMetrics(registry: Registry): FailoverMetrics {
  const failovers = new Counter({
    name: 'grey_failover_total',
    help: 'PostgreSQL failovers this Grey ran as the Raft leader (a standby promoted).',
    labelNames: ['cluster'],
    registers: [registry],
  })
  return {
    failovers,
    seconds: new Histogram({
      name: 'grey_failover_duration_seconds',
      help: 'From the first report of the primary down to the standby promoted, for failovers this Grey ran.',
      labelNames: ['cluster'],
      buckets: [0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 20, 30],
      registers: [registry],
    }),
  }
}

/** What `grey cluster failover --to` gets back. */
export type SwitchoverOutcome =
  | {
      readonly ok: true
      readonly from: string
      readonly to: string
      readonly epoch: number
      readonly lsn: string
      readonly seconds: number
    }
  | { readonly ok: false; readonly status: 409 | 503; readonly error: string }

/** How long a switchover waits for transactions open on the old primary to end, and for the target to receive its WAL. */
const SWITCHOVER_DRAIN_MS = 3000
const SWITCHOVER_CATCH_UP_MS = 5000

export interface FailoverServiceOptions {
  readonly config: Config
  readonly raft: RaftServer
  readonly cluster: () => ClusterView
  readonly log: Logger
  readonly metrics: FailoverMetrics
}

export class FailoverService {
  readonly #options: FailoverServiceOptions
  readonly #credentials: BackendCredentials
  #timer: NodeJS.Timeout | null = null
  #leadTimer: NodeJS.Timeout | null = null
  #check: AdminConnection | null = null
  #checkedEpoch = -1
  #failingSinceMs: number | null = null
  #checkStartedMs: number | null = null
  #leading = false
  #retryAtMs = 0
  #stopped = false
  #ticks = 0
  #tending = false
  /** A connection to this region's own PostgreSQL node, for repointing or fencing it. */
  #local: AdminConnection | null = null
  #repointedEpoch = -1
  #fencedEpoch = -1
  /**
   * The leader's connections to the failover candidates, opened as soon as a member reports the primary down (before
   * failover_after has passed), so that deciding costs no login across the WAN. Keyed by region; for `#preparedEpoch`.
   */
  readonly #prepared = new Map<string, Promise<AdminConnection | null>>()
  #preparedEpoch = -1
  #placeLeaderAfterMs = 0

  constructor(options: FailoverServiceOptions) {
    this.#options = options
    const pg = options.config.cluster.postgres
    this.#credentials = { user: pg.user, password: pg.password ?? '', database: pg.database }
    // At 0 from the start, so that increase() sees the first failover.
    options.metrics.failovers.inc({ cluster: options.config.cluster.name }, 0)
  }

  start(): void {
    const interval = this.#options.config.failover.check_interval
    this.#timer = setInterval(() => this.#tick(), interval)
    this.#timer.unref()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#leadTimer) clearTimeout(this.#leadTimer)
    this.#check?.close()
    this.#local?.close()
    this.#dropPrepared()
  }

  #dropPrepared(): void {
    for (const pending of this.#prepared.values()) void pending.then((admin) => admin?.close())
    this.#prepared.clear()
  }

  /**
   * While all is well, a leader in the PostgreSQL primary's region hands its leadership to a voter elsewhere
   * (choose-leader-home.ts), at most once per PLACE_LEADER_EVERY_MS, so that losing that region costs no election.
   */
  #placeLeader(view: ClusterView, now: number): void {
    const { config, raft, log } = this.#options
    if (!config.failover.raft_leader_off_primary_region || now < this.#placeLeaderAfterMs) return
    const home = chooseLeaderHome({
      primaryRegion: view.pgPrimary.region,
      members: raft.status().members,
      preferredRegions: config.replication.postgres.synchronous_standbys,
      latencyMs: config.cluster.regions[config.proxy.region]?.latency_ms ?? {},
      upWithinMs: config.consensus.raft.election_timeout,
    })
    if (!home.move) return
    this.#placeLeaderAfterMs = now + PLACE_LEADER_EVERY_MS
    log.info({ to: home.member, toRegion: home.region, reason: home.reason }, 'handing the raft leadership over')
    void raft.transferLeadership(home.to).then((refused) => {
      if (refused !== null) log.warn({ to: home.member, refused }, 'the raft leadership was not handed over')
    })
  }

  /** Opens (once) connections to the synchronous standbys of `view`'s primary, kept for the decision. */
  #prepare(view: ClusterView): void {
    if (this.#preparedEpoch !== view.pgPrimary.epoch) {
      this.#dropPrepared()
      this.#preparedEpoch = view.pgPrimary.epoch
    }
    const { config } = this.#options
    for (const region of config.replication.postgres.synchronous_standbys) {
      const node = this.#node(region)
      if (region === view.pgPrimary.region || node === null || this.#prepared.has(region)) continue
      this.#prepared.set(
        region,
        this.#open(node, 'grey failover').catch(() => null),
      )
    }
  }

  /**
   * Every check_interval: start a check unless one is running, report what is known (a check running longer than
   * check_timeout counts as failed since it began, so a primary that holds connections open is seen down too), and
   * lead when this member leads.
   */
  #tick(): void {
    if (this.#stopped) return
    const now = monotonicMs()
    if (this.#checkStartedMs === null) {
      this.#checkStartedMs = now
      void this.#checkPrimary().finally(() => (this.#checkStartedMs = null))
    } else if (this.#failingSinceMs === null && now - this.#checkStartedMs > this.#options.config.failover.check_timeout) {
      this.#failingSinceMs = this.#checkStartedMs
    }
    const { pgPrimary } = this.#options.cluster()
    if (pgPrimary.epoch === this.#checkedEpoch) this.#report(pgPrimary.epoch, now)
    this.#maybeLead()
    if (this.#options.config.failover.enabled && ++this.#ticks % TEND_EVERY_TICKS === 0 && !this.#tending) {
      this.#tending = true
      void this.#tendLocalNode().finally(() => (this.#tending = false))
    }
  }

  #maybeLead(): void {
    if (this.#stopped || !this.#options.config.failover.enabled || !this.#options.raft.isLeader || this.#leading) return
    this.#leading = true
    void this.#lead().finally(() => (this.#leading = false))
  }

  /**
   * While a member reports the primary down, the leader decides again every SUSPECT_LEAD_INTERVAL_MS instead of at the
   * next check_interval tick: the failover then starts within that of failover_after, not up to a tick later.
   */
  #leadAgainSoon(): void {
    if (this.#leadTimer !== null || this.#stopped) return
    this.#leadTimer = setTimeout(() => {
      this.#leadTimer = null
      this.#maybeLead()
    }, SUSPECT_LEAD_INTERVAL_MS)
    this.#leadTimer.unref()
  }

  /**
   * This region's own PostgreSQL node after a failover: a standby is pointed at the new primary (primary_conninfo as
   * this Grey reaches it, + reload), and an old primary that is back is fenced. Each Grey looks after its own region's
   * node only: it is near it, and it reaches the new primary by the same path the node's WAL receiver will take.
   */
  async #tendLocalNode(): Promise<void> {
    const { config, log } = this.#options
    const region = config.proxy.region
    const node = this.#node(region)
    const view = this.#options.cluster()
    if (node === null || view.pgPrimary.region === region) return
    const timeoutMs = config.failover.check_timeout
    try {
      this.#local ??= await this.#open(node, 'grey failover: local node')
      const [recovery] = await this.#local.query('SELECT pg_is_in_recovery()::text', timeoutMs)
      const action = decideLocalNode({
        localRegion: region,
        primaryRegion: view.pgPrimary.region,
        epoch: view.pgPrimary.epoch,
        inRecovery: recovery === 'true',
        repointedEpoch: this.#repointedEpoch,
        fencedEpoch: this.#fencedEpoch,
      })
      if (action.kind === 'fence') {
        await this.#fence(this.#local, timeoutMs)
        this.#fencedEpoch = view.pgPrimary.epoch
        log.error(
          { node: region, primary: view.pgPrimary.region, epoch: view.pgPrimary.epoch, reason: action.reason },
          'old PostgreSQL primary fenced: default_transaction_read_only on, and its commits wait for a standby that does not exist; bring it back as a standby with pg_rewind',
        )
      } else if (action.kind === 'repoint' && (await this.#repoint(this.#local, view, timeoutMs))) {
        this.#repointedEpoch = view.pgPrimary.epoch
      }
    } catch (err) {
      this.#local?.close()
      this.#local = null
      log.debug({ node: region, err: (err as Error).message }, 'the local PostgreSQL node could not be looked after')
    }
  }

  /** Makes an old primary refuse writes: new transactions are read-only, and any commit waits for ever. */
  async #fence(admin: AdminConnection, timeoutMs: number): Promise<void> {
    await admin.query("ALTER SYSTEM SET default_transaction_read_only = 'on'", timeoutMs)
    await admin.query(`ALTER SYSTEM SET synchronous_standby_names = ${sqlLiteral(FENCE_STANDBY_NAME)}`, timeoutMs)
    await admin.query('SELECT pg_reload_conf()::text', timeoutMs)
  }

  /**
   * Points the local standby at the primary the log names: host and port of primary_conninfo become the address this
   * Grey reaches it at, everything else (the replication user, its password) stays. Its replication slot is kept when
   * the new primary has one of that name (the lab creates them on every standby), else streaming goes on without one
   * (WAL is then kept only as wal_keep_size allows), and the log says so. False when the new primary cannot be asked.
   */
  async #repoint(admin: AdminConnection, view: ClusterView, timeoutMs: number): Promise<boolean> {
    const { config, log } = this.#options
    const region = config.proxy.region
    const target = this.#node(view.pgPrimary.region)
    if (target === null) return false
    const [conninfo] = await admin.query("SELECT current_setting('primary_conninfo')", timeoutMs)
    const [slot] = await admin.query("SELECT current_setting('primary_slot_name')", timeoutMs)
    let slotName = slot ?? ''
    if (slotName !== '') {
      let has: string | null | undefined
      try {
        const probe = await this.#open(target, 'grey failover: repoint')
        try {
          ;[has] = await probe.query(`SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = ${sqlLiteral(slotName)}`, timeoutMs)
        } finally {
          probe.close()
        }
      } catch {
        return false
      }
      if (has === '0') {
        log.warn(
          { node: region, primary: view.pgPrimary.region, slot: slotName },
          'the new primary has no replication slot for this standby: it streams without one, and WAL it still needs is kept only as wal_keep_size allows',
        )
        slotName = ''
      }
    }
    const next = repointConninfo(conninfo ?? '', target.host, target.port)
    await admin.query(`ALTER SYSTEM SET primary_conninfo = ${sqlLiteral(next)}`, timeoutMs)
    await admin.query(`ALTER SYSTEM SET primary_slot_name = ${sqlLiteral(slotName)}`, timeoutMs)
    await admin.query('SELECT pg_reload_conf()::text', timeoutMs)
    log.warn(
      {
        node: region,
        primary: view.pgPrimary.region,
        epoch: view.pgPrimary.epoch,
        address: `${target.host}:${target.port}`,
        slot: slotName,
      },
      'standby repointed to the new primary',
    )
    return true
  }

  /** A connection of the failover's own to `node`; logging in may cross the WAN, so it gets pool.connect_timeout. */
  #open(node: BackendNode, applicationName: string): Promise<AdminConnection> {
    return AdminConnection.open(node, this.#credentials, { timeoutMs: this.#options.config.proxy.pool.connect_timeout, applicationName })
  }

  #node(region: string): BackendNode | null {
    const pg = this.#options.config.cluster.regions[region]?.databases.postgres
    return pg ? { region, host: pg.host, port: pg.port } : null
  }

  /** One check of the primary: SELECT 1 on a connection kept for it. */
  async #checkPrimary(): Promise<void> {
    const { pgPrimary } = this.#options.cluster()
    const { config } = this.#options
    if (pgPrimary.epoch !== this.#checkedEpoch) {
      // A new primary: a fresh connection and a fresh count.
      this.#check?.close()
      this.#check = null
      this.#failingSinceMs = null
      this.#checkedEpoch = pgPrimary.epoch
    }
    const node = this.#node(pgPrimary.region)
    if (!node) return
    const timeoutMs = config.failover.check_timeout
    try {
      // Connecting takes several round trips (start-up, SCRAM) and may cross the WAN: pool.connect_timeout. The check
      // itself, one round trip on the kept connection, gets failover.check_timeout.
      if (this.#check === null) {
        const check = await this.#open(node, 'grey failover check')
        check.onIdleLoss(() => this.#checkLost(check, pgPrimary.epoch))
        this.#check = check
      }
      await this.#check.query('SELECT 1', timeoutMs)
      if (this.#failingSinceMs !== null) this.#options.log.info({ primary: pgPrimary.region }, 'the PostgreSQL primary answers again')
      this.#failingSinceMs = null
    } catch (err) {
      this.#check?.close()
      this.#check = null
      if (this.#failingSinceMs === null) {
        // Down since the unanswered check began, as #tick counts a check overdue: a check that timed out would
        // otherwise start the count check_timeout late (its timer and the tick that sees it overdue race).
        this.#failingSinceMs = this.#checkStartedMs ?? monotonicMs()
        this.#options.log.warn({ primary: pgPrimary.region, err: (err as Error).message }, 'the PostgreSQL primary failed a check')
      }
    }
  }

  /**
   * The check connection broke between checks (a killed primary resets it at once): that counts as a failed check now,
   * reported at once, instead of at the next check up to check_interval later. A server that is back answers the next
   * check, which clears it.
   */
  #checkLost(check: AdminConnection, epoch: number): void {
    if (this.#check === check) this.#check = null
    check.close()
    if (this.#stopped || this.#failingSinceMs !== null || epoch !== this.#checkedEpoch) return
    const now = monotonicMs()
    this.#failingSinceMs = now
    this.#options.log.warn({ primary: this.#options.cluster().pgPrimary.region }, 'the PostgreSQL primary closed the check connection')
    this.#report(epoch, now)
    this.#maybeLead()
  }

  /** This Grey's view of the primary of `epoch`, sent to the Raft voters (not logged). */
  #report(epoch: number, now: number): void {
    this.#options.raft.reportPrimary({
      region: this.#options.config.proxy.region,
      epoch,
      downForMs: this.#failingSinceMs === null ? null : now - this.#failingSinceMs,
    })
  }

  /** The leader's part: decide from every member's latest report, and fail over when a majority of regions say so. */
  async #lead(): Promise<void> {
    const { config, raft, log } = this.#options
    const view = this.#options.cluster()
    const now = monotonicMs()
    if (now < this.#retryAtMs) return
    const reports = raft.primaryReports()
    const decision = decideFailover({
      reports,
      regions: Object.keys(config.cluster.regions),
      epoch: view.pgPrimary.epoch,
      nowMs: now,
      failoverAfterMs: config.failover.failover_after,
      reportTtlMs: 4 * config.failover.check_interval + config.failover.check_timeout,
    })
    if (!decision.failover) {
      const suspect = reports.some((r) => r.epoch === view.pgPrimary.epoch && r.downSinceMs !== null)
      if (suspect) {
        this.#prepare(view)
        this.#leadAgainSoon()
      } else {
        if (this.#prepared.size > 0) this.#dropPrepared()
        this.#placeLeader(view, now)
      }
      return
    }
    const firstDown = Math.min(
      ...reports.filter((r) => r.epoch === view.pgPrimary.epoch && r.downSinceMs !== null).map((r) => r.downSinceMs!),
    )
    log.warn({ primary: view.pgPrimary.region, epoch: view.pgPrimary.epoch, reason: decision.reason }, 'failover decided')
    // The synchronous standbys first: one of them is the candidate whenever one answers, and the asynchronous ones,
    // often further away, are asked only when none does and failover.allow_data_loss lets one of them stand in.
    const sync = new Set(config.replication.postgres.synchronous_standbys)
    let asked = await this.#standbys(view, (r) => sync.has(r))
    let choice = choosePromotion(
      asked.map((a) => a.state),
      false,
    )
    if (!choice.ok) {
      for (const a of asked) a.admin?.close()
      asked = await this.#standbys(view, () => true)
      choice = choosePromotion(
        asked.map((a) => a.state),
        config.failover.allow_data_loss,
      )
    }
    const standbys = asked.map((a) => a.state)
    const admin = choice.ok ? (asked.find((a) => a.state.region === choice.region)?.admin ?? null) : null
    for (const a of asked) if (a.admin !== admin) a.admin?.close()
    if (!choice.ok || admin === null) {
      log.error(
        { reason: choice.reason, standbys: standbys.map((s) => ({ ...s, replayLsn: s.replayLsn?.toString() ?? null })) },
        'no standby to promote',
      )
      this.#retryAtMs = now + RETRY_AFTER_MS
      return
    }
    try {
      if (choice.dataLoss) {
        log.error({ candidate: choice.region }, `PROMOTING AN ASYNCHRONOUS STANDBY: ${choice.reason}`)
      }
      // The candidate's synchronous_standby_names is set while the log commits (ALTER SYSTEM works in recovery, and a
      // standby ignores the setting): before it takes writes, so that no commit waits for a standby that is gone.
      const standbysSet = this.#setSynchronousStandbys(admin, choice.region)
      // The log first: from the moment the entry applies, no Grey routes writes to the old primary's epoch.
      const outcome = await raft.propose({
        type: 'set-pg-primary',
        cluster: view.name,
        region: choice.region,
        expectedEpoch: view.pgPrimary.epoch,
        predecessorDown: true,
      })
      await standbysSet
      if (outcome.status !== 'applied' || outcome.error !== null) {
        log.warn({ outcome }, 'the new primary was not committed; trying again')
        this.#retryAtMs = now + RETRY_AFTER_MS
        return
      }
      try {
        await admin.query(`SELECT pg_promote(true, ${PROMOTE_TIMEOUT_S})::text`, (PROMOTE_TIMEOUT_S + 5) * 1000)
      } catch (err) {
        // The log already names it: Greys keep waiting for it to leave recovery (failover.failover_hold), and the
        // operator sees this.
        log.error({ candidate: choice.region, err: (err as Error).message }, 'pg_promote failed on the new primary')
        return
      }
    } finally {
      admin.close()
    }
    const seconds = (monotonicMs() - firstDown) / 1000
    // The Greys are busy confirming the new primary and repointing standbys: the leadership stays put meanwhile.
    this.#placeLeaderAfterMs = monotonicMs() + PLACE_LEADER_EVERY_MS
    this.#options.metrics.failovers.inc({ cluster: view.name })
    this.#options.metrics.seconds.observe({ cluster: view.name }, seconds)
    log.warn(
      {
        from: view.pgPrimary.region,
        to: choice.region,
        epoch: view.pgPrimary.epoch + 1,
        lsn: choice.lsn.toString(),
        seconds,
        dataLoss: choice.dataLoss,
      },
      'failover done: standby promoted',
    )
  }

  /**
   * A planned switchover to `to` (`grey cluster failover --to`), with no error for clients: the log names the new
   * primary first, so every Grey stops sending new work to the old one and holds writes (failover.failover_hold) until
   * the new one leaves recovery; the old primary then turns read-only for new transactions, the transactions open on it
   * end (up to 3 s), the target receives every byte of WAL the old primary wrote (up to 5 s), and only then is it
   * promoted. The old primary is left fenced (its commits would wait for a standby that does not exist). Run by the
   * Grey the command reached; the log entry goes through the Raft leader.
   */
  async switchover(to: string): Promise<SwitchoverOutcome> {
    const { config, raft, log } = this.#options
    const view = this.#options.cluster()
    const from = view.pgPrimary.region
    const started = monotonicMs()
    if (to === from)
      return { ok: false, status: 409, error: `grey: ${to} is the PostgreSQL primary already (epoch ${view.pgPrimary.epoch})` }
    const [oldNode, targetNode] = [this.#node(from), this.#node(to)]
    if (oldNode === null || targetNode === null) {
      return { ok: false, status: 409, error: `grey: cluster.regions.${targetNode === null ? to : from} has no PostgreSQL database` }
    }
    const timeoutMs = config.failover.check_timeout
    let old: AdminConnection | null = null
    let target: AdminConnection | null = null
    try {
      try {
        ;[old, target] = await Promise.all([this.#open(oldNode, 'grey switchover'), this.#open(targetNode, 'grey switchover')])
      } catch (err) {
        return { ok: false, status: 503, error: `grey: the switchover needs both ${from} and ${to} reachable: ${(err as Error).message}` }
      }
      const [recovery] = await target.query('SELECT pg_is_in_recovery()::text', timeoutMs)
      if (recovery !== 'true')
        return { ok: false, status: 409, error: `grey: ${to} is not a standby (it is out of recovery); nothing changed` }
      const outcome = await raft.propose({ type: 'set-pg-primary', cluster: view.name, region: to, expectedEpoch: view.pgPrimary.epoch })
      if (outcome.status !== 'applied' || outcome.error !== null) {
        const why = 'error' in outcome && outcome.error !== null ? outcome.error : `the new primary was not committed (${outcome.status})`
        return { ok: false, status: 409, error: `grey: ${why.replace(/^grey: /, '')}; nothing changed` }
      }
      // Every member applies the entry at the leader's next heartbeat; until then a lagging one may still start work there.
      await sleep(2 * config.consensus.raft.heartbeat_interval)
      await old.query("ALTER SYSTEM SET default_transaction_read_only = 'on'", timeoutMs)
      await old.query('SELECT pg_reload_conf()::text', timeoutMs)
      const oldAdmin = old
      await waitFor(SWITCHOVER_DRAIN_MS, async () => {
        const [open] = await oldAdmin.query(
          'SELECT count(*)::text FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()',
          timeoutMs,
        )
        return open === '0'
      })
      const [lsnText] = await old.query('SELECT pg_current_wal_lsn()::text', timeoutMs)
      const lsn = parseLsn(lsnText) ?? 0n
      const targetAdmin = target
      const caughtUp = await waitFor(SWITCHOVER_CATCH_UP_MS, async () => {
        const [received] = await targetAdmin.query('SELECT pg_last_wal_receive_lsn()::text', timeoutMs)
        return (parseLsn(received) ?? 0n) >= lsn
      })
      if (!caughtUp)
        log.error({ from, to, lsn: lsnText }, "switchover: the new primary had not received all of the old primary's WAL; promoting anyway")
      await this.#setSynchronousStandbys(target, to)
      await target.query(`SELECT pg_promote(true, ${PROMOTE_TIMEOUT_S})::text`, (PROMOTE_TIMEOUT_S + 5) * 1000)
      await this.#fence(old, timeoutMs)
      const seconds = (monotonicMs() - started) / 1000
      log.warn(
        { from, to, epoch: view.pgPrimary.epoch + 1, lsn: lsnText, seconds },
        'switchover done: standby promoted, old primary fenced',
      )
      return { ok: true, from, to, epoch: view.pgPrimary.epoch + 1, lsn: lsnText ?? '', seconds }
    } catch (err) {
      log.error({ from, to, err: (err as Error).message }, 'switchover failed')
      return { ok: false, status: 503, error: `grey: the switchover from ${from} to ${to} failed: ${(err as Error).message}` }
    } finally {
      old?.close()
      target?.close()
    }
  }

  /**
   * The new primary inherited the old one's synchronous_standby_names, which names itself: its commits would wait for a
   * standby that does not exist. It now names the other configured synchronous standbys; with none left, commits are
   * acknowledged without a standby, and the log says that the next failover may lose them.
   */
  async #setSynchronousStandbys(admin: AdminConnection, promoted: string): Promise<void> {
    const { config, log } = this.#options
    const others = config.replication.postgres.synchronous_standbys.filter((r) => r !== promoted)
    const names = others.length === 0 ? '' : `FIRST 1 (${others.map((r) => `"${r.replaceAll('"', '""')}"`).join(', ')})`
    try {
      await admin.query(`ALTER SYSTEM SET synchronous_standby_names = ${sqlLiteral(names)}`, 5000)
      // A node fenced as an old primary and brought back as a standby keeps its read-only default: lifted here (a
      // no-op where it is not set, one round trip fewer than asking first).
      try {
        await admin.query('ALTER SYSTEM RESET default_transaction_read_only', 5000)
      } catch (err) {
        log.warn({ primary: promoted, err: (err as Error).message }, 'could not reset default_transaction_read_only on the new primary')
      }
      await admin.query('SELECT pg_reload_conf()::text', 5000)
      if (others.length === 0) {
        log.warn(
          { primary: promoted },
          'no synchronous standby is left: commits are acknowledged by the new primary alone until one is added back, and a failover before then may lose them',
        )
      }
    } catch (err) {
      log.error(
        { primary: promoted, err: (err as Error).message },
        'could not set synchronous_standby_names on the new primary; its commits may wait',
      )
    }
  }

  /**
   * Every other region's PostgreSQL: in recovery, and how far it has replayed (null where it did not answer), each
   * with the connection that asked, kept open for the promotion (connections across the WAN take several round trips).
   */
  async #standbys(
    view: ClusterView,
    which: (region: string) => boolean,
  ): Promise<{ state: StandbyState; admin: AdminConnection | null }[]> {
    const { config } = this.#options
    const sync = new Set(config.replication.postgres.synchronous_standbys)
    const regions = Object.keys(config.cluster.regions).filter((r) => r !== view.pgPrimary.region && this.#node(r) !== null && which(r))
    return Promise.all(
      regions.map(async (region) => {
        const prepared = this.#preparedEpoch === view.pgPrimary.epoch ? this.#prepared.get(region) : undefined
        this.#prepared.delete(region)
        let admin: AdminConnection | null = null
        try {
          admin = (await prepared) ?? (await this.#open(this.#node(region)!, 'grey failover'))
          const [row] = await admin.query(
            "SELECT pg_is_in_recovery()::text || ' ' || coalesce(pg_last_wal_replay_lsn()::text, '')",
            config.failover.check_timeout,
          )
          const [recovery, lsn] = (row ?? '').split(' ')
          return { state: { region, synchronous: sync.has(region), inRecovery: recovery === 'true', replayLsn: parseLsn(lsn) }, admin }
        } catch {
          admin?.close()
          return { state: { region, synchronous: sync.has(region), inRecovery: null, replayLsn: null }, admin: null }
        }
      }),
    )
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `done` every 20 ms until it is true (true) or `ms` pass (false). */
async function waitFor(ms: number, done: () => Promise<boolean>): Promise<boolean> {
  for (const deadline = monotonicMs() + ms; ; await sleep(20)) {
    if (await done()) return true
    if (monotonicMs() > deadline) return false
  }
}
