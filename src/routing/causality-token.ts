// Causality tokens (ARCHITECTURE §3): what a session has written or seen, so that a later read — on this connection,
// another one, in another region or through the other protocol — can be sent where that is visible.
// A token is the failover epoch, the PostgreSQL commit position (LSN), the HLC commit time, and, per Cassandra DC the
// session used, the HLC of its latest request there. Text form:
// `g1.<epoch>.<LSN as PostgreSQL prints it>.<HLC as 16 hex digits>[.<region>:<HLC>]…`,
// e.g. `g1.0.0/3000060.0193a4b2c1d00000` or `g1.0.0/0.0193a4b2c1d00000.eu-west:0193a4b2c1d00000`.
import { compareHlc, formatHlc, HLC_ZERO, maxHlc, unpackHlc, type HlcTimestamp } from '../clock/hlc.js'
import { formatLsn, parseLsn } from '../topology/lsn.js'

export interface CausalityToken {
  /** The PostgreSQL failover epoch the LSN belongs to; positions of different epochs do not compare. */
  readonly epoch: number
  /** The primary's WAL position after the session's last write committed; 0 when it has written nothing. */
  readonly lsn: bigint
  /** Grey's HLC when that write committed (or the latest a token brought). */
  readonly hlc: HlcTimestamp
  /**
   * Cassandra: region → Grey's HLC when the session's latest request served by that region's DC answered. A write
   * made there (or a value read there) reaches another DC only by asynchronous replication, so until it is older
   * than the replication delay between the two, a session read elsewhere is sent to that DC (src/routing/decide-cql-route.ts).
   */
  readonly cql: Readonly<Record<string, HlcTimestamp>>
}

export const EMPTY_TOKEN: CausalityToken = Object.freeze({ epoch: 0, lsn: 0n, hlc: HLC_ZERO, cql: Object.freeze({}) })

/** At most this many DC entries (more regions than any deployment has; bounds what a client can make Grey parse). */
const MAX_CQL_ENTRIES = 32
const TOKEN_TEXT = /^g1\.(\d{1,9})\.([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})\.([0-9a-f]{16})((?:\.[a-z][a-z0-9-]{0,62}:[0-9a-f]{16}){0,32})$/

export class TokenParseError extends Error {
  override readonly name = 'TokenParseError'
  constructor(text: string, why: string) {
    super(
      `grey: ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} is not a causality token (${why}); ` +
        'pass the text Grey handed out (SHOW grey.token, or the grey.token custom payload of a CQL response), like g1.0.0/3000060.0193a4b2c1d00000',
    )
  }
}

export function formatToken(token: CausalityToken): string {
  const dcs = Object.entries(token.cql)
    .map(([region, hlc]) => `.${region}:${formatHlc(hlc)}`)
    .join('')
  return `g1.${token.epoch}.${formatLsn(token.lsn)}.${formatHlc(token.hlc)}${dcs}`
}

export function parseToken(text: string): CausalityToken | TokenParseError {
  const m = TOKEN_TEXT.exec(text.trim())
  if (!m) return new TokenParseError(text, 'expected g1.<epoch>.<LSN>.<HLC>, then any <region>:<HLC> entries')
  const cql: Record<string, HlcTimestamp> = {}
  // The pattern admits only 16 lowercase hex digits: every such text is an HLC.
  for (const entry of m[4]!.split('.').slice(1)) {
    const [region, hlc] = entry.split(':') as [string, string]
    const at = unpackHlc(BigInt(`0x${hlc}`))
    cql[region] = cql[region] === undefined ? at : maxHlc(cql[region], at)
  }
  return { epoch: Number(m[1]), lsn: parseLsn(m[2])!, hlc: unpackHlc(BigInt(`0x${m[3]!}`)), cql }
}

function mergeCql(a: CausalityToken['cql'], b: CausalityToken['cql']): CausalityToken['cql'] {
  const out: Record<string, HlcTimestamp> = { ...a }
  for (const [region, hlc] of Object.entries(b)) out[region] = out[region] === undefined ? hlc : maxHlc(out[region], hlc)
  return out
}

/**
 * Tokens merge by max. Positions of a later epoch replace those of an earlier one (the new primary's WAL is
 * another timeline); the HLC and each DC's entry are the later of both either way.
 */
export function mergeTokens(a: CausalityToken, b: CausalityToken): CausalityToken {
  const hlc = maxHlc(a.hlc, b.hlc)
  const cql = mergeCql(a.cql, b.cql)
  if (a.epoch !== b.epoch) return { ...(a.epoch > b.epoch ? a : b), hlc, cql }
  return { epoch: a.epoch, lsn: a.lsn > b.lsn ? a.lsn : b.lsn, hlc, cql }
}

/**
 * The token after a CQL request that `region`'s DC answered at `at`: that DC's entry moves to `at`, and entries older
 * than `forgetBeforeMs` (wall clock) are dropped — a write that old has reached every DC that is up, and a DC that was
 * down catches up by hinted handoff and repair, which no token can wait for. At most MAX_CQL_ENTRIES remain, the newest.
 */
export function observeCql(token: CausalityToken, region: string, at: HlcTimestamp, forgetBeforeMs: number): CausalityToken {
  const entries = Object.entries(mergeCql(token.cql, { [region]: at }))
    .filter(([, hlc]) => hlc.wallMs >= forgetBeforeMs)
    .sort(([, x], [, y]) => compareHlc(y, x))
    .slice(0, MAX_CQL_ENTRIES)
  return { ...token, hlc: maxHlc(token.hlc, at), cql: Object.fromEntries(entries) }
}
