// How queued writes are replayed on heal, exactly once and in HLC order: pure. Each write runs in one transaction that
// first records its id in the marker table; a write whose id is already there (replayed before a crash removed it from
// the queue) is skipped, so a replay can be repeated safely.
import type { PgQueuedWrite, QueuedWrite } from './queued-write.js'
import { sqlLiteral } from '../routing/sql-literal.js'

/** The marker table, in the application database; created by Grey when missing. */
export const APPLIED_TABLE = 'grey_queue_applied'
export const CREATE_APPLIED_TABLE =
  `CREATE TABLE IF NOT EXISTS ${APPLIED_TABLE} ` +
  '(id text PRIMARY KEY, hlc text NOT NULL, region text NOT NULL, queued_at timestamptz, applied_at timestamptz NOT NULL DEFAULT now())'

/** The WARNING a queued write is answered with: class 01 (warning), subclass GQ (Grey, queued). */
export const QUEUED_SQLSTATE = '01GQ0'

/** HLC order; the id breaks ties (two Greys can issue the same stamp). */
export function replayOrder<W extends Pick<QueuedWrite, 'id' | 'hlc'>>(writes: readonly W[]): W[] {
  return [...writes].sort((a, b) => (a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/**
 * The simple query that opens a write's replay: BEGIN, the original HLC as grey.hlc (triggers and defaults can read
 * it with current_setting('grey.hlc', true)), the session's settings for this transaction only, and the marker row.
 * Its last CommandComplete is `INSERT 0 1` when the write is new, `INSERT 0 0` when it was replayed already.
 */
export function replayPrelude(write: PgQueuedWrite): string {
  const local = write.settings.map((s) => s.replace(/^SET /i, 'SET LOCAL '))
  return [
    'BEGIN',
    `SET LOCAL grey.hlc = ${sqlLiteral(write.hlc)}`,
    ...local,
    `INSERT INTO ${APPLIED_TABLE} (id, hlc, region, queued_at) VALUES (${sqlLiteral(write.id)}, ${sqlLiteral(write.hlc)}, ` +
      `${sqlLiteral(write.region)}, ${sqlLiteral(write.queuedAt)}) ON CONFLICT (id) DO NOTHING`,
  ].join('; ')
}

/** Whether the prelude's marker insert was new (its CommandComplete tag). */
export const markerIsNew = (tag: string | undefined): boolean => tag === 'INSERT 0 1'

/**
 * What a failed replay step means. transient: the connection or the server's state (lost connection, read-only
 * standby, shutdown, lock or serialization conflict, out of resources): stop and retry later, order kept. permanent: the
 * statement itself cannot succeed (constraint, data, syntax, permission): dead-letter it and go on.
 */
export function replayFailure(sqlState: string | null): 'transient' | 'permanent' {
  if (sqlState === null) return 'transient'
  const transientClasses = ['08', '40', '53', '55', '57', '58', 'XX']
  if (transientClasses.includes(sqlState.slice(0, 2)) || sqlState === '25006') return 'transient'
  return 'permanent'
}

/** The warning's sentence for the client whose write was queued (a PostgreSQL WARNING, a CQL v4 warning). */
export function queuedMessage(region: string, write: Pick<QueuedWrite, 'id' | 'hlc'> & { readonly timestampMicros?: string }): string {
  const timestamp = write.timestampMicros === undefined ? '' : `, write timestamp ${write.timestampMicros}`
  return (
    `grey: queued, not committed: ${region} is cut off from the Raft majority; the write (id ${write.id}, HLC ${write.hlc}${timestamp}) ` +
    'will be applied once the region rejoins. Do not count it as committed'
  )
}

/** How a write opts in to the queue, by protocol. */
const OPT_IN = {
  pg: 'A single autocommit INSERT, UPDATE, DELETE or MERGE marked /* grey: queue */ is queued here and applied on rejoin',
  cql:
    'A single INSERT, UPDATE or DELETE (not a batch, a lightweight transaction or a counter update) marked /* grey: queue */, ' +
    'or one in a keyspace of partition.queue.keyspaces, is queued here and applied on rejoin',
} as const

/** What the refusal (PostgreSQL 25006, CQL server error) adds about the queue: how to opt in, or why this write could not be queued. */
export function fenceQueueAdvice(
  decision: { asked: boolean; why: string },
  storeConfigured: boolean,
  protocol: QueuedWrite['protocol'] = 'pg',
): string {
  if (decision.asked) return `. This write asked to be queued but cannot be: ${decision.why}`
  if (!storeConfigured) return ''
  return `. ${OPT_IN[protocol]}`
}
