import type { ConsistencyLevel } from '../config/config-schema.js'
import { didYouMean } from '../config/did-you-mean.js'
import { parseDurationMs } from '../config/duration.js'
import { lexSql } from './lex-sql.js'

export type GreyRoute = 'primary' | 'replica'

/** What a statement's `/* grey: … *\/` and `-- grey: …` comments ask for. */
export interface GreyHints {
  readonly consistency?: ConsistencyLevel
  /** From `max_staleness=2s`, which implies consistency=bounded. */
  readonly maxStalenessMs?: number
  /** A causality token (`after=<token>`), opaque here. */
  readonly after?: string
  /** An affinity key (`key=user:123`), matched against the affinity rules. */
  readonly key?: string
  /** `queue`: the write may be queued durably when the region is cut off from the primary. */
  readonly queue?: boolean
  readonly route?: GreyRoute
  /** One sentence per hint that was not understood, naming the hint and the fix; those hints are ignored. */
  readonly problems: readonly string[]
}

type HintValues = { -readonly [K in Exclude<keyof GreyHints, 'problems'>]?: GreyHints[K] }

const CONSISTENCY_LEVELS = ['strong', 'bounded', 'session', 'eventual'] as const satisfies readonly ConsistencyLevel[]
const ROUTES = ['primary', 'replica'] as const satisfies readonly GreyRoute[]
const HINT_KEYS = ['consistency', 'max_staleness', 'after', 'key', 'queue', 'route'] as const
type HintKey = (typeof HINT_KEYS)[number]

const NO_HINTS: GreyHints = Object.freeze({ problems: Object.freeze([]) })

const oneOf = <T extends string>(choices: readonly T[], value: string): value is T => (choices as readonly string[]).includes(value)
const suggestion = (word: string, choices: readonly string[]): string => {
  const near = didYouMean(word, choices)
  return near === undefined ? '' : ` (did you mean ${near}?)`
}

/**
 * Checks one `key=value` of a hint (form 'hint'), or the value of `SET grey.<key>` (form 'setting'): the
 * values it sets, or a problem sentence. `value` is undefined for a bare key.
 */
export function checkGreyHint(
  key: string,
  value: string | undefined,
  form: 'hint' | 'setting' = 'hint',
): { values: HintValues } | { problem: string } {
  if (!oneOf(HINT_KEYS, key)) {
    return { problem: `unknown grey hint "${key}"${suggestion(key, HINT_KEYS)}; known hints: ${HINT_KEYS.join(', ')}` }
  }
  if (key === 'queue') {
    return value === undefined
      ? { values: { queue: true } }
      : { problem: `grey hint queue takes no value: write just "queue", not "queue=${value}"` }
  }
  if (value === undefined || value === '') return { problem: `grey hint ${key} needs a value, like ${key}=${EXAMPLES[key]}` }
  const shown = form === 'hint' ? `grey hint ${key}=${value}` : `SET grey.${key} = '${value}'`
  switch (key) {
    case 'consistency': {
      const level = value.toLowerCase()
      if (oneOf(CONSISTENCY_LEVELS, level)) return { values: { consistency: level } }
      return { problem: `${shown}${suggestion(level, CONSISTENCY_LEVELS)}: use one of ${CONSISTENCY_LEVELS.join(', ')}` }
    }
    case 'max_staleness':
      try {
        return { values: { maxStalenessMs: parseDurationMs(value) } }
      } catch {
        return { problem: `${shown} is not a duration: write it like 500ms or 2s` }
      }
    case 'route': {
      const route = value.toLowerCase()
      if (oneOf(ROUTES, route)) return { values: { route } }
      return { problem: `${shown}${suggestion(route, ROUTES)}: use primary or replica` }
    }
    case 'after':
      return { values: { after: value } }
    case 'key':
      return { values: { key: value } }
  }
}

const EXAMPLES: Record<Exclude<HintKey, 'queue'>, string> = {
  consistency: 'strong',
  max_staleness: '2s',
  after: '<token from SHOW grey.token>',
  key: 'user:123',
  route: 'primary',
}

