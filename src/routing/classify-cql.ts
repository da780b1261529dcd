import { readGreyHints, type GreyHints } from './grey-hints.js'
import { lexCql, type CqlToken } from './lex-cql.js'
import { LruCache } from './lru-cache.js'

export type CqlStatementKind = 'select' | 'insert' | 'update' | 'delete' | 'batch' | 'use' | 'ddl' | 'dcl' | 'other'
/** The peer tables a driver reads to discover the cluster; the proxy answers them itself (ARCHITECTURE §5). */
export type CqlSystemTable = 'local' | 'peers' | 'peers_v2'
export type CqlBatchType = 'logged' | 'unlogged' | 'counter'

/** What one CQL request's text does, for routing and write stamping. */
export interface CqlClassification {
  readonly kind: CqlStatementKind
  /** DDL, DCL, TRUNCATE and anything not understood are writes. */
  readonly access: 'read' | 'write'
  /** The keyspace the statement names (`ks.tbl`, `CREATE KEYSPACE ks`); null when it relies on the connection's keyspace. */
  readonly keyspace: string | null
  /** The table, view or (for CREATE INDEX and triggers) indexed table the statement names; for a batch, only when all its statements name the same one. */
  readonly table: string | null
  /** USE: the keyspace the connection switches to. */
  readonly useKeyspace: string | null
  /** The statement, one statement of a batch, or the batch itself says USING TIMESTAMP: Grey must not stamp it. */
  readonly hasUsingTimestamp: boolean
  /** INSERT … IF NOT EXISTS, UPDATE/DELETE … IF …, or a batch holding one: a Paxos round, where SERIAL consistency matters. */
  readonly lightweightTransaction: boolean
  /** SELECT from system.local, system.peers or system.peers_v2. */
  readonly systemTable: CqlSystemTable | null
  /** The statement names a table of system_schema (schema queries go to a backend). */
  readonly schemaTable: boolean
  readonly batchType: CqlBatchType | null
  readonly hints: GreyHints
  /** A short sentence for the debug log. */
  readonly reason: string
}

type Statement = Omit<CqlClassification, 'hints'>

export const DEFAULT_CQL_CACHE_ENTRIES = 10_000
/** Longer texts (big batches, mostly) are classified every time rather than crowding the cache. */
export const MAX_CACHED_CQL_LENGTH = 16_384

const sharedCache = new LruCache<string, CqlClassification>(DEFAULT_CQL_CACHE_ENTRIES)

// ReservedKeywords.java (Cassandra 5.0): words that cannot be an unquoted keyspace, table or column name.
const RESERVED = new Set(
  (
    'add allow alter and apply asc authorize batch begin by columnfamily create default delete desc describe drop entries ' +
    'execute for from full grant if in index infinity insert into is keyspace limit materialized mbean mbeans modify nan ' +
    'norecursive not null of on or order primary rename replace restrict revoke schema select set table to token truncate ' +
    'unlogged unrestrict unset update use using view where with'
  ).split(' '),
)
const SYSTEM_TABLES: ReadonlySet<string> = new Set<CqlSystemTable>(['local', 'peers', 'peers_v2'])
const DML_VERBS: ReadonlySet<string> = new Set(['insert', 'update', 'delete'])
const ROLE_OBJECTS: ReadonlySet<string> = new Set(['role', 'user'])
const TABLE_OBJECTS: ReadonlySet<string> = new Set(['table', 'columnfamily', 'materialized view'])
const SCHEMA_OBJECTS = ['keyspace', 'schema', 'table', 'columnfamily', 'type', 'index', 'function', 'aggregate', 'trigger', 'role', 'user']

