/**
 * One token of PostgreSQL text, outside comments. `text` is the token as written: a `string` keeps its
 * prefix and quotes (`E'a\'b'`, `$tag$…$tag$`), a `quoted` identifier its double quotes (`"Order"`, `U&"x"`).
 */
export interface SqlToken {
  readonly kind: 'word' | 'quoted' | 'string' | 'number' | 'param' | 'punct'
  readonly text: string
}

export interface LexedSql {
  /** The tokens of the statement text, comments left out. */
  readonly tokens: readonly SqlToken[]
  /** Bodies of the comments in text order: a block comment without its delimiters and nested comments, a line comment after `--`. */
  readonly comments: readonly string[]
  /**
   * The text without comments, trimmed, with each run of whitespace and comments between tokens reduced
   * to one space; between two string constants, to one newline when it holds a newline and no block
   * comment, since PostgreSQL joins `'a'<newline>'b'` into one constant (and `'a' 'b'` is an error).
   * String constants, dollar quotes and quoted identifiers are kept byte for byte.
   */
  readonly code: string
  /** False when a string, quoted identifier or comment runs to the end of the text without closing. */
  readonly complete: boolean
}

const SPACE = 32
const TAB = 9
const NEWLINE = 10
const VERTICAL_TAB = 11
const FORM_FEED = 12
const CARRIAGE_RETURN = 13
const QUOTE = 39
const DOUBLE_QUOTE = 34
const DOLLAR = 36
const AMPERSAND = 38
const STAR = 42
const MINUS = 45
const DOT = 46
const SLASH = 47
const BACKSLASH = 92
const PLUS = 43

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
// scan.l: ident_start [A-Za-z\200-\377_], ident_cont adds [0-9\$]; dollar-quote tags exclude `$`.
const isIdentStart = (c: number): boolean => isAsciiLetter(c) || c === 95 || c >= 128
const isTagChar = (c: number): boolean => isIdentStart(c) || isDigit(c)
const isIdentChar = (c: number): boolean => isTagChar(c) || c === DOLLAR

/** The index just past a quoted run that began at `start` (the opening quote); `-1` when it never closes. */
function endOfQuoted(sql: string, start: number, quote: number, backslashEscapes: boolean): number {
  for (let i = start + 1; i < sql.length; i++) {
    const c = sql.charCodeAt(i)
    if (backslashEscapes && c === BACKSLASH) i++
    else if (c === quote) {
      if (sql.charCodeAt(i + 1) !== quote) return i + 1
      i++
    }
  }
  return -1
}

// scan.l's quotecontinue: a quoted constant, whitespace with a newline, then a plain quote.
const continuesString = (previous: SqlToken | undefined, text: string): boolean =>
  previous?.kind === 'string' && previous.text.endsWith("'") && text.startsWith("'")

/**
 * Splits PostgreSQL text into tokens and comments the way PostgreSQL's scanner (scan.l) does, as
 * far as routing needs: nested block comments, `--` line comments, standard-conforming string
 * constants (`''` doubles a quote, backslash is literal), `E'…'` with backslash escapes, `B`/`X`/`N`
 * prefixes, `U&'…'` and `U&"…"`, dollar quotes, quoted identifiers and `$n` parameters. Operators come
 * out as one `punct` token per character; numbers loosely (digits, letters, `_` and `.`).
 */
