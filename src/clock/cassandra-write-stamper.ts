// The timestamp Grey gives a CQL write that carries no USING TIMESTAMP (conflict_resolution.strategy).
// hlc-lww (the default) stamps with the HLC, so a write made after its proxy heard from another region's
// proxy orders after that region's writes even when the wall clocks disagree. wall-clock-lww stamps with
// the proxy's own wall clock, as drivers do by default: it exists for comparison and for clusters where
// another writer's plain timestamps must win by the same rule.
import type { ConflictStrategy } from '../config/config-schema.js'
import { toCassandraMicros } from './cassandra-micros.js'
import type { HybridLogicalClock } from './hlc.js'

/** Micros since the epoch for the next write; strictly increasing for one stamper. */
export type CassandraWriteStamper = () => bigint

export function cassandraWriteStamper(strategy: ConflictStrategy, clock: HybridLogicalClock): CassandraWriteStamper {
  if (strategy === 'hlc-lww') return () => toCassandraMicros(clock.nowForCassandra())
  let last = 0n
  return () => {
    last = nextWallMicros(last, clock.physicalMs())
    return last
  }
}

/** The driver's monotonic rule: the wall clock in micros, or one more than the last stamp when the clock has not moved on. */
export function nextWallMicros(last: bigint, physicalMs: number): bigint {
  const wall = BigInt(physicalMs) * 1000n
  return wall > last ? wall : last + 1n
}
