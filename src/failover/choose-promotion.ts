// Which standby becomes the PostgreSQL primary (ARCHITECTURE §8). Pure.

export interface StandbyState {
  readonly region: string
  /** Listed in replication.postgres.synchronous_standbys: it has every acknowledged commit. */
  readonly synchronous: boolean
  /** pg_last_wal_replay_lsn(); null when the standby could not be asked. */
  readonly replayLsn: bigint | null
  /** pg_is_in_recovery(): false means it was already promoted (or is a primary of its own). */
  readonly inRecovery: boolean | null
}

export type Promotion =
  | { readonly ok: true; readonly region: string; readonly lsn: bigint; readonly dataLoss: boolean; readonly reason: string }
  | { readonly ok: false; readonly reason: string }

/**
 * The synchronous standby with the highest replay position: with synchronous_commit on, every commit a client saw
 * acknowledged is on it. An asynchronous standby only when `allowDataLoss` (failover.allow_data_loss), and then the
 * result says so: its missing commits are lost.
 */
export function choosePromotion(standbys: readonly StandbyState[], allowDataLoss: boolean): Promotion {
  const reachable = standbys.filter((s) => s.replayLsn !== null && s.inRecovery === true)
  const best = (list: readonly StandbyState[]): StandbyState | undefined =>
    [...list].sort((a, b) => (a.replayLsn! > b.replayLsn! ? -1 : a.replayLsn! < b.replayLsn! ? 1 : a.region.localeCompare(b.region)))[0]
  const sync = best(reachable.filter((s) => s.synchronous))
  if (sync)
    return {
      ok: true,
      region: sync.region,
      lsn: sync.replayLsn!,
      dataLoss: false,
      reason: 'the synchronous standby with the highest replay position',
    }
  const async = best(reachable)
  if (async && allowDataLoss) {
    return {
      ok: true,
      region: async.region,
      lsn: async.replayLsn!,
      dataLoss: true,
      reason:
        'no synchronous standby can be promoted; failover.allow_data_loss permits an asynchronous one, and commits it had not received are lost',
    }
  }
  if (async) {
    return {
      ok: false,
      reason: `no synchronous standby can be promoted, and ${async.region} is asynchronous (set failover.allow_data_loss: true to accept losing the commits it lacks)`,
    }
  }
  return { ok: false, reason: 'no standby answered' }
}
