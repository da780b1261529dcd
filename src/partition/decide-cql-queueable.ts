// Whether a CQL write refused in a region cut off from the Raft majority may be queued instead (issue 7, item 4): pure.
// Only a single INSERT, UPDATE or DELETE whose replay is idempotent can be: replay relies on a write applied twice (or
// late) with its original timestamp being the same write (cql-replay-plan.ts).
import type { CqlStatementInfo } from '../cql/cql-session.js'

export interface CqlQueueableRequest {
  /** The statement as the session describes it (src/cql/cql-statement-routing.ts describeCql); the hint is its hints.queue. */
  readonly info: Pick<CqlStatementInfo, 'access' | 'kind' | 'keyspace' | 'lightweightTransaction' | 'idempotent' | 'hints'>
  /** The keyspace it runs in when it names none: the session's (QUERY) or the one it was prepared in (EXECUTE). */
  readonly sessionKeyspace: string | null
  /** partition.queue.keyspaces: writes to these keyspaces are queueable without the hint. */
  readonly keyspaces: ReadonlySet<string>
  /** partition.queue.store is not none. */
  readonly storeConfigured: boolean
  /** The connection's protocol version. */
  readonly version: number
}

export type CqlQueueDecision =
  | { readonly queue: true; readonly keyspace: string; readonly why: string }
  /** asked: the write opted in (hint or configured keyspaces) but cannot be queued, for `why`. */
  | { readonly queue: false; readonly asked: boolean; readonly why: string }

const QUEUEABLE_KINDS: ReadonlySet<string> = new Set(['insert', 'update', 'delete'])

const refuse = (asked: boolean, why: string): CqlQueueDecision => ({ queue: false, asked, why })

export function decideCqlQueueable(r: CqlQueueableRequest): CqlQueueDecision {
  const { info } = r
  const keyspace = info.keyspace ?? r.sessionKeyspace
  const hinted = info.hints.queue === true
  const byKeyspace = info.access === 'write' && keyspace !== null && r.keyspaces.has(keyspace)
  if (!hinted && !byKeyspace) return refuse(false, 'the statement did not ask to be queued')
  if (!r.storeConfigured) return refuse(true, 'this Grey has no queue (partition.queue.store is none)')
  if (info.kind === 'batch') return refuse(true, 'a BATCH cannot be queued; send its statements one by one')
  if (!QUEUEABLE_KINDS.has(info.kind)) return refuse(true, `only INSERT, UPDATE and DELETE can be queued, not ${info.kind}`)
  if (info.lightweightTransaction) {
    return refuse(
      true,
      'a lightweight transaction (IF …) cannot be queued: its condition is decided by a Paxos round with the majority now, ' +
        'and a replay later could neither report whether it applied nor be repeated safely',
    )
  }
  if (!info.idempotent) {
    return refuse(
      true,
      'a counter update or a collection addition or removal (x = x + …) cannot be queued: it is not idempotent, ' +
        'and a replay must be the same write however often it runs',
    )
  }
  if (keyspace === null) return refuse(true, 'it names no keyspace and the session has none (USE one or qualify the table)')
  // v4 spec §2.2: warnings exist from v4 on. Without one the answer would look committed.
  if (r.version < 4) return refuse(true, 'protocol v3 has no warnings to say it is only queued; connect with protocol v4')
  const why = hinted ? 'the /* grey: queue */ hint' : `it writes to keyspace ${keyspace} (partition.queue.keyspaces)`
  return { queue: true, keyspace, why }
}
