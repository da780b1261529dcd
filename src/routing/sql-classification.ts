import { didYouMean } from '../config/did-you-mean.js'
import { checkGreyHint, type GreyHints } from './grey-hints.js'

export type SqlAccess = 'read' | 'write'

export type TransactionKind =
  | 'begin'
  | 'commit'
  | 'rollback'
  | 'savepoint'
  | 'release'
  | 'rollback_to'
  | 'prepare_transaction'
  | 'commit_prepared'
  | 'rollback_prepared'
  | 'set_transaction'
  | 'set_transaction_snapshot'
  | 'set_constraints'

/** A transaction-control statement: BEGIN/START TRANSACTION (kind begin), COMMIT/END, ROLLBACK/ABORT, SET TRANSACTION, … */
export interface TransactionControl {
  readonly kind: TransactionKind
  /** READ ONLY (true) or READ WRITE (false); absent when not said. */
  readonly readOnly?: boolean
  /** 'serializable' | 'repeatable read' | 'read committed' | 'read uncommitted' */
  readonly isolation?: string
  readonly deferrable?: boolean
  /** COMMIT AND CHAIN / ROLLBACK AND CHAIN start a new transaction with the same characteristics. */
  readonly chain?: boolean
  /** The savepoint, or the global id of a two-phase transaction. */
  readonly name?: string
}

/**
 * A change of session state that the proxy records and replays, in order, on every backend the session
 * uses. `sql` is the statement to replay (comments stripped). A `local` change lasts until the end of the
 * transaction, which stays on one backend anyway.
 */
export type SessionChange =
  | {
      readonly kind: 'set'
      readonly name: string
      /** The value as text (a list joined with ", "); null when it is not a plain constant: replay `sql`. */
      readonly value: string | null
      readonly local: boolean
      readonly sql: string
    }
  | { readonly kind: 'reset'; readonly name: string; readonly local: boolean; readonly sql: string }
  | { readonly kind: 'reset_all'; readonly sql: string }
  | { readonly kind: 'discard'; readonly what: 'all' | 'plans' | 'sequences' | 'temp'; readonly sql: string }
  | {
      readonly kind: 'session_characteristics'
      readonly readOnly?: boolean
      readonly isolation?: string
      readonly deferrable?: boolean
      readonly sql: string
    }

/** `SET grey.*`, `RESET grey.*`, `SHOW grey.*`: answered by the proxy, never sent to a server. */
export interface GreySetting {
  readonly action: 'set' | 'reset' | 'show'
  /** Lower case, with the prefix: 'grey.consistency'. */
  readonly name: string
  readonly value?: string
  readonly local?: boolean
  /** Why the proxy must refuse the statement (a sentence naming the fix); absent when it is fine. */
  readonly problem?: string
}

/** What a statement (or a multi-statement query, merged) does: everything but the hints, so it can be cached. */
export interface StatementClass {
  readonly access: SqlAccess
  /** libpg-query node names, one per statement: ['SelectStmt'], ['VariableSetStmt', 'InsertStmt']. */
  readonly statementKinds: readonly string[]
  /** Why the statement reads or writes, for the debug log and the routing metric's reason. */
  readonly reason: string
  /** Relations named in the statement, as PostgreSQL would print them: `orders`, `billing.invoices`, `"Order"`. */
  readonly tables: readonly string[]
  /** The last transaction-control statement, if any. */
  readonly transaction: TransactionControl | null
  readonly session: readonly SessionChange[]
  /** Why the session must stay on the backend that runs this statement, or null. */
  readonly pins: string | null
  readonly greySetting: GreySetting | null
}

export interface SqlClassification extends StatementClass {
  readonly hints: GreyHints
  /** Whether the fast lexical path or the PostgreSQL parser (perhaps through the cache) decided. */
  readonly source: 'lexical' | 'parser'
}