function statement(kind: CqlStatementKind, access: Statement['access'], reason: string, more: Partial<Statement> = {}): Statement {
  return {
    kind,
    access,
    keyspace: more.keyspace ?? null,
    table: more.table ?? null,
    useKeyspace: more.useKeyspace ?? null,
    hasUsingTimestamp: more.hasUsingTimestamp ?? false,
    lightweightTransaction: more.lightweightTransaction ?? false,
    systemTable: more.systemTable ?? null,
    schemaTable: more.schemaTable ?? false,
    batchType: more.batchType ?? null,
    reason,
  }
}

const unknown = (reason: string): Statement => statement('other', 'write', `${reason}; routed as a write`)

interface QualifiedName {
  readonly keyspace: string | null
  readonly name: string
}

/** Reads tokens left to right in [index, end); keywords compare case-insensitively. */
class CqlReader {
  constructor(
    readonly tokens: readonly CqlToken[],
    public index: number,
    readonly end: number,
  ) {}

  get atEnd(): boolean {
    return this.index >= this.end
  }

  /** The next token as a lower-case word, or undefined when it is not an unquoted word. */
  peekWord(): string | undefined {
    const token = this.tokens[this.index]
    return this.index < this.end && token!.kind === 'word' ? token!.text.toLowerCase() : undefined
  }

  accept(...words: string[]): string | undefined {
    const word = this.peekWord()
    if (word === undefined || !words.includes(word)) return undefined
    this.index++
    return word
  }

  acceptPunct(text: string): boolean {
    if (this.atEnd || this.tokens[this.index]!.kind !== 'punct' || this.tokens[this.index]!.text !== text) return false
    this.index++
    return true
  }

  /** `IF EXISTS` or `IF NOT EXISTS` before a name in DDL. */
  acceptExistenceCheck(): void {
    if (this.accept('if') === undefined) return
    this.accept('not')
    this.accept('exists')
  }

  /** An unquoted name (lower-cased, as Cassandra folds it) or a quoted one (kept as written). */
  identifier(): string | undefined {
    if (this.atEnd) return undefined
    const token = this.tokens[this.index]!
    let name: string | undefined
    if (token.kind === 'word' && !RESERVED.has(token.text.toLowerCase())) name = token.text.toLowerCase()
    else if (token.kind === 'quoted' && token.text.length >= 2) name = token.text.slice(1, -1).replaceAll('""', '"')
    if (name === undefined || name === '') return undefined
    this.index++
    return name
  }

  /** `name` or `keyspace.name`. */
  qualifiedName(): QualifiedName | undefined {
    const first = this.identifier()
    if (first === undefined) return undefined
    if (!this.acceptPunct('.')) return { keyspace: null, name: first }
    const second = this.identifier()
    return second === undefined ? undefined : { keyspace: first, name: second }
  }

  /** A value of USING TTL/TIMESTAMP: an integer, `?` or `:name` (Parser.g intValue). */
  intValue(): boolean {
    if (this.acceptPunct('?')) return true
    if (this.acceptPunct(':')) return this.identifier() !== undefined
    this.acceptPunct('-')
    if (this.atEnd || this.tokens[this.index]!.kind !== 'constant') return false
    this.index++
    return true
  }
}

/** Indexes in [start, end) of the words and semicolons outside (), [] and {}; words lower-cased. */
function topLevel(tokens: readonly CqlToken[], start: number, end: number): { index: number; word: string }[] {
  const found: { index: number; word: string }[] = []
  let depth = 0
  for (let i = start; i < end; i++) {
    const token = tokens[i]!
    if (token.kind === 'punct') {
      const t = token.text
      if (t === '(' || t === '[' || t === '{') depth++
      else if (t === ')' || t === ']' || t === '}') depth = Math.max(0, depth - 1)
      else if (t === ';' && depth === 0) found.push({ index: i, word: ';' })
    } else if (token.kind === 'word' && depth === 0) found.push({ index: i, word: token.text.toLowerCase() })
  }
  return found
}

