import type { LexedSql, SqlToken } from './lex-sql.js'
import {
  DML_WRITES,
  relationName,
  SELECT_READS,
  setClass,
  showClass,
  statementClass,
  statementSql,
  transactionClass,
  type StatementClass,
  type TransactionControl,
} from './sql-classification.js'
import { mayHaveEffect, type WritingFunctions } from './sql-function-effect.js'

// PostgreSQL 18's RESERVED_KEYWORD and TYPE_FUNC_NAME_KEYWORD lists (kwlist.h): words that cannot be a
// table name, an alias without AS, or a setting's name.
export const PG_RESERVED_WORDS: ReadonlySet<string> = new Set(
  (
    'all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create current_catalog ' +
    'current_date current_role current_time current_timestamp current_user default deferrable desc distinct do else end except ' +
    'false fetch for foreign from grant group having in initially intersect into lateral leading limit localtime localtimestamp ' +
    'not null offset on only or order placing primary references returning select session_user some symmetric system_user table ' +
    'then to trailing true union unique user using variadic when where window with ' +
    'authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left like natural ' +
    'notnull outer overlaps right similar tablesample verbose'
  ).split(' '),
)

// Words that send a statement of that kind to the parser when they occur after its first word: they may
// lock rows, create a table, or bring in another relation (subqueries, joins, USING, FROM).
const SELECT_DECLINES = ['select', 'for', 'into', 'table', 'values', 'join', 'insert', 'update', 'delete', 'merge']
const DML_DECLINES = ['select', 'table', 'with', 'for', 'using', 'join', 'insert', 'delete', 'merge']
const INSERT_DECLINES = [...DML_DECLINES, 'from']
const UPDATE_DECLINES = [...DML_DECLINES, 'from', 'into', 'values', 'update']
const DELETE_DECLINES = [...DML_DECLINES, 'into', 'values', 'update']
const CLAUSES_AFTER_FROM = new Set(['where', 'group', 'order', 'limit', 'offset', 'having', 'window', 'fetch'])
// SET TIME ZONE, SET SESSION AUTHORIZATION, SET TRANSACTION …: forms with their own grammar.
const SPECIAL_SETTINGS = new Set(['local', 'session', 'time', 'transaction', 'names', 'schema', 'catalog', 'xml', 'constraints', 'role'])

const NON_ASCII = /[^\x00-\x7f]/
// PostgreSQL folds only ASCII letters of unquoted names (in multi-byte encodings such as UTF-8).
const lower = (text: string): string =>
  NON_ASCII.test(text) ? text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase()) : text.toLowerCase()
// Identifiers longer than NAMEDATALEN - 1 = 63 bytes are truncated by the scanner; leave those to it.
const fitsName = (name: string): boolean => name !== '' && (name.length <= 21 || Buffer.byteLength(name) <= 63)

/** Reads tokens left to right; words compare case-insensitively, as PostgreSQL folds unquoted names. */
class TokenReader {
  index = 0
  constructor(
    readonly tokens: readonly SqlToken[],
    readonly end: number,
  ) {}

  get atEnd(): boolean {
    return this.index >= this.end
  }

  /** The next token as a lower-case word, or undefined when it is not a word. */
  peekWord(): string | undefined {
    const token = this.tokens[this.index]
    return this.index < this.end && token!.kind === 'word' ? lower(token!.text) : undefined
  }

  accept(...words: string[]): string | undefined {
    const word = this.peekWord()
    if (word === undefined || !words.includes(word)) return undefined
    this.index++
    return word
  }

  acceptPunct(text: string): boolean {
    if (this.index >= this.end || this.tokens[this.index]!.text !== text || this.tokens[this.index]!.kind !== 'punct') return false
    this.index++
    return true
  }

