// Whether the Raft leader should fail the PostgreSQL primary over (ARCHITECTURE §8): only when Greys in a majority of
// regions see it down, each for at least failover_after. Health reports are not logged; the leader keeps the latest one
// per member in memory and decides from them. Pure.

/** What one Grey last said about the primary it routes to. */
export interface PrimaryReport {
  /** The reporting Grey (its Raft member name). */
  readonly member: string
  readonly region: string
  /** The failover epoch of the primary it checks: a report about an older primary says nothing about the current one. */
  readonly epoch: number
  /** Since when (leader's clock, ms) its checks have failed without a success in between; null when the last succeeded. */
  readonly downSinceMs: number | null
  /** When the leader received it. */
  readonly receivedAtMs: number
}

export interface FailoverInput {
  readonly reports: readonly PrimaryReport[]
  /** Every region of the cluster: the majority is of these, whether or not their Greys report. */
  readonly regions: readonly string[]
  readonly epoch: number
  readonly nowMs: number
  readonly failoverAfterMs: number
  /** Reports older than this are ignored: a Grey that stopped reporting no longer counts either way. */
  readonly reportTtlMs: number
}

export type FailoverDecision =
  | { readonly failover: true; readonly regions: readonly string[]; readonly reason: string }
  | { readonly failover: false; readonly reason: string }

/**
 * A region sees the primary down when it has fresh reports of the current epoch and every one of them says down for at
 * least failover_after (one Grey in the region that still reaches the primary vetoes: it may be a network fault nearer
 * the others). The leader fails over when more than half of all regions see it so. A Grey that loses its own network
 * is one region at most, and its reports stop reaching the leader anyway.
 */
export function decideFailover(input: FailoverInput): FailoverDecision {
  const fresh = input.reports.filter((r) => r.epoch === input.epoch && input.nowMs - r.receivedAtMs <= input.reportTtlMs)
  const down: string[] = []
  for (const region of input.regions) {
    const here = fresh.filter((r) => r.region === region)
    if (here.length > 0 && here.every((r) => r.downSinceMs !== null && input.nowMs - r.downSinceMs >= input.failoverAfterMs)) {
      down.push(region)
    }
  }
  const needed = Math.floor(input.regions.length / 2) + 1
  if (down.length >= needed) {
    return { failover: true, regions: down, reason: `the primary is down for ${input.failoverAfterMs} ms as seen from ${down.join(', ')}` }
  }
  const seen = down.length === 0 ? 'no region' : down.join(', ')
  return { failover: false, reason: `${seen} sees the primary down long enough; ${needed} of ${input.regions.length} regions must` }
}