// Objects are built field by field, always in the same order, so that they share one hidden class: spreading
// a partial object in costs microseconds on the hot path.
export function statementClass(kind: string, access: SqlAccess, reason: string, more: Partial<StatementClass> = {}): StatementClass {
  return {
    access,
    statementKinds: more.statementKinds ?? [kind],
    reason,
    tables: more.tables ?? [],
    transaction: more.transaction ?? null,
    session: more.session ?? [],
    pins: more.pins ?? null,
    greySetting: more.greySetting ?? null,
  }
}

/** A statement's class with the hints of its text and the path that classified it. */
export function sqlClassification(c: StatementClass, hints: GreyHints, source: SqlClassification['source']): SqlClassification {
  const { access, statementKinds, reason, tables, transaction, session, pins, greySetting } = c
  return { access, statementKinds, reason, tables, transaction, session, pins, greySetting, hints, source }
}

export const SELECT_READS = 'SELECT reads'
export const DML_WRITES = {
  InsertStmt: 'INSERT writes',
  UpdateStmt: 'UPDATE writes',
  DeleteStmt: 'DELETE writes',
  MergeStmt: 'MERGE writes',
}

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_$]*$/

/** A relation name as PostgreSQL prints it: each part double-quoted only when it must be. */
export function relationName(parts: readonly string[]): string {
  return parts.map((part) => (PLAIN_IDENTIFIER.test(part) ? part : `"${part.replaceAll('"', '""')}"`)).join('.')
}

const TRANSACTION_REASONS: Record<TransactionKind, string> = {
  begin: 'starts a transaction',
  commit: 'ends the transaction (COMMIT)',
  rollback: 'ends the transaction (ROLLBACK)',
  savepoint: 'sets a savepoint in the transaction',
  release: 'releases a savepoint of the transaction',
  rollback_to: 'rolls back to a savepoint of the transaction',
  prepare_transaction: 'PREPARE TRANSACTION keeps a two-phase transaction on the primary',
  commit_prepared: 'COMMIT PREPARED finishes a two-phase transaction, kept on the primary',
  rollback_prepared: 'ROLLBACK PREPARED finishes a two-phase transaction, kept on the primary',
  set_transaction: 'SET TRANSACTION sets the characteristics of the transaction',
  set_transaction_snapshot: 'SET TRANSACTION SNAPSHOT imports a snapshot exported on the primary',
  set_constraints: 'SET CONSTRAINTS changes when the transaction checks constraints',
}
const WRITING_TRANSACTION_KINDS: ReadonlySet<TransactionKind> = new Set([
  'prepare_transaction',
  'commit_prepared',
  'rollback_prepared',
  'set_transaction_snapshot',
])

export function transactionClass(kind: string, transaction: TransactionControl): StatementClass {
  let reason = TRANSACTION_REASONS[transaction.kind]
  if (transaction.readOnly !== undefined) reason += transaction.readOnly ? ', READ ONLY' : ', READ WRITE'
  if (transaction.chain === true) reason += ' and starts the next one (AND CHAIN)'
  return statementClass(kind, WRITING_TRANSACTION_KINDS.has(transaction.kind) ? 'write' : 'read', reason, { transaction })
}

const GREY_SETTABLE = ['consistency', 'max_staleness', 'after', 'key', 'route']
const GREY_SHOWABLE = [...GREY_SETTABLE, 'token']

function greyProblem(action: GreySetting['action'], key: string, value: string | null): string | undefined {
  const known = action === 'show' ? GREY_SHOWABLE : GREY_SETTABLE
  if (key === 'token' && action !== 'show') {
    return `grey.token is read-only: SHOW grey.token reads it, and SET grey.after = '<token>' carries it to another connection`
  }
  if (key === 'queue') return `grey.queue is not a session setting: mark each write that may be queued with /* grey: queue */`
  if (!known.includes(key)) {
    const near = didYouMean(key, known)
    return `unknown setting grey.${key}${near === undefined ? '' : ` (did you mean grey.${near}?)`}; grey settings are ${known.map((k) => `grey.${k}`).join(', ')}`
  }
  if (action !== 'set') return undefined
  if (value === null) return `SET grey.${key} takes one constant value, like SET grey.consistency = 'strong'`
  const checked = checkGreyHint(key, value, 'setting')
  return 'problem' in checked ? checked.problem : undefined
}

