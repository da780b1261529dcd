import { parseDocument } from 'yaml'
import { configProblem, type ConfigProblem } from './config-error.js'

const PREFIX = 'GREY_'

/** One applied `GREY_A__B__C=value` variable. */
export interface EnvOverride {
  readonly variable: string
  /** The key path it set, with dashed map keys resolved (`EU_WEST` → `eu-west`). */
  readonly path: readonly PropertyKey[]
  /** The shallowest path whose value came from the variable: problems at or under it are the variable's. */
  readonly origin: readonly PropertyKey[]
}

export interface EnvOverrideResult {
  readonly overrides: readonly EnvOverride[]
  readonly problems: readonly ConfigProblem[]
}

/** The source name used in problems caused by an environment variable. */
export function envSource(variable: string): string {
  return `env ${variable}`
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * A YAML scalar or flow collection: "700ms", "3", "true", "[eu-west, ap-south]", "{a: 1}". Only
 * text starting with "[" or "{" can become a collection, and text YAML cannot read (say "@secret")
 * is taken literally.
 */
function parseEnvValue(text: string): unknown {
  const document = parseDocument(text)
  if (document.errors.length > 0) return text
  const value: unknown = document.toJS()
  const isCollection = typeof value === 'object' && value !== null
  return isCollection && !/^\s*[[{]/.test(text) ? text : value
}

/** The key a lowercased env segment names: the literal key, else an existing key spelt with dashes. */
function resolveKey(mapping: Record<string, unknown>, segment: string): string {
  if (Object.hasOwn(mapping, segment)) return segment
  return Object.keys(mapping).find((key) => key.toLowerCase().replaceAll('-', '_') === segment) ?? segment
}

/**
 * Applies `GREY_<SECTION>__<KEY>__…=value` variables to a parsed config document, in place.
 * Only variables whose first segment is one of `sections` count (GREY_LAB_DIR is not config);
 * segments are lowercased, and a segment may name a list index. Shallower variables are applied
 * first, so `GREY_PROXY__LISTEN__PG` wins over a `pg` inside `GREY_PROXY__LISTEN`.
 */
export function applyEnvOverrides(document: unknown, env: NodeJS.ProcessEnv, sections: readonly string[]): EnvOverrideResult {
  // A document that is not a mapping is reported by validation; there is nowhere to put overrides.
  if (!isMapping(document)) return { overrides: [], problems: [] }
  const candidates: { variable: string; text: string; segments: string[] }[] = []
  for (const [variable, text] of Object.entries(env)) {
    if (!variable.startsWith(PREFIX) || text === undefined) continue
    const segments = variable.slice(PREFIX.length).toLowerCase().split('__')
    if (segments.length >= 2 && sections.includes(segments[0]!)) candidates.push({ variable, text, segments })
  }
  candidates.sort((a, b) => a.segments.length - b.segments.length || (a.variable < b.variable ? -1 : 1))

  const overrides: EnvOverride[] = []
  const problems: ConfigProblem[] = []
  for (const { variable, text, segments } of candidates) {
    const result = applyOne(document, segments, parseEnvValue(text))
    if ('expected' in result) {
      problems.push(configProblem(envSource(variable), result.path, result.expected, result.found))
    } else {
      overrides.push({ variable, ...result })
    }
  }
  return { overrides, problems }
}

type Applied = { path: PropertyKey[]; origin: PropertyKey[] }
type Refused = { path: PropertyKey[]; expected: string; found: unknown }

/**
 * Sets `value` at `segments` below `node`, creating missing mappings (or lists, before a numeric
 * segment). `path` is the resolved path down to `node`; `origin` the first node created, if any.
 */
function applyOne(
  node: unknown,
  segments: readonly string[],
  value: unknown,
  path: PropertyKey[] = [],
  origin?: PropertyKey[],
): Applied | Refused {
  const [segment, ...rest] = segments as [string, ...string[]]
  if (segment === '') return { path, expected: 'a key name after every "__"', found: undefined }
  let key: string | number
  let container: Record<PropertyKey, unknown>
  if (Array.isArray(node)) {
    key = Number(segment)
    if (!/^\d+$/.test(segment) || key > node.length) {
      return { path, expected: `a list index from 0 to ${node.length}`, found: segment }
    }
    // Indexed like a mapping below; index === length appends.
    container = node as unknown as Record<PropertyKey, unknown>
  } else if (isMapping(node)) {
    key = resolveKey(node, segment)
    container = node
  } else {
    return { path, expected: `a mapping to hold "${segment}"`, found: node }
  }
  const childPath = [...path, key]
  if (rest.length === 0) {
    container[key] = value
    return { path: childPath, origin: origin ?? childPath }
  }
  const child = Object.hasOwn(container, key) ? container[key] : undefined
  if (child !== undefined && child !== null) return applyOne(child, rest, value, childPath, origin)
  // No map in the schema has numeric keys, so a numeric next segment means a list.
  container[key] = /^\d+$/.test(rest[0]!) ? [] : {}
  return applyOne(container[key], rest, value, childPath, origin ?? childPath)
}
