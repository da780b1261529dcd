// Where the Raft leader should live (ARCHITECTURE §8): not in the PostgreSQL primary's region. A fault that takes out
// that region — a partition, a power cut — is exactly the one that needs a failover; with the leader there too, the
// survivors must first elect a leader (an election timeout and two round trips) before they can decide. With the
// leader elsewhere they decide as soon as failover_after has passed, as after a kill of the primary alone. The new home:
// a voter heard recently, in a synchronous standby's region first (its Grey then runs the promotion next to the
// candidate), else in the nearest region (commits wait for the nearest voters). Pure.

export interface LeaderHomeMember {
  readonly id: string
  readonly nodeId: number
  readonly role: 'voter' | 'learner'
  readonly self: boolean
  readonly region: string | null
  /** How long ago this (leading) member last heard from it; null: never. */
  readonly lastContactAgoMs: number | null
}

export interface LeaderHomeInput {
  /** The PostgreSQL primary's region, as the cluster state names it. */
  readonly primaryRegion: string
  /** The Raft members as the leader sees them (itself included, `self`). */
  readonly members: readonly LeaderHomeMember[]
  /** Regions to prefer, in order: the synchronous standbys, whose Grey then also runs the promotion nearby. */
  readonly preferredRegions: readonly string[]
  /** Then the nearest (cluster.regions.<leader's region>.latency_ms): commits wait for the nearest voters. */
  readonly latencyMs: Readonly<Record<string, number>>
  /** A member counts as up when heard within this (the election timeout). */
  readonly upWithinMs: number
}

export type LeaderHome =
  | { readonly move: false; readonly reason: string }
  | { readonly move: true; readonly to: number; readonly member: string; readonly region: string; readonly reason: string }

export function chooseLeaderHome(input: LeaderHomeInput): LeaderHome {
  const self = input.members.find((m) => m.self)
  if (self === undefined || self.region !== input.primaryRegion) {
    return { move: false, reason: `the raft leader is outside the PostgreSQL primary's region (${input.primaryRegion})` }
  }
  const distance = (region: string): number => input.latencyMs[region] ?? Number.POSITIVE_INFINITY
  const rank = (region: string): number => {
    const i = input.preferredRegions.indexOf(region)
    return i === -1 ? input.preferredRegions.length : i
  }
  const candidates = input.members
    .filter(
      (m): m is LeaderHomeMember & { region: string } =>
        !m.self &&
        m.role === 'voter' &&
        m.region !== null &&
        m.region !== input.primaryRegion &&
        m.lastContactAgoMs !== null &&
        m.lastContactAgoMs <= input.upWithinMs,
    )
    .sort((a, b) => rank(a.region) - rank(b.region) || distance(a.region) - distance(b.region) || a.id.localeCompare(b.id))
  const to = candidates[0]
  if (to === undefined) {
    return { move: false, reason: `no voter outside ${input.primaryRegion} was heard within ${input.upWithinMs} ms` }
  }
  return {
    move: true,
    to: to.nodeId,
    member: to.id,
    region: to.region,
    reason: `the raft leader shares ${input.primaryRegion} with the PostgreSQL primary; losing that region would also cost an election`,
  }
}