export function greySettingClass(
  kind: string,
  action: GreySetting['action'],
  name: string,
  value: string | null,
  local: boolean,
): StatementClass {
  const problem = greyProblem(action, name.slice('grey.'.length), value)
  const verb = action.toUpperCase()
  const greySetting: GreySetting = {
    action,
    name,
    ...(action === 'set' && value !== null ? { value } : {}),
    ...(local ? { local } : {}),
    ...(problem === undefined ? {} : { problem }),
  }
  return statementClass(kind, 'read', `${verb} ${name} is answered by the proxy, not sent to a server`, { greySetting })
}

/** SET name = value, SET LOCAL, SET … TO DEFAULT and RESET name; grey.* settings go to the proxy. */
export function setClass(kind: string, name: string, value: string | null, local: boolean, reset: boolean, sql: string): StatementClass {
  if (name.startsWith('grey.')) return greySettingClass(kind, reset ? 'reset' : 'set', name, value, local)
  const change: SessionChange = reset ? { kind: 'reset', name, local, sql } : { kind: 'set', name, value, local, sql }
  const verb = reset ? 'RESET' : 'SET'
  const reason = local
    ? `${verb} LOCAL ${name} changes the transaction only`
    : `${verb} ${name} changes session state, replayed on each backend the session uses`
  return statementClass(kind, 'read', reason, { session: [change] })
}

export function showClass(kind: string, name: string): StatementClass {
  if (name.startsWith('grey.')) return greySettingClass(kind, 'show', name, null, false)
  return statementClass(kind, 'read', `SHOW ${name} reads a setting`)
}

/** One class for a multi-statement query: it writes when any statement writes (the first such gives the reason). */
export function mergeStatementClasses(classes: readonly StatementClass[]): StatementClass {
  const first = classes[0]
  if (first === undefined) return statementClass('', 'read', 'empty query', { statementKinds: [] })
  if (classes.length === 1) return first
  const writer = classes.findIndex((c) => c.access === 'write')
  const tables = new Set<string>()
  const session: SessionChange[] = []
  let transaction: TransactionControl | null = null
  let pins: string | null = null
  let greySetting: GreySetting | null = null
  for (const c of classes) {
    for (const table of c.tables) tables.add(table)
    session.push(...c.session)
    transaction = c.transaction ?? transaction
    pins ??= c.pins
    greySetting ??= c.greySetting
  }
  if (greySetting !== null) {
    const problem = `${greySetting.action.toUpperCase()} ${greySetting.name} must be sent as a query of its own, not inside a multi-statement query`
    greySetting = { ...greySetting, problem }
  }
  return {
    access: writer < 0 ? 'read' : 'write',
    statementKinds: classes.flatMap((c) => c.statementKinds),
    reason:
      writer < 0 ? `all ${classes.length} statements read` : `statement ${writer + 1} of ${classes.length}: ${classes[writer]!.reason}`,
    tables: [...tables],
    transaction,
    session,
    pins,
    greySetting,
  }
}

/** A statement's text without the semicolons and whitespace around it: what a session change replays. */
export function statementSql(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && isSeparator(text.charCodeAt(start))) start++
  while (end > start && isSeparator(text.charCodeAt(end - 1))) end--
  return start === 0 && end === text.length ? text : text.slice(start, end)
}
// `;` and the whitespace lexSql leaves: space and newline.
const isSeparator = (c: number): boolean => c === 59 || c === 32 || c === 10
