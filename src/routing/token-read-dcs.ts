import type { CausalityToken } from './causality-token.js'

/** How long a request answered by `from`'s DC may take to reach `to`'s DC, in ms. */
export type ReplicationWindow = (from: string, to: string) => number

/**
 * Which DCs a session read must ask so that it sees every request its causality token names. An entry (DC r, time t)
 * is visible in DC d when d = r or t is older than the replication window from r to d. Pure; `nowMs` is this Grey's
 * HLC wall time, so an entry from a Grey whose clock runs ahead counts as younger, never as older.
 *
 * - `[]`: the first candidate (the local DC) sees everything;
 * - `[d]`: DC d, the first other candidate that sees everything;
 * - two or more: no single DC does yet; the DCs whose entries are still replicating (the read goes at ALL).
 */
export function tokenReadDcs(token: CausalityToken, candidates: readonly string[], nowMs: number, window: ReplicationWindow): string[] {
  const entries = Object.entries(token.cql)
  const sees = (dc: string): boolean => entries.every(([r, at]) => r === dc || nowMs - at.wallMs >= window(r, dc))
  const found = candidates.findIndex(sees)
  if (found === 0) return []
  if (found > 0) return [candidates[found]!]
  const young = entries.filter(([r, at]) => candidates.some((dc) => dc !== r && nowMs - at.wallMs < window(r, dc))).map(([r]) => r)
  return young.length >= 2 ? young : [...young, ...candidates.filter((dc) => !young.includes(dc))].slice(0, 2)
}