  /** A name: an unreserved word folded to lower case, or a double-quoted identifier. */
  identifier(): string | undefined {
    if (this.index >= this.end) return undefined
    const token = this.tokens[this.index]!
    let name: string | undefined
    if (token.kind === 'word' && !PG_RESERVED_WORDS.has(lower(token.text))) name = lower(token.text)
    else if (token.kind === 'quoted' && token.text.startsWith('"')) name = token.text.slice(1, -1).replaceAll('""', '"')
    if (name === undefined || !fitsName(name)) return undefined
    this.index++
    return name
  }

  /** name, schema.name or catalog.schema.name */
  qualifiedName(): string[] | undefined {
    const parts: string[] = []
    do {
      const part = this.identifier()
      if (part === undefined) return undefined
      parts.push(part)
    } while (parts.length < 3 && this.acceptPunct('.'))
    return parts
  }

  /** `[AS] alias` where the grammar allows an alias without AS; true when there was none or a valid one. */
  alias(withoutAs: boolean): boolean {
    if (this.accept('as') !== undefined) return this.identifier() !== undefined
    if (withoutAs) this.identifier()
    return true
  }
}

interface Survey {
  /** How often each word of interest occurs after the first token. */
  readonly counts: Map<string, number>
  /** Index of the first FROM outside parentheses, or -1. */
  readonly topLevelFrom: number
  /** A call of a function that might write, lock, or change a setting. */
  readonly suspiciousCall: boolean
}

const WORDS_OF_INTEREST = new Set([...SELECT_DECLINES, ...INSERT_DECLINES, ...UPDATE_DECLINES])

