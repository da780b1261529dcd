// How queued CQL writes are replayed on heal: pure. Each is sent as a QUERY with its original write timestamp as the
// default timestamp (v4 spec §4.1.4, flag 0x20). Cassandra resolves cells by last-write-wins on that timestamp, so a write
// replayed twice is the same write, and writes land as if applied when they were stamped, whatever order they arrive
// in: that is the exactly-once argument for CQL, and why it needs no marker table (PostgreSQL's grey_queue_applied).
// LWTs and counter or collection arithmetic break it, so they are never queued (decide-cql-queueable.ts).
import { CqlErrorCode } from '../cql/protocol/cql-error-code.js'
import type { QueryRequest } from '../cql/protocol/request-messages.js'
import { cqlValue, type CqlQueuedWrite } from './queued-write.js'

/** The QUERY that replays `write`, at `consistency` (what routing gives the client's level now). */
export function cqlReplayRequest(write: CqlQueuedWrite, consistency: number): QueryRequest {
  const values = write.values.map(cqlValue)
  return {
    type: 'QUERY',
    query: write.query,
    parameters: {
      consistency,
      ...(values.length > 0 ? { values } : {}),
      ...(write.names !== null && values.length > 0 ? { names: [...write.names] } : {}),
      skipMetadata: true,
      timestamp: BigInt(write.timestampMicros),
    },
  }
}

/** The statement itself cannot succeed (v4 spec §9: 0x2xxx request errors, a failing function, a frame Cassandra cannot read). */
const PERMANENT: ReadonlySet<number> = new Set([
  CqlErrorCode.ProtocolError,
  CqlErrorCode.FunctionFailure,
  CqlErrorCode.SyntaxError,
  CqlErrorCode.Unauthorized,
  CqlErrorCode.Invalid,
  CqlErrorCode.ConfigError,
  CqlErrorCode.AlreadyExists,
])

/**
 * What a replayed write's ERROR means. permanent: dead-letter it and go on. transient (unavailable, overloaded, timeouts,
 * a server error, credentials Grey was refused): stop the pass and retry later, order kept; retrying is safe since the
 * write is idempotent.
 */
export function cqlReplayFailure(code: number): 'transient' | 'permanent' {
  return PERMANENT.has(code) ? 'permanent' : 'transient'
}
