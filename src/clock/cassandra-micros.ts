// Cassandra write timestamps are microseconds since the epoch (CQL v4 spec §4.1.4, flag 0x20).
// An HLC stamp with logical < 1000 maps to wall_ms * 1000 + logical, which is unique per clock,
// ordered like the HLC, and comparable with drivers' own Date.now() * 1000 timestamps.
import { CASSANDRA_LOGICAL_LIMIT, isValidHlc, type HlcTimestamp } from './hlc.js'

/** Exact micros; the stamp must come from HybridLogicalClock.nowForCassandra (logical < 1000). */
export function toCassandraMicros(ts: HlcTimestamp): bigint {
  assertCassandraStamp(ts)
  return BigInt(ts.wallMs) * 1000n + BigInt(ts.logical)
}

// wall_ms * 1000 stays below 2^53 until about year 2255, so a number is exact for real clocks.
export function toCassandraMicrosNumber(ts: HlcTimestamp): number {
  assertCassandraStamp(ts)
  const micros = ts.wallMs * 1000 + ts.logical
  if (!Number.isSafeInteger(micros)) {
    throw new RangeError(`grey: Cassandra micros for wallMs ${ts.wallMs} exceed 2^53; use toCassandraMicros`)
  }
  return micros
}

/** Writes micros as the protocol's signed 64-bit big-endian long into target at offset. */
export function writeCassandraMicros(micros: bigint | number, target: Buffer = Buffer.alloc(8), offset = 0): Buffer {
  target.writeBigInt64BE(BigInt(micros), offset)
  return target
}

function assertCassandraStamp(ts: HlcTimestamp): void {
  if (!isValidHlc(ts) || ts.logical >= CASSANDRA_LOGICAL_LIMIT) {
    throw new RangeError(
      `grey: HLC (wallMs ${ts.wallMs}, logical ${ts.logical}) is not a Cassandra stamp; ` +
        'logical must be < 1000, issue it with HybridLogicalClock.nowForCassandra()',
    )
  }
}
