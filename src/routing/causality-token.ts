// Causality tokens (ARCHITECTURE §3): what a session has written, so that a later read — on this connection,
// another one, in another region or through the other protocol — can be sent where that write is visible.
// A token is the failover epoch, the PostgreSQL commit position (LSN) and the HLC commit time. Text form:
// `g1.<epoch>.<LSN as PostgreSQL prints it>.<HLC as 16 hex digits>`, e.g. `g1.0.0/3000060.0193a4b2c1d00000`.
import { formatHlc, HLC_ZERO, maxHlc, unpackHlc, type HlcTimestamp } from '../clock/hlc.js'
import { formatLsn, parseLsn } from '../topology/lsn.js'

export interface CausalityToken {
  /** The PostgreSQL failover epoch the LSN belongs to; positions of different epochs do not compare. */
  readonly epoch: number
  /** The primary's WAL position after the session's last write committed; 0 when it has written nothing. */
  readonly lsn: bigint
  /** Grey's HLC when that write committed (or the latest a token brought). */
  readonly hlc: HlcTimestamp
}

export const EMPTY_TOKEN: CausalityToken = Object.freeze({ epoch: 0, lsn: 0n, hlc: HLC_ZERO })

const TOKEN_TEXT = /^g1\.(\d{1,9})\.([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})\.([0-9a-f]{16})$/

export class TokenParseError extends Error {
  override readonly name = 'TokenParseError'
  constructor(text: string, why: string) {
    super(
      `grey: ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} is not a causality token (${why}); ` +
        'pass the text SHOW grey.token printed, like g1.0.0/3000060.0193a4b2c1d00000',
    )
  }
}

export function formatToken(token: CausalityToken): string {
  return `g1.${token.epoch}.${formatLsn(token.lsn)}.${formatHlc(token.hlc)}`
}

export function parseToken(text: string): CausalityToken | TokenParseError {
  const m = TOKEN_TEXT.exec(text.trim())
  if (!m) return new TokenParseError(text, 'expected g1.<epoch>.<LSN>.<HLC>')
  // The pattern admits only 16 lowercase hex digits: every such text is an HLC.
  return { epoch: Number(m[1]), lsn: parseLsn(m[2])!, hlc: unpackHlc(BigInt(`0x${m[3]!}`)) }
}

/**
 * Tokens merge by max. Positions of a later epoch replace those of an earlier one (the new primary's WAL is
 * another timeline); the HLC is the later of both either way.
 */
export function mergeTokens(a: CausalityToken, b: CausalityToken): CausalityToken {
  const hlc = maxHlc(a.hlc, b.hlc)
  if (a.epoch !== b.epoch) return { ...(a.epoch > b.epoch ? a : b), hlc }
  return { epoch: a.epoch, lsn: a.lsn > b.lsn ? a.lsn : b.lsn, hlc }
}
