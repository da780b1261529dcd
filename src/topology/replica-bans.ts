// Which replicas reads must avoid. The primary is never banned; when every replica would be, none is, so that
// reads spread again instead of all landing on the primary (pgbouncer-style ban lifting).
import type { ReplicaLag } from './replica-lag.js'

export interface ReplicaHealth {
  readonly region: string
  /** Null until both the primary and this replica have answered a poll. */
  readonly lag: ReplicaLag | null
  /** Polls failed in a row. */
  readonly failures: number
}

/** `not a standby`: it answers without a replay position (an old primary back after a failover); `not seen replaying
 * from the new primary`: after a failover, until its first answer as a standby. Both are the replication monitor's. */
export type BanReason = 'unreachable' | 'lag beyond max_lag_critical' | 'not a standby' | 'not seen replaying from the new primary'

/** Polls that must fail in a row before a replica is banned: one lost poll is not an outage. */
export const FAILURES_TO_BAN = 3

export function replicaBans(replicas: readonly ReplicaHealth[], maxLagCriticalMs: number): ReadonlyMap<string, BanReason> {
  const bans = new Map<string, BanReason>()
  for (const r of replicas) {
    if (r.failures >= FAILURES_TO_BAN) bans.set(r.region, 'unreachable')
    else if (r.lag !== null && (r.lag.seconds * 1000 > maxLagCriticalMs || r.lag.atLeast)) bans.set(r.region, 'lag beyond max_lag_critical')
  }
  return replicas.length > 0 && bans.size === replicas.length ? new Map() : bans
}
