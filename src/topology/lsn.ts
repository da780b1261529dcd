// PostgreSQL WAL positions ("16/B374D848": two 32-bit hex halves) as BigInt, so that differences are exact bytes.

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/

/** The position, or null when the text is not an LSN (a standby that has replayed nothing reports NULL). */
export function parseLsn(text: string | null | undefined): bigint | null {
  const m = text ? LSN_TEXT.exec(text) : null
  return m ? (BigInt(`0x${m[1]!}`) << 32n) | BigInt(`0x${m[2]!}`) : null
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}
