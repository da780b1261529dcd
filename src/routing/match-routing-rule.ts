// Configured routing rules (routing.rules, replaced at run time through the Raft log): the first rule whose every
// given condition holds names the statement's consistency. They rank below a statement's hint and the session's own
// setting, above routing.default_consistency (ARCHITECTURE §3).
import type { ConsistencyLevel, RoutingRule } from '../config/config-schema.js'

/** What a rule can look at. `tables` as the classifier prints them (`orders`, `billing.invoices`). */
export interface RuleFacts {
  readonly tables: readonly string[]
  readonly statement: string
  readonly user: string
  readonly applicationName: string
  readonly keyspace: string | null
}

export interface RuleChoice {
  readonly consistency: ConsistencyLevel
  /** The rule's own bound for a bounded read. */
  readonly maxStalenessMs?: number
  /** For logs: which rule, counted from 1 as an operator reads the list. */
  readonly rule: number
}

const compiled = new Map<string, RegExp>()
function statementPattern(source: string): RegExp {
  let re = compiled.get(source)
  if (!re) {
    // The schema checked the source compiles; the cache is bounded by the rule lists in use.
    re = new RegExp(source, 'is')
    compiled.set(source, re)
  }
  return re
}

/** A rule's table names a relation with or without its schema: `orders` matches `orders` and `public.orders`. */
function tableMatches(wanted: string, tables: readonly string[]): boolean {
  return tables.some((t) => t === wanted || t.endsWith(`.${wanted}`))
}

export function matchRoutingRule(rules: readonly RoutingRule[], facts: RuleFacts): RuleChoice | null {
  for (const [i, rule] of rules.entries()) {
    const m = rule.match
    if (m.table !== undefined && !tableMatches(m.table, facts.tables)) continue
    if (m.statement !== undefined && !statementPattern(m.statement).test(facts.statement)) continue
    if (m.user !== undefined && m.user !== facts.user) continue
    if (m.application_name !== undefined && m.application_name !== facts.applicationName) continue
    if (m.keyspace !== undefined && m.keyspace !== facts.keyspace) continue
    return {
      consistency: rule.consistency,
      ...(rule.max_staleness === undefined ? {} : { maxStalenessMs: rule.max_staleness }),
      rule: i + 1,
    }
  }
  return null
}
