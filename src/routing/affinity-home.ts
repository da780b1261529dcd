// Affinity rules (ARCHITECTURE §3, routing.affinity): a row's key (`user:123`) names its home region, where every write
// of it and every read that needs its latest value go, so one DC orders all of a row's writes.
import type { AffinityRule } from '../config/config-schema.js'
import { lexCql, type CqlToken } from './lex-cql.js'

/** Where a statement says its row's key: a literal value, or the n-th bind marker (0-based) of the statement. */
export type ColumnValue = { readonly literal: string } | { readonly marker: number }

export interface AffinityHome {
  readonly key: string
  readonly region: string
  /** Index of the rule in routing.affinity. */
  readonly rule: number
}

export interface AffinityInput {
  readonly table: string | null
  readonly keyspace: string | null
  /** The `key=` hint. */
  readonly hintKey: string | undefined
  readonly query: string
  /** The value bound to a marker, as text (src/cql/bound-value-text.ts); null when unknown. */
  readonly bound: (marker: number) => string | null
}

const unquoteIdentifier = (token: CqlToken): string =>
  token.kind === 'quoted' ? token.text.slice(1, -1).replace(/""/g, '"') : token.text.toLowerCase()

function literal(token: CqlToken | undefined): string | null {
  if (token === undefined) return null
  if (token.kind === 'constant') return token.text
  if (token.kind === 'string') return token.text.startsWith('$$') ? token.text.slice(2, -2) : token.text.slice(1, -1).replace(/''/g, "'")
  return null
}

/**
 * The value a statement gives `column`: `column = <value>` in its WHERE clause, or the column's place in
 * `INSERT … (columns) VALUES (values)`. Null when the statement does not say it plainly (IN lists, functions, JSON).
 */
export function findColumnValue(query: string, column: string): ColumnValue | null {
  const tokens = lexCql(query).tokens
  const name = column.startsWith('"') ? column.slice(1, -1) : column.toLowerCase()
  const markerIndex = (at: number): number => tokens.slice(0, at).filter((t) => t.kind === 'punct' && t.text === '?').length
  const valueAt = (at: number): ColumnValue | null => {
    const token = tokens[at]
    if (token?.kind === 'punct' && token.text === '?') return { marker: markerIndex(at) }
    const text = literal(token)
    return text === null ? null : { literal: text }
  }
  const where = tokens.findIndex((t) => t.kind === 'word' && t.text.toLowerCase() === 'where')
  if (where >= 0) {
    for (let i = where + 1; i < tokens.length; i++) {
      const t = tokens[i]!
      if ((t.kind === 'word' || t.kind === 'quoted') && unquoteIdentifier(t) === name && tokens[i + 1]?.text === '=') return valueAt(i + 2)
    }
  }
  if (tokens[0]?.text.toLowerCase() === 'insert') {
    const open = tokens.findIndex((t) => t.text === '(')
    const close = tokens.findIndex((t, i) => i > open && t.text === ')')
    const values = tokens.findIndex((t, i) => i > close && t.kind === 'word' && t.text.toLowerCase() === 'values')
    if (open < 0 || close < 0 || values < 0 || tokens[values + 1]?.text !== '(') return null
    const columns = tokens.slice(open + 1, close).filter((t) => t.text !== ',')
    const position = columns.findIndex((t) => unquoteIdentifier(t) === name)
    if (position < 0) return null
    // Simple values only: each is one token, separated by commas.
    return valueAt(values + 2 + 2 * position)
  }
  return null
}

/** `user:*` matches `user:123`: `*` stands for any text. */
export function keyMatches(pattern: string, key: string): boolean {
  const [prefix, ...rest] = pattern.split('*')
  if (rest.length === 0) return pattern === key
  const suffix = rest.at(-1)!
  return key.startsWith(prefix!) && key.endsWith(suffix) && key.length >= prefix!.length + suffix.length
}

/** FNV-1a, 32 bits: a stable spread of keys over regions, the same in every Grey and every version. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0
  return h
}

/** The home of `key` under `rule`: its configured region, or for `hash` one of `regions` (sorted, so every Grey agrees). */
export function placeKey(key: string, placement: string, regions: readonly string[]): string {
  if (placement !== 'hash') return placement
  const sorted = [...regions].sort()
  return sorted[fnv1a(key) % sorted.length]!
}

const tableMatches = (rule: AffinityRule, keyspace: string | null, table: string): boolean =>
  rule.tables.some((name) => name === table || (keyspace !== null && name === `${keyspace}.${table}`))

/** The first affinity rule for the statement's table that finds its key (from the hint, else the rule's column). Pure. */
export function affinityHome(rules: readonly AffinityRule[], regions: readonly string[], input: AffinityInput): AffinityHome | null {
  if (input.table === null) return null
  for (const [index, rule] of rules.entries()) {
    if (!tableMatches(rule, input.keyspace, input.table)) continue
    let key: string | null = null
    if (input.hintKey !== undefined && keyMatches(rule.key, input.hintKey)) key = input.hintKey
    else if (rule.column !== undefined && rule.key.includes('*')) {
      const value = findColumnValue(input.query, rule.column)
      const text = value === null ? null : 'literal' in value ? value.literal : input.bound(value.marker)
      if (text !== null) key = rule.key.replace('*', text)
    }
    if (key !== null) return { key, region: placeKey(key, rule.placement, regions), rule: index }
  }
  return null
}
