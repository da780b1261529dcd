import type { ConsistencyLevel } from '../config/config-schema.js'
import type { SqlClassification } from './sql-classifier.js'

export interface PgNodeView {
  /** The region whose PostgreSQL this is. */
  region: string
  healthy: boolean
}

export interface PgRouteInput {
  classification: Pick<SqlClassification, 'access' | 'reason' | 'hints'>
  /** The session's level (SET grey.consistency, startup option), or the configured default. */
  sessionConsistency: ConsistencyLevel
  /** The transaction was opened READ ONLY (held-back BEGIN READ ONLY / SET TRANSACTION READ ONLY). */
  readOnlyTransaction: boolean
  primary: PgNodeView
  /** This region's standby, if it has one. */
  localReplica: PgNodeView | null
}

export interface PgRouteDecision {
  target: 'primary' | 'replica'
  region: string
  /** Bounded set of reasons: the label of grey_query_routing_total and the debug log's words. */
  reason: PgRouteReason
}

export type PgRouteReason =
  | 'write'
  | 'hint route=primary'
  | 'consistency strong'
  | 'read on local replica'
  | 'read-only transaction on local replica'
  | 'local replica unhealthy'
  | 'no local replica'

/**
 * Where a statement (or a held-back transaction's first statement) goes, first version: writes and
 * strong reads to the primary; other reads to the local standby when it is healthy, else the primary.
 * Lag, session tokens and staleness bounds join with the consistency issue.
 */
export function decidePgRoute(input: PgRouteInput): PgRouteDecision {
  const { classification, primary, localReplica } = input
  const toPrimary = (reason: PgRouteReason): PgRouteDecision => ({ target: 'primary', region: primary.region, reason })
  const consistency =
    classification.hints.consistency ?? (classification.hints.maxStalenessMs !== undefined ? 'bounded' : input.sessionConsistency)
  if (classification.access === 'write' && !input.readOnlyTransaction) return toPrimary('write')
  if (classification.hints.route === 'primary') return toPrimary('hint route=primary')
  if (consistency === 'strong') return toPrimary('consistency strong')
  if (localReplica === null) return toPrimary('no local replica')
  if (!localReplica.healthy) return toPrimary('local replica unhealthy')
  const reason = input.readOnlyTransaction ? 'read-only transaction on local replica' : 'read on local replica'
  return { target: 'replica', region: localReplica.region, reason }
}
