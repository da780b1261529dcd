// partition.queue: defaults, the example's section, and the problems named by key path.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ConfigError, formatConfigProblem } from '../../src/config/config-error.js'
import { parseConfig } from '../../src/config/load-config.js'

const exampleText = readFileSync(fileURLToPath(new URL('../../src/config/grey.example.yaml', import.meta.url)), 'utf8')

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(exampleText, env, 'grey.yaml')
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatConfigProblem)
    throw error
  }
  return []
}

t.test('the example queues nothing; a store, tables and limits are set like any key', async (t) => {
  t.strictSame(parseConfig(exampleText).partition.queue, {
    store: 'none',
    tables: [],
    keyspaces: [],
    max_entries: 100_000,
    replay_interval: 1000,
  })
  const config = parseConfig(exampleText, {
    GREY_PARTITION__QUEUE__STORE: 'redis',
    GREY_PARTITION__QUEUE__TABLES: '[audit_events, billing.usage]',
    GREY_PARTITION__QUEUE__MAX_ENTRIES: '10',
    GREY_PARTITION__QUEUE__REPLAY_INTERVAL: '250ms',
  })
  t.match(config.partition.queue, { store: 'redis', tables: ['audit_events', 'billing.usage'], max_entries: 10, replay_interval: 250 })
  t.equal(problemsOf({ GREY_PARTITION__QUEUE__STORE: 'file', GREY_PARTITION__QUEUE__DIR: '/var/lib/grey/queue' }).length, 0)
})

t.test('problems name the key', async (t) => {
  t.strictSame(problemsOf({ GREY_PARTITION__QUEUE__STORE: 'kafka' }), [
    'env GREY_PARTITION__QUEUE__STORE: partition.queue.store: expected one of none | redis | file, found "kafka"',
  ])
  t.strictSame(problemsOf({ GREY_PARTITION__QUEUE__MAX_ENTRIES: '0' }), [
    'env GREY_PARTITION__QUEUE__MAX_ENTRIES: partition.queue.max_entries: expected a whole number of entries, at least 1, found 0',
  ])
  t.strictSame(problemsOf({ GREY_PARTITION__QUEUE__REDIS: 'localhost:6379' }), [
    'env GREY_PARTITION__QUEUE__REDIS: partition.queue.redis: expected a redis:// or rediss:// URL, found "localhost:6379"',
  ])
})

t.test("a Redis store needs a Redis: its own URL or the region's", async (t) => {
  // ap-south has no databases.redis in the example.
  t.strictSame(problemsOf({ GREY_PROXY__REGION: 'ap-south', GREY_PARTITION__QUEUE__STORE: 'redis' }), [
    'grey.yaml: partition.queue.redis: expected a redis:// URL: partition.queue.store is redis and cluster.regions.ap-south.databases.redis is not set to default to, found nothing',
  ])
  t.strictSame(
    problemsOf({ GREY_PROXY__REGION: 'ap-south', GREY_PARTITION__QUEUE__STORE: 'redis', GREY_PARTITION__QUEUE__REDIS: 'redis://r:6379' }),
    [],
  )
  t.strictSame(problemsOf({ GREY_PROXY__REGION: 'us-east', GREY_PARTITION__QUEUE__STORE: 'redis' }), [], "us-east's Redis")
})
