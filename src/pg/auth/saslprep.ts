import { BIDI_L, BIDI_R_AL, MAPPED_TO_NOTHING, NON_ASCII_SPACE, PROHIBITED_OUTPUT, UNASSIGNED } from './stringprep-tables.js'

/**
 * SASLprep (RFC 4013) exactly as PostgreSQL's pg_saslprep() (src/common/saslprep.c) does it, because
 * both ends of a SCRAM exchange must feed PBKDF2 the same bytes that PostgreSQL (CREATE ROLE … PASSWORD)
 * and libpq (PQencryptPasswordConn, the client proof) feed it:
 *  - pure ASCII is used as is, control characters included (no prohibition check at all);
 *  - invalid UTF-8 → `invalid-utf8`;
 *  - map C.1.2 non-ASCII spaces to U+0020 (checked first, so U+200B becomes a space), drop B.1;
 *  - empty after mapping → `prohibited`;
 *  - NFKC-normalise (the runtime's Unicode version; PostgreSQL uses its own, equal for anything but
 *    characters added in the last Unicode release);
 *  - prohibited output (C.*), unassigned code points of Unicode 3.2 (A.1) and the bidi rule (RFC 3454 §6)
 *    are checked on the mapped string BEFORE normalisation, as PostgreSQL does (the RFC says after);
 *    any hit → `prohibited`.
 * A failure is not an error: PostgreSQL then uses the raw password bytes (see scramPasswordBytes).
 */
export type SaslprepResult =
  { readonly ok: true; readonly value: string } | { readonly ok: false; readonly reason: 'invalid-utf8' | 'prohibited' }

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * A string is first encoded as UTF-8 (Node turns a lone surrogate into U+FFFD, which is then
 * prohibited); bytes are taken as they are, so that a non-UTF-8 password can still be expressed.
 */
export function saslprep(password: string | Uint8Array): SaslprepResult {
  const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password
  if (bytes.every((b) => b < 0x80)) return { ok: true, value: Buffer.from(bytes).toString('ascii') }

  let text: string
  try {
    text = utf8Decoder.decode(bytes)
  } catch {
    return { ok: false, reason: 'invalid-utf8' }
  }

  const mapped: number[] = []
  for (const ch of text) {
    const code = ch.codePointAt(0) as number
    if (inTable(code, NON_ASCII_SPACE)) mapped.push(0x20)
    else if (!inTable(code, MAPPED_TO_NOTHING)) mapped.push(code)
  }
  if (mapped.length === 0) return { ok: false, reason: 'prohibited' }

  for (const code of mapped) {
    if (inTable(code, PROHIBITED_OUTPUT) || inTable(code, UNASSIGNED)) return { ok: false, reason: 'prohibited' }
  }
  if (mapped.some((code) => inTable(code, BIDI_R_AL))) {
    // RFC 3454 §6: no L character, and R/AL first and last.
    const first = mapped[0] as number
    const last = mapped[mapped.length - 1] as number
    if (mapped.some((code) => inTable(code, BIDI_L)) || !inTable(first, BIDI_R_AL) || !inTable(last, BIDI_R_AL)) {
      return { ok: false, reason: 'prohibited' }
    }
  }
  return { ok: true, value: String.fromCodePoint(...mapped).normalize('NFKC') }
}

/** The bytes PBKDF2 gets for a SCRAM password: the SASLprep'd form, or the raw bytes when SASLprep fails. */
export function scramPasswordBytes(password: string | Uint8Array): Buffer {
  const prepared = saslprep(password)
  if (!prepared.ok) return typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password)
  return Buffer.from(prepared.value, 'utf8')
}

/** Binary search in a flat table of inclusive ranges [first, last, first, last, …]. */
function inTable(code: number, table: readonly number[]): boolean {
  let lo = 0
  let hi = table.length / 2 - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (code < (table[mid * 2] as number)) hi = mid - 1
    else if (code > (table[mid * 2 + 1] as number)) lo = mid + 1
    else return true
  }
  return false
}
