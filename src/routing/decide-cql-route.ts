import type { Config, ConsistencyLevel } from '../config/config-schema.js'
import type { CqlClassification } from './classify-cql.js'
import { CqlConsistency, grayLevelOfCql, isSerialConsistency } from './cql-consistency.js'

/** routing.strong_cql_consistency: where strong requests meet. */
export type StrongCqlConsistency = Config['routing']['strong_cql_consistency']

/** A region's Cassandra datacenter (cluster.regions.<region>.databases.cassandra.datacenter). */
export interface CqlDatacenter {
  readonly region: string
  readonly datacenter: string
}

export interface CqlRouteInput {
  readonly classification: Pick<CqlClassification, 'access' | 'hints' | 'lightweightTransaction' | 'systemTable'>
  /** The frame's [consistency]; null for a request that carries none (PREPARE). */
  readonly consistency: number | null
  /** The frame's serial consistency (flag 0x10); null when absent, and Cassandra then uses SERIAL. */
  readonly serialConsistency: number | null
  /** The level when neither a hint nor the frame gives one (no level, an unknown code): the session's, else routing.default_consistency. */
  readonly sessionConsistency: ConsistencyLevel
  readonly strongCqlConsistency: StrongCqlConsistency
  /** This Grey's region and its DC. */
  readonly local: CqlDatacenter
  /** The primary region (cluster.primary_region) and its DC. */
  readonly primary: CqlDatacenter
  /** The DCs to fall back on when the chosen one is unhealthy, nearest to this Grey first. */
  readonly nearest: readonly CqlDatacenter[]
  /** Region → its DC is healthy. A region left out counts as unhealthy. */
  readonly healthy: Readonly<Record<string, boolean>>
  /**
   * Where a session read must go to see what its causality token names (src/routing/token-read-dcs.ts): none, the local
   * DC; one, that DC; several, the DCs still replicating (read at ALL).
   */
  readonly tokenRegions?: readonly CqlDatacenter[]
  /**
   * The home DC of the row the request names (routing.affinity; src/routing/affinity-home.ts), or null. Writes of the
   * row and reads that need its latest value go there, so one DC orders all of its writes.
   */
  readonly home?: CqlDatacenter | null
  /** The request carries a causality token: like PostgreSQL's after= hint, it asks for session consistency at least. */
  readonly carriesToken?: boolean
}

/**
 * Why a request went where it went: the label of grey_query_routing_total and the debug log's words.
 *
 * - `system table answered by proxy`: SELECT from system.local/peers/peers_v2; no DC is asked (ARCHITECTURE §5).
 * - `lightweight transaction in primary dc`: a conditional write or batch, always in the primary region's DC.
 * - `serial consistency in primary dc`: a strong request at SERIAL or LOCAL_SERIAL (a linearizable read), likewise.
 * - `strong in primary dc`: strong, meeting at LOCAL_QUORUM in the primary region's DC.
 * - `strong quorum from local dc`: strong with strong_cql_consistency QUORUM, coordinated by the local DC.
 * - `bounded served as strong`: max_staleness asked; there is no lag bound between Cassandra DCs, so it is served as strong.
 * - `session in local dc`, `eventual in local dc`: the local DC at the frame's level, reads and writes alike.
 * - `session read in the token's dc`: the session's token names a request in one other DC that may not have been
 *   replicated to the local DC yet; the read goes to that DC, where it is visible.
 * - `session read at ALL for the token's dcs`: the token names recent requests in several other DCs; the read is sent at
 *   ALL from the local DC, which asks every replica and returns the newest cell.
 * - `hint route=primary`: `/* grey: route=primary *\/` moved a local request to the primary region's DC.
 * - `local dc unhealthy`, `primary dc unhealthy`: the DC chosen above is down; the nearest healthy DC serves instead
 *   (a session request there does not see writes still on their way from the local DC).
 * - `affinity: home dc`: an affinity rule gives the row a home region; its writes, and its reads at any level but
 *   eventual, go to that region's DC (strong ones at the meeting level, as in the primary DC).
 * - `home dc unhealthy`: the home DC is down; the nearest healthy DC serves instead.
 * - `token dc unhealthy`: the token's DC is down; the read is served by the local DC and flagged stale.
 * - `no healthy dc`: every DC is down; the request goes where it would have gone, to fail there with Cassandra's error.
 */
export type CqlRouteReason =
  | 'system table answered by proxy'
  | 'lightweight transaction in primary dc'
  | 'serial consistency in primary dc'
  | 'strong in primary dc'
  | 'strong quorum from local dc'
  | 'bounded served as strong'
  | 'session in local dc'
  | 'eventual in local dc'
  | "session read in the token's dc"
  | "session read at ALL for the token's dcs"
  | 'token dc unhealthy'
  | 'affinity: home dc'
  | 'home dc unhealthy'
  | 'hint route=primary'
  | 'local dc unhealthy'
  | 'primary dc unhealthy'
  | 'no healthy dc'

