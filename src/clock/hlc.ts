// Hybrid logical clock: Kulkarni, Demirbas et al., "Logical Physical Clocks" (OPODIS 2014).
// The rules are pure functions of (last stamp, input, physical ms); HybridLogicalClock is the thin
// stateful shell that reads the physical clock and counts rejections.

/** One HLC reading: 48-bit wall milliseconds since the Unix epoch plus a 16-bit logical counter. */
export interface HlcTimestamp {
  readonly wallMs: number
  readonly logical: number
}

export const HLC_MAX_WALL_MS = 2 ** 48 - 1
export const HLC_MAX_LOGICAL = 0xffff
/** Cassandra stamps keep logical below this, so wall_ms * 1000 + logical stays inside wall_ms. */
export const CASSANDRA_LOGICAL_LIMIT = 1000
export const DEFAULT_MAX_OFFSET_MS = 500
export const HLC_ZERO: HlcTimestamp = Object.freeze({ wallMs: 0, logical: 0 })

const HLC_TEXT = /^[0-9a-f]{16}$/
const UINT64_MAX = (1n << 64n) - 1n

/** True when both parts are integers inside their 48-bit and 16-bit ranges. */
export function isValidHlc(ts: HlcTimestamp): boolean {
  return (
    Number.isInteger(ts.wallMs) &&
    ts.wallMs >= 0 &&
    ts.wallMs <= HLC_MAX_WALL_MS &&
    Number.isInteger(ts.logical) &&
    ts.logical >= 0 &&
    ts.logical <= HLC_MAX_LOGICAL
  )
}

/** Sort comparator: negative when a happened before b, 0 when equal, positive after. */
export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): number {
  return a.wallMs - b.wallMs || a.logical - b.logical
}

/** The later of two stamps; causality tokens merge by max. */
export function maxHlc(a: HlcTimestamp, b: HlcTimestamp): HlcTimestamp {
  return compareHlc(a, b) >= 0 ? a : b
}

/** Send or local event: l' = max(l, pt); c' = c + 1 when l' = l, else 0. `last` must be valid. */
export function nextHlc(last: HlcTimestamp, physicalMs: number): HlcTimestamp {
  return advance(last, physicalMs, HLC_MAX_LOGICAL + 1)
}

/** Like nextHlc, but logical stays below 1000 so the stamp maps to unique Cassandra micros. */
export function nextCassandraHlc(last: HlcTimestamp, physicalMs: number): HlcTimestamp {
  return advance(last, physicalMs, CASSANDRA_LOGICAL_LIMIT)
}

/**
 * Receive event: l' = max(l, l_m, pt) and c' by the paper's cases. A remote wall more than
 * maxOffsetMs ahead of physicalMs is returned as an HlcRemoteAheadError; the caller keeps `last`.
 */
export function receiveHlc(
  last: HlcTimestamp,
  remote: HlcTimestamp,
  physicalMs: number,
  maxOffsetMs: number,
): HlcTimestamp | HlcRemoteAheadError {
  assertPhysicalMs(physicalMs)
  assertValidHlc(remote, 'remote HLC')
  if (remote.wallMs - physicalMs > maxOffsetMs) {
    return new HlcRemoteAheadError(remote, physicalMs, maxOffsetMs)
  }
  const wallMs = Math.max(last.wallMs, remote.wallMs, physicalMs)
  let logical: number
  if (wallMs === last.wallMs && wallMs === remote.wallMs) {
    logical = Math.max(last.logical, remote.logical) + 1
  } else if (wallMs === last.wallMs) {
    logical = last.logical + 1
  } else if (wallMs === remote.wallMs) {
    logical = remote.logical + 1
  } else {
    logical = 0
  }
  return carry(wallMs, logical, HLC_MAX_LOGICAL + 1)
}

/** A remote clock ran further ahead than max_offset allows; its stamp was not merged. */
export class HlcRemoteAheadError extends Error {
  override readonly name = 'HlcRemoteAheadError'
  readonly remote: HlcTimestamp
  readonly physicalMs: number
  readonly maxOffsetMs: number
  readonly aheadMs: number

  constructor(remote: HlcTimestamp, physicalMs: number, maxOffsetMs: number) {
    const aheadMs = remote.wallMs - physicalMs
    super(
      `grey: remote HLC ${formatHlc(remote)} is ${aheadMs} ms ahead of the local clock ` +
        `(max_offset ${maxOffsetMs} ms) and was rejected; check NTP/chrony on both hosts`,
    )
    this.remote = remote
    this.physicalMs = physicalMs
    this.maxOffsetMs = maxOffsetMs
    this.aheadMs = aheadMs
  }
}

/** A causality token carried an HLC that is not 16 lowercase hex digits. */
export class HlcParseError extends Error {
  override readonly name = 'HlcParseError'
  readonly text: string

  constructor(text: string) {
    super(`grey: malformed HLC ${JSON.stringify(text.slice(0, 32))}; ` + 'expected 16 lowercase hex digits as printed by SHOW grey.token')
    this.text = text
  }
}