/** `USING TTL x AND TIMESTAMP y`, read after USING: whether TIMESTAMP is among the options. */
function usingSetsTimestamp(reader: CqlReader): boolean {
  let timestamp = false
  do {
    const option = reader.accept('ttl', 'timestamp')
    if (option === undefined || !reader.intValue()) return timestamp
    if (option === 'timestamp') timestamp = true
  } while (reader.accept('and') !== undefined)
  return timestamp
}

const TIMESTAMP_NOTE = ', with its own timestamp (USING TIMESTAMP)'

/** INSERT, UPDATE or DELETE in [start, end), the verb at `start`; also one statement of a batch. */
function dmlStatement(tokens: readonly CqlToken[], start: number, end: number): Statement {
  const verb = tokens[start]!.text.toLowerCase() as 'insert' | 'update' | 'delete'
  const words = topLevel(tokens, start + 1, end)
  const reader = new CqlReader(tokens, start + 1, end)
  // INSERT INTO name, UPDATE name, DELETE [selection] FROM name.
  if (verb === 'delete') reader.index = words.find((w) => w.word === 'from')?.index ?? end
  const clause = verb === 'insert' ? 'into' : verb === 'delete' ? 'from' : undefined
  if (clause !== undefined && reader.accept(clause) === undefined) reader.index = end
  const name = reader.qualifiedName()
  // IF is reserved, so an IF outside brackets can only open the statement's condition.
  const lightweightTransaction = words.some((w) => w.word === 'if')
  const hasUsingTimestamp = words.some((w) => w.word === 'using' && usingSetsTimestamp(new CqlReader(tokens, w.index + 1, end)))
  const shown = verb.toUpperCase()
  const condition = verb === 'insert' ? 'IF NOT EXISTS' : 'IF'
  const reason =
    (lightweightTransaction ? `${shown} … ${condition} is a lightweight transaction (Paxos)` : `${shown} writes`) +
    (hasUsingTimestamp ? TIMESTAMP_NOTE : '')
  return statement(verb, 'write', reason, {
    keyspace: name?.keyspace ?? null,
    table: name?.name ?? null,
    hasUsingTimestamp,
    lightweightTransaction,
    schemaTable: name?.keyspace === 'system_schema',
  })
}

/** SELECT [JSON] [DISTINCT] selectors FROM [ks.]table …: FROM is reserved, so its first use outside brackets is the clause. */
function selectStatement(tokens: readonly CqlToken[], end: number): Statement {
  const from = topLevel(tokens, 1, end).find((w) => w.word === 'from')
  const name = from === undefined ? undefined : new CqlReader(tokens, from.index + 1, end).qualifiedName()
  const keyspace = name?.keyspace ?? null
  const systemTable = keyspace === 'system' && SYSTEM_TABLES.has(name!.name) ? (name!.name as CqlSystemTable) : null
  const schemaTable = keyspace === 'system_schema'
  let reason = 'SELECT reads'
  if (systemTable !== null) reason = `SELECT from system.${systemTable} is answered by the proxy`
  else if (schemaTable) reason = 'SELECT reads the schema (system_schema), from a backend'
  return statement('select', 'read', reason, { keyspace, table: name?.name ?? null, systemTable, schemaTable })
}