export interface CqlRouteDecision {
  /** `proxy`: Grey answers the request itself; region and datacenter are then its own. */
  readonly target: 'datacenter' | 'proxy'
  readonly region: string
  readonly datacenter: string
  /** The [consistency] to send: the frame's, or a stronger one for strong requests (compare to see whether it changed). */
  readonly consistency: number | null
  /** The serial consistency to send; LOCAL_SERIAL becomes SERIAL when a Paxos round leaves the primary DC. */
  readonly serialConsistency: number | null
  readonly reason: CqlRouteReason
  /**
   * Why the answer may be stale (the response then carries a warning, ARCHITECTURE §3), or null: a read served by a
   * region cut off from every other DC, or a session read whose token's DC could not be asked.
   */
  readonly stale: string | null
}

interface Plan {
  readonly role: 'local' | 'primary' | 'token' | 'home'
  readonly consistency: number | null
  readonly serialConsistency: number | null
  readonly reason: CqlRouteReason
  /** A Paxos round: LOCAL_SERIAL names the primary DC's Paxos group. */
  readonly paxos: boolean
  /** Meets other strong requests at LOCAL_QUORUM in the primary DC. */
  readonly meetsInPrimary: boolean
}

const { ALL, EACH_QUORUM, SERIAL, LOCAL_SERIAL } = CqlConsistency

/**
 * The level a strong request is sent at, so that it overlaps every other strong request: the meeting level
 * itself, or ALL and EACH_QUORUM, which hold a quorum of every DC. Weaker levels are raised. QUORUM is replaced
 * by LOCAL_QUORUM when strong requests meet in the primary DC: a quorum of the whole cluster need not hold a
 * quorum of that DC, so it would not overlap the LOCAL_QUORUM reads there.
 */
function strongLevel(code: number | null, meeting: StrongCqlConsistency): number | null {
  if (code === null || code === ALL || code === EACH_QUORUM) return code
  return CqlConsistency[meeting]
}

const globalSerial = (code: number | null): number | null => (code === LOCAL_SERIAL ? SERIAL : code)

function plan(
  role: Plan['role'],
  consistency: number | null,
  input: CqlRouteInput,
  reason: CqlRouteReason,
  more: Partial<Plan> = {},
): Plan {
  return {
    role,
    consistency,
    serialConsistency: input.serialConsistency,
    reason,
    paxos: more.paxos ?? false,
    meetsInPrimary: more.meetsInPrimary ?? false,
  }
}

/** Where the request should go and at what level, before DC health is looked at. */
function planRoute(input: CqlRouteInput): Plan {
  const { classification, consistency } = input
  const meeting = input.strongCqlConsistency
  // ARCHITECTURE §3: a hint beats the frame's level, which beats the session's or the default.
  const frameLevel = consistency === null ? undefined : grayLevelOfCql(consistency)
  const tokenLevel = input.carriesToken === true && (frameLevel === undefined || frameLevel === 'eventual') ? 'session' : frameLevel
  const level = classification.hints.consistency ?? tokenLevel ?? input.sessionConsistency
  const strong = level === 'strong'
  const inPrimary = meeting === 'LOCAL_QUORUM'

  // Every Paxos round on a partition must run among the same replicas: LOCAL_SERIAL in two DCs would be two
  // independent Paxos groups. So every LWT runs in the primary DC, whatever the hints; its commit level is
  // raised like any strong write's when the request is strong.
  if (classification.lightweightTransaction) {
    const commit = strong ? strongLevel(consistency, meeting) : consistency
    return plan('primary', commit, input, 'lightweight transaction in primary dc', { paxos: true, meetsInPrimary: strong && inPrimary })
  }
  if (strong && consistency !== null && isSerialConsistency(consistency)) {
    return plan('primary', consistency, input, 'serial consistency in primary dc', { paxos: true })
  }
  if (input.home && !(level === 'eventual' && classification.access === 'read')) {
    // The row's home DC holds every write of it; strong requests meet there like in the primary DC.
    const homeLevel = strong || level === 'bounded' ? strongLevel(consistency, meeting) : consistency
    return plan('home', homeLevel, input, 'affinity: home dc', { meetsInPrimary: (strong || level === 'bounded') && inPrimary })
  }
  let chosen: Plan
  if (strong || level === 'bounded') {
    // Grey measures no lag between Cassandra DCs (hinted handoff and repair bound nothing), so a staleness bound
    // cannot be checked against a local DC; bounded requests are served as strong, which meets any bound.
    const reason = level === 'bounded' ? 'bounded served as strong' : inPrimary ? 'strong in primary dc' : 'strong quorum from local dc'
    // A QUORUM of the whole cluster overlaps every other one whichever DC coordinates it: the nearest saves a WAN round trip.
    chosen = plan(inPrimary ? 'primary' : 'local', strongLevel(consistency, meeting), input, reason, { meetsInPrimary: inPrimary })
  } else {
    // Eventual and session stay in the local DC at the frame's level, writes included. Cassandra is multi-master and
    // Grey stamps writes with its HLC, so last-write-wins is exact (§3, eventual: "writes: primary (CQL: local DC)").
    // For session this is what gives read-your-writes: a client reading and writing LOCAL_QUORUM in the local DC
    // meets its own writes there, as two quorums of one DC overlap; writes sent to the primary DC would reach the
    // local DC only by asynchronous cross-DC replication.
    chosen = plan('local', consistency, input, level === 'session' ? 'session in local dc' : 'eventual in local dc')
    // A session read after requests in other DCs that may not have been replicated here yet: where they are visible.
    // The token's DC is asked at the frame's level (LOCAL_* levels there mean that DC's replicas, as for its own
    // clients); with several such DCs, ALL asks every replica. Writes stay local: their HLC stamps already order them
    // after everything the token names.
    const tokenRegions = input.tokenRegions ?? []
    if (level === 'session' && classification.access === 'read' && tokenRegions.length === 1) {
      chosen = plan('token', consistency, input, "session read in the token's dc")
    } else if (level === 'session' && classification.access === 'read' && tokenRegions.length > 1) {
      chosen = plan('local', consistency === null ? null : ALL, input, "session read at ALL for the token's dcs")
    }
  }
  if (classification.hints.route === 'primary' && chosen.role === 'local')
    return { ...chosen, role: 'primary', reason: 'hint route=primary' }
  return chosen
}