export interface HybridLogicalClockOptions {
  /** Wall clock in integer ms since the epoch; Date.now by default. */
  readonly physicalClock?: () => number
  /** Remote stamps further ahead of the physical clock than this are rejected (default 500). */
  readonly maxOffsetMs?: number
  /** Where to start, e.g. the last stamp persisted before a restart. */
  readonly initial?: HlcTimestamp
  /** Called once per rejected remote stamp, after rejectedCount is incremented. */
  readonly onReject?: (error: HlcRemoteAheadError) => void
}

export class HybridLogicalClock {
  readonly maxOffsetMs: number
  readonly #physicalClock: () => number
  readonly #onReject: ((error: HlcRemoteAheadError) => void) | undefined
  #last: HlcTimestamp
  #rejectedCount = 0

  constructor(options: HybridLogicalClockOptions = {}) {
    const maxOffsetMs = options.maxOffsetMs ?? DEFAULT_MAX_OFFSET_MS
    if (!Number.isFinite(maxOffsetMs) || maxOffsetMs < 0) {
      throw new RangeError(`grey: HLC maxOffsetMs must be a finite number >= 0, got ${maxOffsetMs}`)
    }
    const initial = options.initial ?? HLC_ZERO
    assertValidHlc(initial, 'initial HLC')
    this.maxOffsetMs = maxOffsetMs
    this.#physicalClock = options.physicalClock ?? (() => Date.now())
    this.#onReject = options.onReject
    this.#last = initial
  }

  /** The latest stamp this clock issued or merged. */
  get last(): HlcTimestamp {
    return this.#last
  }

  /** The physical clock this HLC reads, in integer ms (for wall-clock stamping and offset checks). */
  physicalMs(): number {
    return this.#physicalClock()
  }

  /** Remote stamps rejected for running more than maxOffsetMs ahead. */
  get rejectedCount(): number {
    return this.#rejectedCount
  }

  /** Stamp a local or send event; strictly greater than every earlier stamp of this clock. */
  now(): HlcTimestamp {
    this.#last = nextHlc(this.#last, this.#physicalClock())
    return this.#last
  }

  /** Stamp a Cassandra write: like now(), with logical < 1000 for toCassandraMicros. */
  nowForCassandra(): HlcTimestamp {
    this.#last = nextCassandraHlc(this.#last, this.#physicalClock())
    return this.#last
  }

  /** Merge a remote stamp (Raft message, client token); the clock is unchanged on rejection. */
  update(remote: HlcTimestamp): HlcTimestamp | HlcRemoteAheadError {
    const result = receiveHlc(this.#last, remote, this.#physicalClock(), this.maxOffsetMs)
    if (result instanceof HlcRemoteAheadError) {
      this.#rejectedCount++
      this.#onReject?.(result)
      return result
    }
    this.#last = result
    return result
  }
}

/** wall << 16 | logical as an unsigned 64-bit BigInt; ordering matches compareHlc. */
export function packHlc(ts: HlcTimestamp): bigint {
  assertValidHlc(ts, 'HLC')
  return (BigInt(ts.wallMs) << 16n) | BigInt(ts.logical)
}

export function unpackHlc(packed: bigint): HlcTimestamp {
  if (packed < 0n || packed > UINT64_MAX) {
    throw new RangeError(`grey: packed HLC ${packed} is outside the unsigned 64-bit range`)
  }
  return { wallMs: Number(packed >> 16n), logical: Number(packed & 0xffffn) }
}

/** 16 lowercase hex digits; fixed width, so string order equals HLC order. */
export function formatHlc(ts: HlcTimestamp): string {
  return packHlc(ts).toString(16).padStart(16, '0')
}

/** Strict inverse of formatHlc: only the canonical form is accepted (no prefix, case or spaces). */
export function parseHlc(text: string): HlcTimestamp | HlcParseError {
  if (!HLC_TEXT.test(text)) return new HlcParseError(text)
  return unpackHlc(BigInt(`0x${text}`))
}

function advance(last: HlcTimestamp, physicalMs: number, logicalLimit: number): HlcTimestamp {
  assertPhysicalMs(physicalMs)
  if (physicalMs > last.wallMs) return { wallMs: physicalMs, logical: 0 }
  return carry(last.wallMs, last.logical + 1, logicalLimit)
}

// A full counter borrows the next millisecond, as if physical time had ticked; the clock then
// runs at most (stamps issued / limit) ms ahead until physical time catches up.
function carry(wallMs: number, logical: number, logicalLimit: number): HlcTimestamp {
  if (logical < logicalLimit) return { wallMs, logical }
  if (wallMs >= HLC_MAX_WALL_MS) {
    throw new RangeError('grey: HLC wall clock exhausted at 2^48 - 1 ms; the physical clock is wrong')
  }
  return { wallMs: wallMs + 1, logical: 0 }
}

function assertPhysicalMs(physicalMs: number): void {
  if (!Number.isInteger(physicalMs) || physicalMs < 0 || physicalMs > HLC_MAX_WALL_MS) {
    throw new RangeError(`grey: physical clock returned ${physicalMs}; expected integer ms in [0, 2^48 - 1]`)
  }
}

function assertValidHlc(ts: HlcTimestamp, what: string): void {
  if (!isValidHlc(ts)) {
    throw new RangeError(`grey: ${what} (wallMs ${ts.wallMs}, logical ${ts.logical}) is outside 48-bit wall / 16-bit logical`)
  }
}