function survey(tokens: readonly SqlToken[], end: number, writing: WritingFunctions): Survey {
  const counts = new Map<string, number>()
  let depth = 0
  let topLevelFrom = -1
  let suspiciousCall = false
  for (let i = 1; i < end; i++) {
    const token = tokens[i]!
    if (token.kind === 'punct') {
      if (token.text === '(') depth++
      else if (token.text === ')') depth--
      continue
    }
    if (token.kind !== 'word' && token.kind !== 'quoted') continue
    // Any case and any quoting: a superset of the names the parser path will match.
    const called = tokens[i + 1]?.text === '(' ? token.text.replace(/^[^"]*"|"$/g, '').toLowerCase() : undefined
    if (called !== undefined && mayHaveEffect(called, writing)) suspiciousCall = true
    const name = lower(token.text)
    if (token.kind === 'quoted' || !WORDS_OF_INTEREST.has(name)) continue
    counts.set(name, (counts.get(name) ?? 0) + 1)
    if (name === 'from' && depth === 0 && topLevelFrom < 0) topLevelFrom = i
  }
  return { counts, topLevelFrom, suspiciousCall }
}

const hasAny = (counts: Map<string, number>, words: readonly string[]): boolean => words.some((word) => counts.has(word))

/** SELECT … [FROM one_relation [[AS] alias] [WHERE|GROUP|ORDER|LIMIT|OFFSET|HAVING|WINDOW|FETCH …]] */
function lexicalSelect(reader: TokenReader, facts: Survey): StatementClass | null {
  const fromCount = facts.counts.get('from') ?? 0
  if (hasAny(facts.counts, SELECT_DECLINES) || fromCount > 1) return null
  // No FROM clause; a FROM inside parentheses belongs to EXTRACT(… FROM …), SUBSTRING, TRIM and the like.
  if (fromCount === 0 || facts.topLevelFrom < 0) return statementClass('SelectStmt', 'read', SELECT_READS)
  // `x IS [NOT] DISTINCT FROM y` is not a FROM clause.
  if (reader.tokens[facts.topLevelFrom - 1]?.kind === 'word' && lower(reader.tokens[facts.topLevelFrom - 1]!.text) === 'distinct')
    return null
  reader.index = facts.topLevelFrom + 1
  const relation = reader.qualifiedName()
  if (relation === undefined || !reader.alias(true)) return null
  if (!reader.atEnd && !CLAUSES_AFTER_FROM.has(reader.peekWord() ?? '')) return null
  return statementClass('SelectStmt', 'read', SELECT_READS, { tables: [relationName(relation)] })
}

/** INSERT INTO relation [AS alias] {(columns) | VALUES | DEFAULT VALUES | OVERRIDING} … without subqueries. */
function lexicalInsert(reader: TokenReader, facts: Survey): StatementClass | null {
  if (hasAny(facts.counts, INSERT_DECLINES) || facts.counts.get('into') !== 1 || reader.accept('into') === undefined) return null
  const relation = reader.qualifiedName()
  if (relation === undefined || !reader.alias(false)) return null
  if (!reader.acceptPunct('(') && reader.accept('values', 'default', 'overriding') === undefined) return null
  return statementClass('InsertStmt', 'write', DML_WRITES.InsertStmt, { tables: [relationName(relation)] })
}

/** UPDATE relation [[AS] alias] SET … without FROM or subqueries. */
function lexicalUpdate(reader: TokenReader, facts: Survey): StatementClass | null {
  if (hasAny(facts.counts, UPDATE_DECLINES)) return null
  const relation = reader.qualifiedName()
  if (relation === undefined) return null
  if (reader.peekWord() !== 'set' && !reader.alias(true)) return null
  if (reader.accept('set') === undefined) return null
  return statementClass('UpdateStmt', 'write', DML_WRITES.UpdateStmt, { tables: [relationName(relation)] })
}

/** DELETE FROM relation [[AS] alias] [WHERE …] [RETURNING …] without USING or subqueries. */
function lexicalDelete(reader: TokenReader, facts: Survey): StatementClass | null {
  if (hasAny(facts.counts, DELETE_DECLINES) || facts.counts.get('from') !== 1 || reader.accept('from') === undefined) return null
  const relation = reader.qualifiedName()
  if (relation === undefined || !reader.alias(true)) return null
  if (!reader.atEnd && reader.accept('where', 'returning') === undefined) return null
  return statementClass('DeleteStmt', 'write', DML_WRITES.DeleteStmt, { tables: [relationName(relation)] })
}

type Modes = { -readonly [K in 'readOnly' | 'isolation' | 'deferrable']?: TransactionControl[K] }

/** BEGIN/START TRANSACTION modes: ISOLATION LEVEL …, READ ONLY|WRITE, [NOT] DEFERRABLE, with optional commas. */
function transactionModes(reader: TokenReader): Modes | null {
  const modes: Modes = {}
  let separated = false
  while (!reader.atEnd || separated) {
    if (reader.accept('isolation') !== undefined) {
      if (reader.accept('level') === undefined) return null
      const level = reader.accept('serializable', 'repeatable', 'read')
      const detail = level === 'repeatable' ? reader.accept('read') : level === 'read' ? reader.accept('committed', 'uncommitted') : level
      if (detail === undefined) return null
      modes.isolation = level === 'serializable' ? level : `${level} ${detail}`
    } else if (reader.accept('read') !== undefined) {
      const access = reader.accept('only', 'write')
      if (access === undefined) return null
      modes.readOnly = access === 'only'
    } else if (reader.accept('deferrable') !== undefined) modes.deferrable = true
    else if (reader.accept('not') !== undefined && reader.accept('deferrable') !== undefined) modes.deferrable = false
    else return null
    separated = reader.acceptPunct(',')
  }
  return modes
}

function lexicalBegin(reader: TokenReader, start: boolean): StatementClass | null {
  if (start) {
    if (reader.accept('transaction') === undefined) return null
  } else reader.accept('work', 'transaction')
  const modes = transactionModes(reader)
  return modes === null ? null : transactionClass('TransactionStmt', { kind: 'begin', ...modes })
}

/** COMMIT/END/ROLLBACK/ABORT [WORK|TRANSACTION] [AND [NO] CHAIN]; savepoints and two-phase forms go to the parser. */
function lexicalEnd(reader: TokenReader, kind: 'commit' | 'rollback'): StatementClass | null {
  reader.accept('work', 'transaction')
  let chain = false
  if (reader.accept('and') !== undefined) {
    const no = reader.accept('no') !== undefined
    if (reader.accept('chain') === undefined) return null
    chain = !no
  }
  if (!reader.atEnd) return null
  return transactionClass('TransactionStmt', { kind, ...(chain ? { chain } : {}) })
}

/** A dotted setting name: grey.consistency, statement_timeout. */
function settingName(reader: TokenReader): string | undefined {
  const parts: string[] = []
  do {
    const part = reader.peekWord() === undefined ? undefined : reader.identifier()
    if (part === undefined) return undefined
    parts.push(part)
  } while (reader.acceptPunct('.'))
  return SPECIAL_SETTINGS.has(parts[0]!) ? undefined : parts.join('.')
}

/** SET [LOCAL] name {TO|=} one value: a plain string, a small integer, on/off/true/false, or DEFAULT. */
function lexicalSet(reader: TokenReader, code: string): StatementClass | null {
  const local = reader.accept('local') !== undefined
  const name = settingName(reader)
  if (name === undefined || (reader.accept('to') === undefined && !reader.acceptPunct('='))) return null
  if (reader.atEnd) return null
  const token = reader.tokens[reader.index++]!
  if (!reader.atEnd) return null
  let value: string | undefined
  if (token.kind === 'string' && token.text.startsWith("'")) value = token.text.slice(1, -1).replaceAll("''", "'")
  else if (token.kind === 'number' && /^(0|[1-9][0-9]{0,8})$/.test(token.text)) value = token.text
  else if (token.kind === 'word' && ['on', 'off', 'true', 'false', 'default'].includes(lower(token.text))) value = lower(token.text)
  if (value === undefined) return null
  const reset = value === 'default' && token.kind === 'word'
  return setClass('VariableSetStmt', name, reset ? null : value, local, reset, statementSql(code))
}

function lexicalShow(reader: TokenReader): StatementClass | null {
  const name = reader.accept('all') ?? settingName(reader)
  return name === undefined || !reader.atEnd ? null : showClass('VariableShowStmt', name)
}

/**
 * Classifies the most common statements from their tokens alone, or returns null to leave the statement
 * to the parser. It answers only when the parser would give the very same class: one statement, no call
 * of a function that might write or lock, no subquery, join, locking clause or INTO, and only grammar
 * simple enough to read here.
 */
export function classifyLexically(lexed: LexedSql, writing: WritingFunctions): StatementClass | null {
  const { tokens } = lexed
  let end = tokens.length
  while (end > 0 && tokens[end - 1]!.kind === 'punct' && tokens[end - 1]!.text === ';') end--
  if (!lexed.complete || end === 0 || tokens[0]!.kind !== 'word') return null
  for (let i = 0; i < end; i++) if (tokens[i]!.kind === 'punct' && tokens[i]!.text === ';') return null
  const facts = survey(tokens, end, writing)
  if (facts.suspiciousCall) return null
  const reader = new TokenReader(tokens, end)
  reader.index = 1
  switch (lower(tokens[0]!.text)) {
    case 'select':
      return lexicalSelect(reader, facts)
    case 'insert':
      return lexicalInsert(reader, facts)
    case 'update':
      return lexicalUpdate(reader, facts)
    case 'delete':
      return lexicalDelete(reader, facts)
    case 'begin':
      return lexicalBegin(reader, false)
    case 'start':
      return lexicalBegin(reader, true)
    case 'commit':
    case 'end':
      return lexicalEnd(reader, 'commit')
    case 'rollback':
    case 'abort':
      return lexicalEnd(reader, 'rollback')
    case 'set':
      return lexicalSet(reader, lexed.code)
    case 'show':
      return lexicalShow(reader)
    default:
      return null
  }
}
