const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const

/** One `<number><unit>` part; a duration is one or more of them, largest unit first by convention ("1m30s"). */
const DURATION_PART = /(\d+)(?:\.(\d+))?(ms|s|m|h)/y
const BARE_MS = /^\d+(?:\.\d+)?$/

/**
 * Parses a duration into milliseconds: "500ms", "1.5s", "2m", "1h", "1m30s"; a bare number
 * (or numeric string) is milliseconds. Throws a RangeError for anything else, including negatives.
 */
export function parseDurationMs(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return text
    throw new RangeError(`invalid duration ${text}: expected a non-negative number of milliseconds`)
  }
  const trimmed = text.trim()
  if (BARE_MS.test(trimmed)) return Number(trimmed)
  if (trimmed === '') throw new RangeError('invalid duration "": expected a number with a unit, like "500ms"')
  let totalMs = 0
  DURATION_PART.lastIndex = 0
  while (DURATION_PART.lastIndex < trimmed.length) {
    const match = DURATION_PART.exec(trimmed)
    if (match === null) {
      throw new RangeError(`invalid duration ${JSON.stringify(text)}: expected a number with a unit (ms, s, m, h), like "500ms" or "1.5s"`)
    }
    const fraction = match[2] ?? ''
    const unitMs = UNIT_MS[match[3] as keyof typeof UNIT_MS]
    // Integer arithmetic on the digits keeps "1.1s" at exactly 1100, not 1100.0000000000002.
    totalMs += (Number(match[1]! + fraction) * unitMs) / 10 ** fraction.length
  }
  return totalMs
}
