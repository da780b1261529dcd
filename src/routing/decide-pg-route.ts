import type { ConsistencyLevel } from '../config/config-schema.js'
import type { SqlClassification } from './sql-classifier.js'
import type { GreyHints } from './grey-hints.js'

export interface PgNodeView {
  /** The region whose PostgreSQL this is. */
  region: string
  healthy: boolean
}

export interface PgReplicaView extends PgNodeView {
  /** How stale a read from it can be (replication monitor), null while unknown. */
  lagSeconds: number | null
  /** Reads avoid it: unreachable for several polls, or lagging beyond max_lag_critical. */
  banned: boolean
  /** The highest replay position known to be applied there (the monitor's poll or a session's check), null if none. */
  appliedLsn: bigint | null
}

export interface PgRouteInput {
  classification: Pick<SqlClassification, 'access' | 'reason' | 'hints'>
  /** The session's level (SET grey.consistency, startup option), or the configured default. */
  sessionConsistency: ConsistencyLevel
  /** The transaction was opened READ ONLY (held-back BEGIN READ ONLY / SET TRANSACTION READ ONLY). */
  readOnlyTransaction: boolean
  primary: PgNodeView
  /** This region's standby, if it has one. */
  localReplica: PgReplicaView | null
  /** routing.max_staleness: the bound of a bounded read without its own max_staleness hint. */
  maxStalenessMs: number
  /** The session's causality token merged with the statement's after= hint; null when there is nothing to wait for. */
  token: { readonly epoch: number; readonly lsn: bigint } | null
  /** The PostgreSQL failover epoch now. */
  epoch: number
}

export interface PgRouteDecision {
  target: 'primary' | 'replica'
  region: string
  /** Bounded set of reasons: the label of grey_query_routing_total and the debug log's words. */
  reason: PgRouteReason
  /**
   * Session reads only: the replica serves the read once it has replayed this position, waiting up to
   * routing.session_wait; otherwise `behind` says where the read goes instead.
   */
  waitFor?: { readonly lsn: bigint; readonly behind: PgRouteDecision }
}

export type PgRouteReason =
  | 'write'
  | 'hint route=primary'
  | 'consistency strong'
  | 'read on local replica'
  | 'read-only transaction on local replica'
  | 'local replica unhealthy'
  | 'local replica banned'
  | 'no local replica'
  | 'bounded read on local replica'
  | 'replica lag unknown'
  | 'replica beyond max_staleness'
  | 'replica has the session token'
  | 'replica caught up with the session token'
  | 'replica behind the session token'
  | 'token from another epoch'

/**
 * Where a statement (or a held-back transaction's first statement) goes: writes and strong reads to the primary;
 * bounded reads to the local standby when its measured lag is inside the bound; other reads to the local standby
 * when it is healthy and not banned, else the primary. (Session tokens join with the consistency issue.)
 */
/**
 * The level a statement asks for: its consistency hint, else bounded for a max_staleness hint, session for a token
 * (after=), else the session's level (its SET, a routing rule, or the default).
 */
export function requestedPgConsistency(
  hints: Pick<GreyHints, 'consistency' | 'maxStalenessMs' | 'after'>,
  sessionConsistency: ConsistencyLevel,
): ConsistencyLevel {
  return hints.consistency ?? (hints.maxStalenessMs !== undefined ? 'bounded' : hints.after !== undefined ? 'session' : sessionConsistency)
}

export function decidePgRoute(input: PgRouteInput): PgRouteDecision {
  const { classification, primary, localReplica } = input
  const toPrimary = (reason: PgRouteReason): PgRouteDecision => ({ target: 'primary', region: primary.region, reason })
  const consistency = requestedPgConsistency(classification.hints, input.sessionConsistency)
  if (classification.access === 'write' && !input.readOnlyTransaction) return toPrimary('write')
  if (classification.hints.route === 'primary') return toPrimary('hint route=primary')
  if (consistency === 'strong') return toPrimary('consistency strong')
  if (localReplica === null) return toPrimary('no local replica')
  if (!localReplica.healthy) return toPrimary('local replica unhealthy')
  if (localReplica.banned) return toPrimary('local replica banned')
  if (consistency === 'bounded') {
    const boundMs = classification.hints.maxStalenessMs ?? input.maxStalenessMs
    if (localReplica.lagSeconds === null) return toPrimary('replica lag unknown')
    if (localReplica.lagSeconds * 1000 > boundMs) return toPrimary('replica beyond max_staleness')
    return { target: 'replica', region: localReplica.region, reason: 'bounded read on local replica' }
  }
  const token = input.token
  if (consistency === 'session' && token !== null && token.lsn > 0n) {
    if (token.epoch !== input.epoch) return toPrimary('token from another epoch')
    if (localReplica.appliedLsn !== null && localReplica.appliedLsn >= token.lsn)
      return { target: 'replica', region: localReplica.region, reason: 'replica has the session token' }
    return {
      target: 'replica',
      region: localReplica.region,
      reason: 'replica caught up with the session token',
      waitFor: { lsn: token.lsn, behind: toPrimary('replica behind the session token') },
    }
  }
  const reason = input.readOnlyTransaction ? 'read-only transaction on local replica' : 'read on local replica'
  return { target: 'replica', region: localReplica.region, reason }
}
