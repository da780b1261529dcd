import { loadModule, parseSync } from 'libpg-query'
import { classifyLexically } from './classify-lexically.js'
import { classifyParseTree } from './classify-parse-tree.js'
import { readGreyHints } from './grey-hints.js'
import { lexSql } from './lex-sql.js'
import { LruCache } from './lru-cache.js'
import { sqlClassification, statementClass, statementSql, type SqlClassification, type StatementClass } from './sql-classification.js'
import { compileWritingFunctions, type WritingFunctions } from './sql-function-effect.js'

export type * from './sql-classification.js'

// parseSync throws until the WASM module has been instantiated. Awaiting it here, once, when this module
// is first imported, means no caller can reach classifySql before the parser is ready.
await loadModule()

export interface ClassifierOptions {
  /** routing.writing_functions: calls that make a statement a write (`bump_counter`, `app.bump_counter`); nextval, setval and other built-ins always count. */
  readonly writingFunctions: readonly string[]
  /** Where parser results are kept; defaults to one cache of 10 000 statements shared by all callers. */
  readonly cache?: LruCache<string, StatementClass>
  /** false sends every statement to the parser (for comparing the two paths). */
  readonly lexicalPath?: boolean
}

export const DEFAULT_CACHE_ENTRIES = 10_000
/** Longer statements (bulk INSERTs, mostly) are parsed every time rather than crowding the cache. */
export const MAX_CACHED_STATEMENT_LENGTH = 16_384

const sharedCache = new LruCache<string, StatementClass>(DEFAULT_CACHE_ENTRIES)

function parseAndClassify(code: string, writing: WritingFunctions): StatementClass {
  try {
    return classifyParseTree(parseSync(code), code, writing)
  } catch (error) {
    // libpg-query throws a SqlError ("syntax error at or near …"); a tree too deep to walk is a RangeError.
    return statementClass('', 'write', `could not parse: ${(error as Error).message}; sent to the primary`, { statementKinds: [] })
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/**
 * What a PostgreSQL query (one statement or several) does, for routing: read or write and why, the
 * tables it names, transaction and session changes, whether it pins the session to its backend, grey.*
 * settings and the statement's hints. Never throws: text it cannot parse is a write, sent to the primary.
 */
export function classifySql(sql: string, options: ClassifierOptions): SqlClassification {
  const lexed = lexSql(sql)
  const hints = readGreyHints(lexed.comments)
  // Without comments and the semicolons around it: the text to parse, and the cache key.
  const text = statementSql(lexed.code)
  if (text === '') return sqlClassification(statementClass('', 'read', 'empty query', { statementKinds: [] }), hints, 'lexical')
  const writing = compileWritingFunctions(options.writingFunctions)
  // An unterminated comment or literal: let the parser report it in the words of PostgreSQL.
  if (!lexed.complete) return sqlClassification(parseAndClassify(sql, writing), hints, 'parser')
  if (options.lexicalPath !== false) {
    const lexical = classifyLexically(lexed, writing)
    if (lexical !== null) return sqlClassification(lexical, hints, 'lexical')
  }
  const cache = options.cache ?? sharedCache
  const key = `${writing.cacheKey}\u0000${text}`
  let parsed = cache.get(key)
  if (parsed === undefined) {
    parsed = deepFreeze(parseAndClassify(text, writing))
    if (text.length <= MAX_CACHED_STATEMENT_LENGTH) cache.set(key, parsed)
  }
  return sqlClassification(parsed, hints, 'parser')
}
