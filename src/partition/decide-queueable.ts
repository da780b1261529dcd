// Whether a write refused in a region cut off from the Raft majority may be queued instead (issue 7, item 4): pure.
// Only an autocommit single-statement INSERT/UPDATE/DELETE/MERGE can be: its answer (0 rows, a WARNING) is all a client
// can get before it runs, so nothing may depend on its result (RETURNING) or on a transaction around it.
import type { RegularMessage } from '../pg/protocol/frontend-messages.js'
import { lexSql } from '../routing/lex-sql.js'
import type { SqlClassification } from '../routing/sql-classification.js'
import { queuedParams, type QueuedParam } from './queued-write.js'

/** The command tag of a queued write: nothing was written yet, so 0 rows. */
const QUEUED_TAGS: ReadonlyMap<string, string> = new Map([
  ['InsertStmt', 'INSERT 0 0'],
  ['UpdateStmt', 'UPDATE 0'],
  ['DeleteStmt', 'DELETE 0'],
  ['MergeStmt', 'MERGE 0'],
])

export interface QueueableFlight {
  /** The flight's messages: one Query, or one Parse?/Bind/Describe?/Execute/Sync round trip. */
  readonly messages: readonly RegularMessage[]
  /** One classification per SQL text of the flight (its Query or Parse, or the prepared statement its Bind names). */
  readonly classes: readonly SqlClassification[]
  /** A transaction is open or a BEGIN is held back. */
  readonly inTransaction: boolean
  /** partition.queue.tables: writes to these tables only are queueable without the hint. */
  readonly tables: ReadonlySet<string>
  /** partition.queue.store is not none. */
  readonly storeConfigured: boolean
  /** A statement the session prepared earlier: its text and the Parse's parameter types. */
  readonly prepared: (name: string) => { readonly sql: string; readonly paramTypes: readonly number[] } | undefined
}

export type QueueDecision =
  | {
      readonly queue: true
      readonly mode: 'simple' | 'extended'
      readonly sql: string
      readonly paramTypes: readonly number[]
      readonly params: readonly QueuedParam[]
      /** The CommandComplete the client gets: 0 rows. */
      readonly tag: string
      readonly why: string
    }
  /** asked: the statement opted in (hint or configured tables) but cannot be queued, for `why`. */
  | { readonly queue: false; readonly asked: boolean; readonly why: string }

const refuse = (asked: boolean, why: string): QueueDecision => ({ queue: false, asked, why })

export function decideQueueable(f: QueueableFlight): QueueDecision {
  const c = f.classes.length === 1 ? f.classes[0]! : undefined
  const hinted = f.classes.some((k) => k.hints.queue === true)
  const byTable = c !== undefined && c.access === 'write' && c.tables.length > 0 && c.tables.every((t) => f.tables.has(t))
  if (!hinted && !byTable) return refuse(false, 'the statement did not ask to be queued')
  if (!f.storeConfigured) return refuse(true, 'this Grey has no queue (partition.queue.store is none)')
  if (c === undefined) return refuse(true, 'only a single statement can be queued, not a round trip of several')
  if (f.inTransaction) return refuse(true, 'only an autocommit statement can be queued, not one inside a transaction')
  if (c.statementKinds.length !== 1) return refuse(true, 'only a single statement can be queued, not a multi-statement query')
  const tag = QUEUED_TAGS.get(c.statementKinds[0]!)
  if (tag === undefined) return refuse(true, `only INSERT, UPDATE, DELETE and MERGE can be queued (${c.reason})`)
  const shape = flightShape(f)
  if (typeof shape === 'string') return refuse(true, shape)
  if (lexSql(shape.sql).tokens.some((t) => t.kind === 'word' && t.text.toLowerCase() === 'returning')) {
    return refuse(true, 'a statement with RETURNING cannot be queued: Grey cannot return rows it has not written')
  }
  const why = hinted ? 'the /* grey: queue */ hint' : `it writes only ${c.tables.join(', ')} (partition.queue.tables)`
  return { queue: true, ...shape, tag, why }
}

type Shape = Pick<Extract<QueueDecision, { queue: true }>, 'mode' | 'sql' | 'paramTypes' | 'params'>

/** The statement and its bound values, or why the flight is not one simple Query or one extended round trip. */
function flightShape(f: QueueableFlight): Shape | string {
  const [first] = f.messages
  if (f.messages.length === 1 && first!.type === 'Query') return { mode: 'simple', sql: first.query, paramTypes: [], params: [] }
  const notOne = 'only one Parse/Bind/Execute/Sync round trip (one statement, executed once) can be queued'
  const count = (type: RegularMessage['type']): number => f.messages.filter((m) => m.type === type).length
  const last = f.messages[f.messages.length - 1]
  if (last?.type !== 'Sync' || count('Bind') !== 1 || count('Execute') !== 1 || count('Parse') > 1) return notOne
  if (f.messages.some((m) => !['Parse', 'Bind', 'Describe', 'Execute', 'Sync'].includes(m.type))) return notOne
  const bind = f.messages.find((m) => m.type === 'Bind')!
  const execute = f.messages.find((m) => m.type === 'Execute')!
  const parse = f.messages.find((m) => m.type === 'Parse')
  if (execute.portal !== bind.portal || execute.maxRows > 0) return notOne
  if (f.messages.indexOf(bind) > f.messages.indexOf(execute)) return notOne
  const statement = parse !== undefined && parse.name === bind.statement ? { sql: parse.query, paramTypes: parse.paramTypes } : undefined
  const known = statement ?? (parse === undefined ? f.prepared(bind.statement) : undefined)
  if (known === undefined) return notOne
  return { mode: 'extended', sql: known.sql, paramTypes: [...known.paramTypes], params: queuedParams(bind.params, bind.paramFormats) }
}