/** BEGIN [UNLOGGED | COUNTER] BATCH [USING TIMESTAMP n] statement [;] … APPLY BATCH [;] */
function batchStatement(tokens: readonly CqlToken[], end: number): Statement {
  const reader = new CqlReader(tokens, 1, end)
  const batchType: CqlBatchType = (reader.accept('unlogged', 'counter') as CqlBatchType | undefined) ?? 'logged'
  if (reader.accept('batch') === undefined) return unknown('BEGIN without BATCH is not a CQL statement Grey knows')
  const batchTimestamp = reader.accept('using') !== undefined && usingSetsTimestamp(reader)
  const words = topLevel(tokens, reader.index, end)
  const apply = words.findIndex((w, i) => w.word === 'apply' && words[i + 1]?.word === 'batch')
  const bodyEnd = apply < 0 ? end : words[apply]!.index
  if (apply >= 0 && words[apply + 1]!.index + 1 < end) return unknown('more than one statement: Cassandra takes one per request')
  // Each statement starts with its verb (reserved words); the semicolons between them are optional (Parser.g).
  const starts = words.filter((w) => w.index < bodyEnd && DML_VERBS.has(w.word)).map((w) => w.index)
  const statements = starts.map((s, i) => {
    const next = Math.min(starts[i + 1] ?? bodyEnd, words.find((w) => w.index > s && w.word === ';')?.index ?? bodyEnd)
    return dmlStatement(tokens, s, next)
  })
  const lightweightTransaction = statements.some((s) => s.lightweightTransaction)
  const hasUsingTimestamp = batchTimestamp || statements.some((s) => s.hasUsingTimestamp)
  const first = statements[0]
  const sameKeyspace = first !== undefined && statements.every((s) => s.keyspace === first.keyspace)
  const sameTable = sameKeyspace && statements.every((s) => s.table === first.table)
  const shown = batchType === 'logged' ? 'BEGIN BATCH' : `BEGIN ${batchType.toUpperCase()} BATCH`
  const count = `${statements.length} statement${statements.length === 1 ? '' : 's'}`
  const reason =
    (lightweightTransaction
      ? `${shown} of ${count} with a condition is a lightweight transaction (Paxos)`
      : `${shown} of ${count} writes`) + (hasUsingTimestamp ? TIMESTAMP_NOTE : '')
  return statement('batch', 'write', reason, {
    keyspace: sameKeyspace ? first.keyspace : null,
    table: sameTable ? first.table : null,
    hasUsingTimestamp,
    lightweightTransaction,
    batchType,
  })
}

/** CREATE/ALTER/DROP of a schema object or role, CREATE OR REPLACE FUNCTION/AGGREGATE, DROP IDENTITY. */
function schemaStatement(tokens: readonly CqlToken[], end: number): Statement {
  const reader = new CqlReader(tokens, 1, end)
  const verb = tokens[0]!.text.toUpperCase()
  if (verb === 'DROP' && reader.accept('identity') !== undefined)
    return statement('dcl', 'write', 'DROP IDENTITY changes how clients authenticate')
  if (verb === 'CREATE' && reader.accept('or') !== undefined) reader.accept('replace')
  const custom = verb === 'CREATE' && reader.accept('custom') !== undefined
  let object = reader.accept(...SCHEMA_OBJECTS)
  if (object === undefined && reader.accept('materialized') !== undefined && reader.accept('view') !== undefined)
    object = 'materialized view'
  if (object === undefined || (custom && object !== 'index')) return unknown(`${verb} of something Grey does not know`)
  reader.acceptExistenceCheck()
  const shown = `${verb} ${custom ? 'CUSTOM ' : ''}${object.toUpperCase()}`
  if (ROLE_OBJECTS.has(object)) return statement('ddl', 'write', `${shown} changes roles`)
  let keyspace: string | null = null
  let table: string | null = null
  if (object === 'keyspace' || object === 'schema') {
    keyspace = reader.identifier() ?? null
  } else if ((object === 'index' && verb === 'CREATE') || object === 'trigger') {
    // CREATE INDEX [name] ON [ks.]table (…), CREATE/DROP TRIGGER name ON [ks.]table: the table is the one named.
    reader.identifier()
    const indexed = reader.accept('on') === undefined ? undefined : reader.qualifiedName()
    keyspace = indexed?.keyspace ?? null
    table = indexed?.name ?? null
  } else {
    const name = reader.qualifiedName()
    keyspace = name?.keyspace ?? null
    // Types, functions, aggregates and indexes live in a keyspace but are not tables.
    if (TABLE_OBJECTS.has(object)) table = name?.name ?? null
  }
  return statement('ddl', 'write', `${shown} changes the schema`, { keyspace, table, schemaTable: keyspace === 'system_schema' })
}

