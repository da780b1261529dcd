/** What calling a function means for routing. */
export interface SqlFunctionEffect {
  /** Why a statement calling it must run on the primary. */
  readonly write?: string
  /** Why the session must then stay on that backend. */
  readonly pins?: string
  /** set_config(): a SET in function form; the caller reads its arguments. */
  readonly setsConfig?: true
}

/** The configured writing functions, prepared for matching. */
export interface WritingFunctions {
  readonly entries: readonly { readonly schema: string | undefined; readonly name: string; readonly shown: string }[]
  /** Lower-case unqualified names, for the lexical path's quick and conservative check. */
  readonly names: ReadonlySet<string>
  /** Distinguishes cache entries made under different configurations. */
  readonly cacheKey: string
}

const sequence = (name: string): SqlFunctionEffect => ({ write: `${name}() changes a sequence` })
// currval/lastval answer from the backend's own memory of its last nextval(), which ran on the primary.
const sessionSequence = (name: string): SqlFunctionEffect => ({
  write: `${name}() reads the sequence state of the backend that ran nextval(), on the primary`,
})
// Advisory locks exclude each other only on one server: every client must take them on the primary.
const advisory = (name: string, scope: 'session' | 'transaction'): SqlFunctionEffect => ({
  write: `${name}() takes an advisory lock, on the primary where every client takes them`,
  ...(scope === 'session' ? { pins: `${name}() holds a session-level advisory lock until it is released` } : {}),
})
const primaryOnly = (what: string) => (name: string) => ({ write: `${name}() ${what}` })

const BUILTIN_EFFECTS = new Map<string, SqlFunctionEffect>()
const define = (names: readonly string[], effect: (name: string) => SqlFunctionEffect): void => {
  for (const name of names) BUILTIN_EFFECTS.set(name, effect(name))
}
define(['nextval', 'setval'], sequence)
define(['currval', 'lastval'], sessionSequence)
define(['pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared'], (n) =>
  advisory(n, 'session'))
define(['pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared', 'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared'], (n) =>
  advisory(n, 'transaction'))
define(['pg_advisory_unlock', 'pg_advisory_unlock_shared', 'pg_advisory_unlock_all'], primaryOnly(
  'releases advisory locks held on the primary',
))
define(['pg_notify'], primaryOnly('sends a notification, which a standby cannot'))
define(['txid_current', 'pg_current_xact_id'], primaryOnly('assigns a transaction id, which a standby cannot'))
define([
  'pg_current_wal_lsn',
  'pg_current_wal_insert_lsn',
  'pg_current_wal_flush_lsn',
  'pg_switch_wal',
  'pg_create_restore_point',
], primaryOnly("works on the primary's WAL, which a standby cannot"))
define(['pg_export_snapshot'], primaryOnly('exports a snapshot for SET TRANSACTION SNAPSHOT, both kept on the primary'))
define([
  'lo_creat',
  'lo_create',
  'lo_import',
  'lo_unlink',
  'lo_put',
  'lo_from_bytea',
  'lo_truncate',
  'lo_truncate64',
  'lowrite',
  'lo_open',
], primaryOnly('changes large objects'))
BUILTIN_EFFECTS.set('set_config', { setsConfig: true })

const compiled = new WeakMap<readonly string[], WritingFunctions>()

/** Prepares `routing.writing_functions` (names like `bump_counter` or `app.bump_counter`) once per array. */
export function compileWritingFunctions(configured: readonly string[]): WritingFunctions {
  const known = compiled.get(configured)
  if (known !== undefined) return known
  const entries = configured.map((shown) => {
    const parts = shown.toLowerCase().split('.')
    return { schema: parts.length > 1 ? parts[parts.length - 2] : undefined, name: parts[parts.length - 1]!, shown }
  })
  const result = { entries, names: new Set(entries.map((e) => e.name)), cacheKey: configured.join(',') }
  compiled.set(configured, result)
  return result
}

/**
 * The effect of calling the function named by `parts` (as the parser gives them: unquoted names folded to
 * lower case). Built-ins count when unqualified or in pg_catalog. A configured function matches by name,
 * and by schema when both sides name one; the comparison ignores case, erring towards the primary.
 */
export function sqlFunctionEffect(parts: readonly string[], writing: WritingFunctions): SqlFunctionEffect | undefined {
  const name = parts[parts.length - 1]!
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined
  if (schema === undefined || schema === 'pg_catalog') {
    const builtin = BUILTIN_EFFECTS.get(name)
    if (builtin !== undefined) return builtin
  }
  const lowerName = name.toLowerCase()
  const lowerSchema = schema?.toLowerCase()
  const entry = writing.entries.find(
    (e) => e.name === lowerName && (e.schema === undefined || lowerSchema === undefined || e.schema === lowerSchema),
  )
  return entry === undefined ? undefined : { write: `${entry.shown}() is configured as a writing function (routing.writing_functions)` }
}

/** Whether a call of `lowerName` (any schema, any case) might have an effect: the lexical path then leaves the statement to the parser. */
export function mayHaveEffect(lowerName: string, writing: WritingFunctions): boolean {
  return BUILTIN_EFFECTS.has(lowerName) || writing.names.has(lowerName)
}
