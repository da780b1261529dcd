// Replica lag from WAL positions, not from pg_last_xact_replay_timestamp() (which grows on an idle primary).
// The primary's position is sampled with the time it was read. A standby that has replayed up to L holds
// everything the primary had written when it was last seen at a position ≤ L, so a read from it is at most
// now − that time stale. Equal positions mean zero lag.

export interface LsnSample {
  readonly lsn: bigint
  /** The last time the primary was seen at this position. */
  readonly atMs: number
}

export interface ReplicaLag {
  readonly bytes: bigint
  /** How stale a read from the replica can be: an upper bound, at most one poll interval above the truth. */
  readonly seconds: number
  /** The history does not reach back to the replica's position: the lag is more than `seconds`. */
  readonly atLeast: boolean
}

/** The primary's recent positions, oldest first, kept for `windowMs` plus the one sample just older. */
export class LsnHistory {
  #samples: LsnSample[] = []

  constructor(readonly windowMs: number) {}

  get samples(): readonly LsnSample[] {
    return this.#samples
  }

  /** Forgets every sample: a new primary's positions do not compare with the old one's. */
  clear(): void {
    this.#samples = []
  }

  /** Records a reading. A lower position than the last (a new timeline after failover) starts the history afresh. */
  record(lsn: bigint, atMs: number): void {
    const last = this.#samples.at(-1)
    if (last && lsn < last.lsn) this.#samples = []
    if (last && lsn === last.lsn) this.#samples[this.#samples.length - 1] = { lsn, atMs }
    else this.#samples.push({ lsn, atMs })
    const firstInWindow = this.#samples.findIndex((s) => s.atMs >= atMs - this.windowMs)
    if (firstInWindow > 1) this.#samples = this.#samples.slice(firstInWindow - 1)
  }
}

/** The lag of a replica at `replayLsn`, judged at `nowMs`; null before the primary has been sampled. */
export function replicaLag(history: LsnHistory, replayLsn: bigint, nowMs: number): ReplicaLag | null {
  const samples = history.samples
  const latest = samples.at(-1)
  if (!latest) return null
  if (replayLsn >= latest.lsn) return { bytes: 0n, seconds: 0, atLeast: false }
  let held: LsnSample | undefined
  for (const s of samples) {
    if (s.lsn > replayLsn) break
    held = s
  }
  const since = held ?? samples[0]!
  return { bytes: latest.lsn - replayLsn, seconds: Math.max(0, nowMs - since.atMs) / 1000, atLeast: held === undefined }
}

/**
 * A replica's lag in a round where the primary could not be read: it is known to be current only up to the primary's
 * last sample, so its staleness is at least the time since then (a partition grows it, rather than freezing the last
 * measurement at zero).
 */
export function lagWhilePrimaryUnseen(lag: ReplicaLag, history: LsnHistory, nowMs: number): ReplicaLag {
  const latest = history.samples.at(-1)
  if (!latest) return lag
  return { ...lag, seconds: Math.max(lag.seconds, Math.max(0, nowMs - latest.atMs) / 1000) }
}