// `key`, `key=value`, `key='quoted, value'` or `key="quoted"`, separated by commas and/or whitespace.
const HINT_ITEM = /[\s,]*([^\s=,]+)(?:\s*=\s*('(?:[^']|'')*'|"(?:[^"]|"")*"|[^\s,]*))?\s*(?:,|$|(?=\S))/y
const GREY_PREFIX = /^\s*grey\s*:/i
// `/* grey consistency=strong */`: almost a hint. Prose that merely starts with "grey" is left alone.
const ALMOST_GREY = /^\s*grey\s+[a-z_]+\s*=/i

/** Comment text quoted in a problem, cut short: a comment can be long. */
const excerpt = (text: string): string => (text.length > 60 ? `${text.slice(0, 57)}...` : text)

function unquote(value: string): string {
  const quote = value[0]
  if ((quote === "'" || quote === '"') && value.length >= 2 && value.endsWith(quote)) {
    return value.slice(1, -1).replaceAll(quote + quote, quote)
  }
  return value
}

/**
 * Reads the hints out of comment bodies (from `lexSql`). Hints from several comments merge; a key given
 * twice keeps its first value and reports the second.
 */
export function readGreyHints(comments: readonly string[]): GreyHints {
  let values: HintValues | undefined
  let problems: string[] | undefined
  const given = new Map<string, string>()
  const problem = (text: string): void => {
    ;(problems ??= []).push(text)
  }
  for (const comment of comments) {
    const prefix = GREY_PREFIX.exec(comment)
    if (prefix === null) {
      if (ALMOST_GREY.test(comment))
        problem(`comment "${excerpt(comment.trim())}" looks like a grey hint but lacks the colon: write /* grey: key=value */`)
      continue
    }
    values ??= {}
    const body = comment.slice(prefix[0].length)
    HINT_ITEM.lastIndex = 0
    while (HINT_ITEM.lastIndex < body.length) {
      const start = HINT_ITEM.lastIndex
      const item = HINT_ITEM.exec(body)
      if (item === null) {
        if (/[^\s,]/.test(body.slice(start)))
          problem(`grey hint text "${excerpt(body.slice(start).trim())}" is not key=value: write /* grey: key=value, … */`)
        break
      }
      const key = item[1]!.toLowerCase()
      const raw = item[2]
      const value = raw === undefined ? undefined : unquote(raw)
      const shown = raw === undefined ? key : `${key}=${raw}`
      const earlier = given.get(key)
      if (earlier !== undefined) {
        if (earlier !== shown) problem(`grey hint ${key} is given twice (${earlier}, then ${shown}); the first applies`)
        continue
      }
      const checked = checkGreyHint(key, value)
      if ('problem' in checked) {
        problem(checked.problem)
        continue
      }
      given.set(key, shown)
      Object.assign(values, checked.values)
    }
  }
  if (values === undefined && problems === undefined) return NO_HINTS
  const hints: HintValues = values ?? {}
  if (hints.maxStalenessMs !== undefined) {
    if (hints.consistency === undefined) hints.consistency = 'bounded'
    else if (hints.consistency !== 'bounded') {
      const level = given.get('consistency')!
      problem(
        `grey hint ${given.get('max_staleness')} contradicts ${level}: max_staleness implies consistency=bounded; drop one of them (${level} applies)`,
      )
      delete hints.maxStalenessMs
    }
  }
  return { ...hints, problems: problems ?? [] }
}

/** The `/* grey: … *\/` and `-- grey: …` hints anywhere in the text; comment-like text inside literals is not a comment. */
export function parseGreyHints(sql: string): GreyHints {
  return readGreyHints(lexSql(sql).comments)
}

/**
 * The text without its comments, as `lexSql` normalises it: each run of comments and whitespace between
 * tokens becomes one space (or one newline), and string constants, dollar quotes and quoted identifiers
 * stay as written, including anything in them that looks like a comment.
 */
export function stripComments(sql: string): string {
  return lexSql(sql).code
}
