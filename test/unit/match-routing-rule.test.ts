import t from 'tap'
import type { RoutingRule } from '../../src/config/config-schema.js'
import { matchRoutingRule, type RuleFacts } from '../../src/routing/match-routing-rule.js'

const rules: RoutingRule[] = [
  { match: { table: 'orders' }, consistency: 'strong' },
  { match: { statement: '^SELECT .* FROM reports' }, consistency: 'eventual' },
  { match: { application_name: 'batch-jobs' }, consistency: 'bounded', max_staleness: 30_000 },
  { match: { user: 'analyst', table: 'billing.invoices' }, consistency: 'eventual' },
  { match: { keyspace: 'metrics' }, consistency: 'eventual' },
]
const facts: RuleFacts = { tables: [], statement: 'SELECT 1', user: 'app', applicationName: 'web', keyspace: null }

const cases: Array<[string, Partial<RuleFacts>, ReturnType<typeof matchRoutingRule>]> = [
  ['nothing matches', {}, null],
  ['by table', { tables: ['orders'] }, { consistency: 'strong', rule: 1 }],
  ['a table rule without a schema matches the schema-qualified name', { tables: ['shop.orders'] }, { consistency: 'strong', rule: 1 }],
  ['but not a longer name', { tables: ['old_orders'] }, null],
  ['by statement pattern, case-insensitive', { statement: 'select x from reports where y' }, { consistency: 'eventual', rule: 2 }],
  ['by application_name, with its bound', { applicationName: 'batch-jobs' }, { consistency: 'bounded', maxStalenessMs: 30_000, rule: 3 }],
  ['all conditions must hold', { user: 'analyst' }, null],
  ['… and then it matches', { user: 'analyst', tables: ['billing.invoices'] }, { consistency: 'eventual', rule: 4 }],
  ['first match wins', { tables: ['orders'], applicationName: 'batch-jobs' }, { consistency: 'strong', rule: 1 }],
  ['by keyspace', { keyspace: 'metrics' }, { consistency: 'eventual', rule: 5 }],
]
for (const [name, change, want] of cases) t.same(matchRoutingRule(rules, { ...facts, ...change }), want, name)
t.equal(matchRoutingRule([], { ...facts, tables: ['orders'] }), null, 'no rules')
