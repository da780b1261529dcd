/** One thing wrong with a configuration, in the terms a user can act on. */
export interface ConfigProblem {
  /** Where the bad value came from: the file name, or `env GREY_…` for an environment override. */
  readonly source: string
  /** The key path, like `cluster.regions.eu-west.role` or `routing.rules[2].match`; empty for the file as a whole. */
  readonly path: string
  /** What would have been accepted, like `a duration like "500ms"`. */
  readonly expected: string
  /** What was there: the value as JSON (truncated, secrets hidden), or `nothing` when the key is missing. */
  readonly found: string
  /** 1-based position in the file, known for YAML syntax errors. */
  readonly line?: number
  readonly column?: number
}

const SECRET_KEYS = new Set(['password', 'secret', 'token'])
const MAX_FOUND_CHARS = 60

/** Renders a key path: `a.b.c`, with list indexes as `[i]`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let text = ''
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : `${text === '' ? '' : '.'}${String(segment)}`
  }
  return text
}

/** Describes a found value for a problem; values under password/secret/token keys are never printed. */
export function describeFound(value: unknown, path: readonly PropertyKey[]): string {
  if (value === undefined) return 'nothing'
  if (SECRET_KEYS.has(String(path.at(-1)))) {
    if (typeof value === 'string') return `a ${value.length}-character string (hidden)`
    return `a value of type ${value === null ? 'null' : typeof value} (hidden)`
  }
  // JSON for everything YAML can produce, except the numbers JSON cannot write (.inf, .nan).
  const text = typeof value === 'number' ? String(value) : JSON.stringify(value)
  return text.length > MAX_FOUND_CHARS ? `${text.slice(0, MAX_FOUND_CHARS - 1)}…` : text
}

/** Builds a problem from a raw found value. */
export function configProblem(source: string, path: readonly PropertyKey[], expected: string, foundValue: unknown): ConfigProblem {
  return { source, path: formatKeyPath(path), expected, found: describeFound(foundValue, path) }
}

/** The one-line form: `grey.yaml: consensus.raft.election_timeout: expected …, found …`. */
export function formatConfigProblem(problem: ConfigProblem): string {
  const position = problem.line === undefined ? '' : `:${problem.line}:${problem.column}`
  const path = problem.path === '' ? '' : `${problem.path}: `
  return `${problem.source}${position}: ${path}expected ${problem.expected}, found ${problem.found}`
}

/** Thrown when a configuration cannot be used; its message lists every problem, one per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'

  constructor(readonly problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
    super(`invalid Grey configuration (${count}):\n${problems.map((p) => `  ${formatConfigProblem(p)}`).join('\n')}`)
  }
}