/**
 * Where a CQL request goes: which region's DC, at which consistency, and why (ARCHITECTURE §3 and §5). Pure.
 * When the chosen DC is unhealthy the nearest healthy one serves instead, never an unhealthy one while a healthy
 * one exists; a strong request that leaves the primary DC is sent at QUORUM, and a Paxos round at SERIAL, so
 * that such requests still meet each other during the outage.
 */
export function decideCqlRoute(input: CqlRouteInput): CqlRouteDecision {
  if (input.classification.systemTable !== null) {
    const { region, datacenter } = input.local
    const { consistency, serialConsistency } = input
    return { target: 'proxy', region, datacenter, consistency, serialConsistency, reason: 'system table answered by proxy', stale: null }
  }
  const chosen = planRoute(input)
  const tokenDc = input.tokenRegions?.[0]
  const preferred =
    chosen.role === 'local'
      ? input.local
      : chosen.role === 'token' && tokenDc
        ? tokenDc
        : chosen.role === 'home' && input.home
          ? input.home
          : input.primary
  const healthy = (dc: CqlDatacenter): boolean => input.healthy[dc.region] === true
  const others = input.nearest.filter((dc) => dc.region !== input.local.region)
  const cutOff = others.length > 0 && others.every((dc) => !healthy(dc))
  const decide = (
    dc: CqlDatacenter,
    consistency: number | null,
    serialConsistency: number | null,
    reason: CqlRouteReason,
    why: string | null = null,
  ): CqlRouteDecision => {
    const servedCutOff = cutOff && dc.region === input.local.region && input.classification.access === 'read'
    const stale = why ?? (servedCutOff ? `${input.local.region} is cut off from every other Cassandra DC` : null)
    return { target: 'datacenter', region: dc.region, datacenter: dc.datacenter, consistency, serialConsistency, reason, stale }
  }
  const named = chosen.role === 'token' || chosen.reason === "session read at ALL for the token's dcs" ? (input.tokenRegions ?? []) : []
  const unreachable = named.filter((dc) => !healthy(dc))
  if (unreachable.length > 0 && healthy(input.local)) {
    const names = unreachable.map((dc) => dc.region).join(', ')
    const why = `the session's token names requests in ${names} that may not have reached ${input.local.region} yet, and ${names} cannot be asked`
    return decide(input.local, input.consistency, chosen.serialConsistency, 'token dc unhealthy', why)
  }
  if (healthy(preferred)) return decide(preferred, chosen.consistency, chosen.serialConsistency, chosen.reason)
  const fallback = [...input.nearest, input.local, input.primary].find((dc) => dc.region !== preferred.region && healthy(dc))
  if (fallback === undefined) return decide(preferred, chosen.consistency, chosen.serialConsistency, 'no healthy dc')
  let { consistency, serialConsistency } = chosen
  if (chosen.paxos) {
    consistency = globalSerial(consistency)
    serialConsistency = globalSerial(serialConsistency)
  }
  // No LOCAL_QUORUM outside the primary DC meets the strong writes made there; a QUORUM of the whole cluster at
  // least meets every other strong request made while the primary DC is down.
  if (chosen.meetsInPrimary) consistency = strongLevel(consistency, 'QUORUM')
  const reason = chosen.role === 'primary' ? 'primary dc unhealthy' : chosen.role === 'home' ? 'home dc unhealthy' : 'local dc unhealthy'
  return decide(fallback, consistency, serialConsistency, reason)
}
