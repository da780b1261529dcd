/**
 * One token of CQL text, outside comments. `text` is the token as written: a `string` keeps its quotes
 * (`'it''s'`, `$$…$$`), a `quoted` identifier its double quotes (`"Users"`).
 */
export interface CqlToken {
  readonly kind: 'word' | 'quoted' | 'string' | 'constant' | 'punct'
  readonly text: string
}

export interface LexedCql {
  /** The tokens of the text, comments left out. */
  readonly tokens: readonly CqlToken[]
  /** Bodies of the comments in text order: a block comment without `/*` and `*\/`, a line comment after `--` or `//`. */
  readonly comments: readonly string[]
  /** False when a string, quoted identifier or comment runs to the end of the text without closing. */
  readonly complete: boolean
}

const QUOTE = 39
const DOUBLE_QUOTE = 34
const DOLLAR = 36
const STAR = 42
const PLUS = 43
const MINUS = 45
const SLASH = 47
const DOT = 46
const NEWLINE = 10
const CARRIAGE_RETURN = 13

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isWordChar = (c: number): boolean => isLetter(c) || isDigit(c) || c === 95
// Lexer.g: WS is space, tab, newline and carriage return; form feed and vertical tab are taken too.
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)
// Lexer.g's UUID token: a constant that may start with a letter (`a1b2c3d4-…`), so it is tried before words.
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/iy

/** The index just past a UUID at `start`, or -1. */
function uuidEnd(text: string, start: number): number {
  UUID.lastIndex = start
  return UUID.test(text) && !isWordChar(text.charCodeAt(UUID.lastIndex)) ? UUID.lastIndex : -1
}

/** The index just past a number, blob or duration at `start`: digits, letters, `_`, `.` and an exponent's sign. */
function constantEnd(text: string, start: number): number {
  let end = start + 1
  for (; end < text.length; end++) {
    const d = text.charCodeAt(end)
    const exponentSign = (d === PLUS || d === MINUS) && (text.charCodeAt(end - 1) | 32) === 101 && isDigit(text.charCodeAt(end + 1))
    if (!isWordChar(d) && d !== DOT && !exponentSign) break
  }
  return end
}

/** The index just past a quoted run that began at `start`, where a doubled quote stands for itself; -1 when it never closes. */
function endOfQuoted(text: string, start: number, quote: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text.charCodeAt(i) !== quote) continue
    if (text.charCodeAt(i + 1) !== quote) return i + 1
    i++
  }
  return -1
}

/**
 * Splits CQL text into tokens and comments the way Cassandra's lexer (Lexer.g, Cassandra 5.0) does, as far
 * as routing needs: `/* … *\/` comments (not nested), `--` and `//` line comments, strings (`''` doubles a
 * quote, no backslash escapes), `$$…$$` strings, quoted identifiers (`""` doubles a quote), UUIDs, and
 * words. Numbers, blobs and durations come out loosely as one `constant` (digits, letters, `_`, `.` and an
 * exponent's sign); anything else is a `punct` of one character.
 */
export function lexCql(query: string): LexedCql {
  const tokens: CqlToken[] = []
  const comments: string[] = []
  let complete = true
  const n = query.length
  let i = 0
  const emit = (kind: CqlToken['kind'], end: number): void => {
    tokens.push({ kind, text: query.slice(i, end < 0 ? n : end) })
    if (end < 0) complete = false
    i = end < 0 ? n : end
  }

  while (i < n) {
    const c = query.charCodeAt(i)
    const next = query.charCodeAt(i + 1)
    if (isSpace(c)) {
      i++
    } else if ((c === MINUS && next === MINUS) || (c === SLASH && next === SLASH)) {
      let end = i + 2
      while (end < n && query.charCodeAt(end) !== NEWLINE && query.charCodeAt(end) !== CARRIAGE_RETURN) end++
      comments.push(query.slice(i + 2, end))
      i = end
    } else if (c === SLASH && next === STAR) {
      const close = query.indexOf('*/', i + 2)
      if (close < 0) complete = false
      comments.push(query.slice(i + 2, close < 0 ? n : close))
      i = close < 0 ? n : close + 2
    } else if (c === QUOTE) {
      emit('string', endOfQuoted(query, i, QUOTE))
    } else if (c === DOUBLE_QUOTE) {
      emit('quoted', endOfQuoted(query, i, DOUBLE_QUOTE))
    } else if (c === DOLLAR && next === DOLLAR) {
      const close = query.indexOf('$$', i + 2)
      emit('string', close < 0 ? -1 : close + 2)
    } else if (isWordChar(c)) {
      const uuid = uuidEnd(query, i)
      if (uuid > 0) emit('constant', uuid)
      else if (isDigit(c)) emit('constant', constantEnd(query, i))
      else {
        let end = i + 1
        while (end < n && isWordChar(query.charCodeAt(end))) end++
        emit('word', end)
      }
    } else {
      emit('punct', i + 1)
    }
  }
  return { tokens, comments, complete }
}
