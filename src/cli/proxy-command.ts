import type { Logger } from 'pino'
import { startAdminServer, type AdminServer } from '../admin/admin-server.js'
import { createMetrics, type GreyMetrics } from '../admin/metrics.js'
import { CqlFrontEnd } from '../cql/cql-front-end.js'
import { PgFrontEnd } from '../pg/pg-front-end.js'
import { loadConfig } from '../config/load-config.js'
import { hostPort } from '../config/host-port.js'
import type { Config } from '../config/config-schema.js'
import { HybridLogicalClock } from '../clock/hlc.js'
import { createFailoverMetrics, FailoverService } from '../failover/failover-service.js'
import { clusterRoutes, clusterStatus } from '../admin/cluster-routes.js'
import { clusterViewSource } from '../consensus/cluster-view.js'
import { createRaftMetrics } from '../consensus/raft-metrics.js'
import { RaftServer, raftServerOptionsFromConfig } from '../consensus/raft-server.js'
import { drainFrontEnds } from './drain.js'
import type { FrontEnd } from './front-end.js'
import { createLogger } from './logger.js'
import { GREY_VERSION } from './version.js'

export interface RunningProxy {
  readonly admin: AdminServer
  /** This Grey's Raft member; null when consensus.raft.peers is empty. */
  readonly raft: RaftServer | null
  /** Stop accepting, drain up to proxy.drain_timeout, close the admin port. */
  shutdown(signal: string): Promise<void>
}

/**
 * The process shell of `grey proxy`: logging, metrics, the Raft member, admin HTTP and the protocol front ends.
 * The PostgreSQL and CQL front ends plug in through `FrontEnd` as they are built. `clock` is the process's HLC,
 * shared with the front ends, merged from every Raft message.
 */
export async function startProxy(
  config: Config,
  log: Logger,
  frontEnds: FrontEnd[] = [],
  metrics: GreyMetrics = createMetrics({ region: config.proxy.region, instance: config.proxy.instance_id, version: GREY_VERSION }),
  clock: HybridLogicalClock = new HybridLogicalClock({ maxOffsetMs: config.conflict_resolution.max_clock_offset }),
): Promise<RunningProxy> {
  const startedAt = new Date()
  let draining = false
  // A Grey listed in consensus.raft.peers is a voter; one that lists peers but not itself follows as a learner.
  const raft =
    config.consensus.raft.peers.length === 0
      ? null
      : await RaftServer.start(
          raftServerOptionsFromConfig(config.consensus.raft, {
            clock,
            log: log.child({ component: 'raft' }),
            metrics: createRaftMetrics(metrics.registry),
            region: config.proxy.region,
          }),
        )
  const cluster = clusterViewSource(config, () => raft?.state ?? null)
  // Fencing exists so that a cut-off region stops writing before the majority promotes another primary; with
  // failover off nobody promotes, and refusing writes would only make the partition worse.
  const cutOff = (): string | null => (config.failover.enabled ? (raft?.cutOff() ?? null) : null)
  for (const frontEnd of frontEnds) await frontEnd.start(cluster, cutOff)
  // Failover needs the Raft log (to decide once, for everyone) and a PostgreSQL to watch.
  const hasPostgres = Object.values(config.cluster.regions).some((r) => r.databases.postgres !== undefined)
  const failover =
    raft && hasPostgres
      ? new FailoverService({
          config,
          raft,
          cluster,
          log: log.child({ component: 'failover' }),
          metrics: createFailoverMetrics(metrics.registry),
        })
      : null
  failover?.start()
  const adminAddress = hostPort(config.admin.listen)
  const admin = await startAdminServer({
    host: adminAddress.host,
    port: adminAddress.port,
    token: config.admin.token,
    registry: metrics.registry,
    log: log.child({ component: 'admin' }),
    isReady: () => !draining,
    status: () => ({
      region: config.proxy.region,
      instance_id: config.proxy.instance_id,
      version: GREY_VERSION,
      started_at: startedAt.toISOString(),
      uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
      draining,
      front_ends: Object.fromEntries(frontEnds.map((f) => [f.name, { address: f.address, sessions: f.activeSessions() }])),
      cluster: clusterStatus(config, raft),
      raft: raft?.status() ?? null,
      ...Object.assign({}, ...frontEnds.map((f) => f.status?.() ?? {})),
    }),
    routes: clusterRoutes(config, raft, failover),
  })
  log.info({ admin: admin.address, version: GREY_VERSION, frontEnds: frontEnds.map((f) => f.name) }, 'grey proxy started')
  return {
    admin,
    raft,
    async shutdown(signal) {
      if (draining) return
      draining = true
      log.info({ signal, drainTimeoutMs: config.proxy.drain_timeout }, 'draining: no new connections')
      const result = await drainFrontEnds(frontEnds, config.proxy.drain_timeout)
      log.info(result, result.drained ? 'drained' : 'drain timeout ran out; closed the remaining sessions')
      // Idle sessions and pooled server connections go too (drainFrontEnds closed them only on timeout).
      if (result.drained) await Promise.all(frontEnds.map((f) => f.closeAll('grey: shutting down')))
      failover?.stop()
      await raft?.stop()
      await admin.close()
    },
  }
}

/** `grey proxy --config FILE`: runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function proxyCommand(configPath: string): Promise<void> {
  const config = loadConfig(configPath, process.env)
  const log = createLogger(config.proxy.log_level, { region: config.proxy.region, instance: config.proxy.instance_id })
  const metrics = createMetrics({ region: config.proxy.region, instance: config.proxy.instance_id, version: GREY_VERSION })
  const clock = new HybridLogicalClock({ maxOffsetMs: config.conflict_resolution.max_clock_offset })
  const frontEnds: FrontEnd[] = []
  if (config.proxy.listen.pg) frontEnds.push(new PgFrontEnd(config, log.child({ component: 'pg' }), metrics, clock))
  if (config.proxy.listen.cql) frontEnds.push(new CqlFrontEnd(config, log.child({ component: 'cql' }), metrics, clock))
  const proxy = await startProxy(config, log, frontEnds, metrics, clock)
  const stop = (signal: string): void => {
    proxy.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}
