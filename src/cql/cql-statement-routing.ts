import type { ConsistencyLevel } from '../config/config-schema.js'
import { classifyCql } from '../routing/classify-cql.js'
import { decideCqlRoute, type CqlDatacenter, type StrongCqlConsistency } from '../routing/decide-cql-route.js'
import type { CqlRoute, CqlStatementInfo } from './cql-session.js'

const MUTATIONS = new Set(['insert', 'update', 'delete', 'batch'])
/**
 * `c = c + 1`, `l = l + [x]`, `l = [x] + l`, `s = s - {x}`: counter and collection updates apply
 * differently when applied twice, so they are not retried on another node.
 */
const NON_IDEMPOTENT_UPDATE = /=\s*"?[A-Za-z_]\w*"?\s*[+-]|[\]}]\s*\+\s*"?[A-Za-z_]\w*"?/

/** What a CQL text means for the session: routing inputs, whether Grey stamps it, whether a retry is safe. */
export function describeCql(query: string): CqlStatementInfo {
  const c = classifyCql(query)
  const mutation = MUTATIONS.has(c.kind)
  const counter = c.batchType === 'counter'
  return {
    access: c.access,
    kind: c.kind,
    stampable: mutation && !c.hasUsingTimestamp && !c.lightweightTransaction && !counter,
    idempotent: c.access === 'read' || (mutation && !c.lightweightTransaction && !counter && !NON_IDEMPOTENT_UPDATE.test(query)),
    ddl: c.kind === 'ddl',
    table: c.table,
    keyspace: c.keyspace,
    systemTable: c.systemTable,
    useKeyspace: c.useKeyspace,
    lightweightTransaction: c.lightweightTransaction,
    hints: c.hints,
  }
}

export interface CqlRoutingView {
  /** Other DCs the session's token says to read from (src/routing/token-read-dcs.ts). */
  tokenRegions: readonly CqlDatacenter[]
  /** The request carries a causality token (it then asks for session consistency at least). */
  carriesToken: boolean
  sessionConsistency: ConsistencyLevel
  strongCqlConsistency: StrongCqlConsistency
  local: CqlDatacenter
  primary: CqlDatacenter
  nearest: readonly CqlDatacenter[]
  healthy: Readonly<Record<string, boolean>>
  /** The home DC of the row the request names (affinity rules), or null. */
  home: CqlDatacenter | null
}

/** The session's request, routed by the pure decision of src/routing (the front end supplies health and topology). */
export function routeCql(
  info: CqlStatementInfo,
  consistency: number | null,
  serialConsistency: number | null,
  view: CqlRoutingView,
): CqlRoute {
  const decision = decideCqlRoute({
    classification: {
      access: info.access,
      hints: info.hints,
      lightweightTransaction: info.lightweightTransaction,
      systemTable: info.systemTable,
    },
    consistency,
    serialConsistency,
    ...view,
  })
  return { region: decision.region, consistency: decision.consistency, reason: decision.reason, stale: decision.stale }
}