function truncateStatement(tokens: readonly CqlToken[], end: number): Statement {
  const reader = new CqlReader(tokens, 1, end)
  reader.accept('table', 'columnfamily')
  const name = reader.qualifiedName()
  return statement('ddl', 'write', 'TRUNCATE removes every row of a table', { keyspace: name?.keyspace ?? null, table: name?.name ?? null })
}

function useStatement(tokens: readonly CqlToken[], end: number): Statement {
  const reader = new CqlReader(tokens, 1, end)
  const keyspace = reader.identifier()
  if (keyspace === undefined || !reader.atEnd) return unknown('USE takes one keyspace name')
  return statement('use', 'read', 'USE sets the keyspace of the connection', { keyspace, useKeyspace: keyspace })
}

/** One statement, comments left out, the verb at index 0 and no semicolon at the end. */
function classifyStatement(tokens: readonly CqlToken[]): Statement {
  const end = tokens.length
  const first = tokens[0]
  if (first === undefined) return unknown('empty request')
  const verb = first.kind === 'word' ? first.text.toLowerCase() : ''
  if (verb !== 'begin' && topLevel(tokens, 0, end).some((w) => w.word === ';')) {
    return unknown('more than one statement: Cassandra takes one per request')
  }
  switch (verb) {
    case 'select':
      return selectStatement(tokens, end)
    case 'insert':
    case 'update':
    case 'delete':
      return dmlStatement(tokens, 0, end)
    case 'begin':
      return batchStatement(tokens, end)
    case 'use':
      return useStatement(tokens, end)
    case 'create':
    case 'alter':
    case 'drop':
      return schemaStatement(tokens, end)
    case 'truncate':
      return truncateStatement(tokens, end)
    case 'grant':
    case 'revoke':
      return statement('dcl', 'write', `${verb.toUpperCase()} changes permissions or role membership`)
    case 'list':
      return statement('dcl', 'write', 'LIST reads roles or permissions (DCL, routed as a write)')
    case 'add':
      if (tokens[1]?.kind === 'word' && tokens[1].text.toLowerCase() === 'identity')
        return statement('dcl', 'write', 'ADD IDENTITY changes how clients authenticate')
      break
    case 'describe':
    case 'desc':
      return statement('other', 'read', 'DESCRIBE reads the schema')
  }
  return unknown(verb === '' ? 'not a CQL statement' : `${verb.toUpperCase()} is not a CQL statement Grey knows`)
}

/**
 * What a CQL request's text (QUERY, PREPARE, or one BATCH entry) does, for routing: its kind, read or write,
 * the keyspace and table it names, whether it carries its own timestamp or is a lightweight transaction,
 * whether it reads a peer table the proxy answers, and its `/* grey: … *\/` hints. Lexical only (Cassandra
 * needs no parser for these facts), cached by text. Never throws: text it cannot read is a write of kind other.
 */
export function classifyCql(query: string, cache: LruCache<string, CqlClassification> = sharedCache): CqlClassification {
  const cached = cache.get(query)
  if (cached !== undefined) return cached
  const lexed = lexCql(query)
  const hints = readGreyHints(lexed.comments)
  let end = lexed.tokens.length
  while (end > 0 && lexed.tokens[end - 1]!.kind === 'punct' && lexed.tokens[end - 1]!.text === ';') end--
  const found = lexed.complete
    ? classifyStatement(end === lexed.tokens.length ? lexed.tokens : lexed.tokens.slice(0, end))
    : unknown('a string, quoted name or comment is not closed')
  Object.freeze(hints.problems)
  const classification: CqlClassification = Object.freeze({ ...found, hints: Object.freeze(hints) })
  if (query.length <= MAX_CACHED_CQL_LENGTH) cache.set(query, classification)
  return classification
}