export function lexSql(sql: string): LexedSql {
  const tokens: SqlToken[] = []
  const comments: string[] = []
  let code = ''
  let complete = true
  // What separates the next token from the previous one: nothing, a space, a newline, or a block comment.
  let gap: 'none' | 'space' | 'newline' | 'comment' = 'none'
  const n = sql.length
  let i = 0

  const emit = (kind: SqlToken['kind'], end: number): void => {
    const text = sql.slice(i, end)
    if (code !== '' && gap !== 'none') code += gap === 'newline' && continuesString(tokens.at(-1), text) ? '\n' : ' '
    tokens.push({ kind, text })
    code += text
    gap = 'none'
    i = end
  }
  const emitQuoted = (kind: 'string' | 'quoted', quoteAt: number, quote: number, backslashEscapes: boolean): void => {
    const end = endOfQuoted(sql, quoteAt, quote, backslashEscapes)
    if (end < 0) complete = false
    emit(kind, end < 0 ? n : end)
  }

  while (i < n) {
    const c = sql.charCodeAt(i)
    const next = sql.charCodeAt(i + 1)
    if (c === SPACE || c === TAB || c === VERTICAL_TAB || c === FORM_FEED) {
      if (gap === 'none') gap = 'space'
      i++
    } else if (c === NEWLINE || c === CARRIAGE_RETURN) {
      if (gap !== 'comment') gap = 'newline'
      i++
    } else if (c === MINUS && next === MINUS) {
      let end = i + 2
      while (end < n && sql.charCodeAt(end) !== NEWLINE && sql.charCodeAt(end) !== CARRIAGE_RETURN) end++
      comments.push(sql.slice(i + 2, end))
      if (gap === 'none') gap = 'space'
      i = end
    } else if (c === SLASH && next === STAR) {
      // PostgreSQL nests block comments; the body keeps only the outermost level's text.
      let depth = 1
      let body = ''
      let from = i + 2
      let j = i + 2
      while (j < n && depth > 0) {
        const d = sql.charCodeAt(j)
        if (d === SLASH && sql.charCodeAt(j + 1) === STAR) {
          if (depth === 1) body += sql.slice(from, j) + ' '
          depth++
          j += 2
        } else if (d === STAR && sql.charCodeAt(j + 1) === SLASH) {
          if (depth === 1) body += sql.slice(from, j)
          depth--
          j += 2
          from = j
        } else j++
      }
      if (depth > 0) {
        complete = false
        body += sql.slice(from, n)
      }
      comments.push(body)
      gap = 'comment'
      i = j
    } else if (c === QUOTE) {
      emitQuoted('string', i, QUOTE, false)
    } else if (c === DOUBLE_QUOTE) {
      emitQuoted('quoted', i, DOUBLE_QUOTE, false)
    } else if (c === DOLLAR) {
      let end = i + 1
      if (isDigit(next)) {
        while (end < n && isDigit(sql.charCodeAt(end))) end++
        emit('param', end)
        continue
      }
      if (!isIdentStart(next) && next !== DOLLAR) {
        emit('punct', end)
        continue
      }
      while (end < n && isTagChar(sql.charCodeAt(end))) end++
      if (sql.charCodeAt(end) !== DOLLAR) {
        emit('punct', i + 1)
        continue
      }
      const delimiter = sql.slice(i, end + 1)
      const close = sql.indexOf(delimiter, end + 1)
      if (close < 0) complete = false
      emit('string', close < 0 ? n : close + delimiter.length)
    } else if (isDigit(c) || (c === DOT && isDigit(next))) {
      let end = i + 1
      for (; end < n; end++) {
        const d = sql.charCodeAt(end)
        const exponentSign = (d === PLUS || d === MINUS) && (sql.charCodeAt(end - 1) | 32) === 101 && isDigit(sql.charCodeAt(end + 1))
        if (!isIdentChar(d) && d !== DOT && !exponentSign) break
      }
      emit('number', end)
    } else if (isIdentStart(c)) {
      let end = i + 1
      while (end < n && isIdentChar(sql.charCodeAt(end))) end++
      const after = sql.charCodeAt(end)
      const prefix = end - i === 1 ? c | 32 : 0
      if (after === QUOTE && (prefix === 101 || prefix === 98 || prefix === 120 || prefix === 110)) {
        // E'…' takes backslash escapes; B'…', X'…' and N'…' quote like plain strings.
        emitQuoted('string', end, QUOTE, prefix === 101)
      } else if (prefix === 117 && after === AMPERSAND && sql.charCodeAt(end + 1) === QUOTE) {
        emitQuoted('string', end + 1, QUOTE, false)
      } else if (prefix === 117 && after === AMPERSAND && sql.charCodeAt(end + 1) === DOUBLE_QUOTE) {
        emitQuoted('quoted', end + 1, DOUBLE_QUOTE, false)
      } else emit('word', end)
    } else {
      emit('punct', i + 1)
    }
  }
  return { tokens, comments, code, complete }
}
