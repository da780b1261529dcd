import { readFileSync } from 'node:fs'
import { LineCounter, parseDocument } from 'yaml'
import type { z } from 'zod'
import { didYouMean } from './did-you-mean.js'
import { ConfigError, configProblem, type ConfigProblem } from './config-error.js'
import { configErrorMap } from './config-error-map.js'
import { CONFIG_SECTIONS, ConfigSchema, type Config } from './config-schema.js'
import { applyEnvOverrides, envSource, type EnvOverride } from './env-overrides.js'

/**
 * Reads and validates a config file, then applies `GREY_*` overrides from `env`
 * (process.env unless given). Throws a ConfigError listing every problem.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError([configProblem(path, [], 'a readable YAML file', (error as Error).message)])
  }
  return parseConfig(text, env, path)
}

/**
 * Validates YAML text. Environment overrides come from `env` only (none by default), so that
 * parsing a string never depends on the process environment. `sourceName` prefixes problems.
 */
export function parseConfig(yamlText: string, env: NodeJS.ProcessEnv = {}, sourceName = 'config'): Config {
  const lineCounter = new LineCounter()
  const document = parseDocument(yamlText, { lineCounter, prettyErrors: false })
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0])
        const found = `a syntax error (${error.message})`
        return { source: sourceName, path: '', expected: 'valid YAML', found, line, column: col }
      }),
    )
  }
  // An empty file is an empty mapping: the problems then name the missing sections.
  const data: unknown = document.toJS() ?? {}
  const { overrides, problems: envProblems } = applyEnvOverrides(data, env, CONFIG_SECTIONS)

  const result = ConfigSchema.safeParse(data, { reportInput: true, error: configErrorMap })
  const sourceOf = (path: readonly PropertyKey[]): string => blame(overrides, path) ?? sourceName
  const problems = [...envProblems, ...(result.error?.issues.flatMap((issue) => toProblems(issue, sourceOf)) ?? [])]
  if (!result.success || problems.length > 0) throw new ConfigError(problems.sort(bySection))
  return result.data
}

/** Cross-field checks report after the per-field ones; list problems in the file's section order instead. */
function bySection(a: ConfigProblem, b: ConfigProblem): number {
  const rank = (problem: ConfigProblem) => CONFIG_SECTIONS.indexOf(problem.path.split(/[.[]/, 1)[0]!)
  return rank(a) - rank(b)
}

/**
 * The variable that supplied the value at `path`, if one did. Overrides are applied shallow to
 * deep, so when several cover the path the last one is the most specific.
 */
function blame(overrides: readonly EnvOverride[], path: readonly PropertyKey[]): string | undefined {
  let found: string | undefined
  for (const { variable, origin } of overrides) {
    if (origin.length <= path.length && origin.every((segment, i) => String(segment) === String(path[i]))) {
      found = envSource(variable)
    }
  }
  return found
}

function toProblems(issue: z.core.$ZodIssue, sourceOf: (path: readonly PropertyKey[]) => string): ConfigProblem[] {
  if (issue.code !== 'unrecognized_keys') {
    return [configProblem(sourceOf(issue.path), issue.path, issue.message, issue.input)]
  }
  // configErrorMap made the message the object's known keys; report each unknown key on its own.
  const known = issue.message.split(' | ')
  return issue.keys.map((key) => {
    const path = [...issue.path, key]
    const guess = didYouMean(key, known)
    const expected = guess === undefined ? `a known key (${issue.message})` : `a known key (did you mean "${guess}"?)`
    return { ...configProblem(sourceOf(path), path, expected, undefined), found: `unknown key ${JSON.stringify(key)}` }
  })
}
