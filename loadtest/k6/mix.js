// k6 script: the PostgreSQL classes of the seed's query mix through one region's Grey, each class an open-model
// scenario (constant arrival rate = its share of GREY_RATE operations per second), with a p99 and an error-rate
// threshold per class. Needs the k6 that loadtest/build-k6.mjs builds (xk6-sql, its PostgreSQL driver, a clock);
// loadtest/run.mjs runs it for every region. By hand, from loadtest/:
//
//   K6_AUTO_EXTENSION_RESOLUTION=false GREY_REGION=eu-west \
//     GREY_PG_URL='postgres://grey:grey-lab-password@127.0.0.1:15421/app?sslmode=disable' "$(node build-k6.mjs)" run k6/mix.js
//
// Environment: GREY_REGION; GREY_PG_URL, else GREY_PG_<REGION> (GREY_PG_EU_WEST, as compose.yaml sets them);
// GREY_RATE (ops/s of the whole mix, CQL included; default 100); GREY_SECONDS (default 15);
// GREY_P99_MS (JSON {class: ms}; default 1000 each); GREY_SUMMARY (file for the summary, else stdout);
// GREY_SEED=true to create and fill the tables first (compose.yaml; run.mjs seeds them itself).
import sql from 'k6/x/sql'
import driver from 'k6/x/sql/driver/postgres'
import { now } from 'k6/x/grey/clock'
import { Rate, Trend } from 'k6/metrics'
import { QUERY_MIX, SEED_STATEMENTS, SEED_USERS, WARM_UP_SECONDS } from '../query-mix.mjs'

const PG_CLASSES = QUERY_MIX.filter((c) => c.protocol === 'pg')
const rate = Number(__ENV.GREY_RATE || 100)
const seconds = Number(__ENV.GREY_SECONDS || 15)
const p99Ms = JSON.parse(__ENV.GREY_P99_MS || '{}')
// Enough VUs for each class's arrival rate at a p99 near a second; k6 counts any shortfall as dropped_iterations.
const vusFor = (perSecond) => Math.max(2, Math.ceil(perSecond * 0.5))

const latency = new Trend('grey_latency_ms', true)
const errors = new Rate('grey_errors')

export const options = {
  summaryTrendStats: ['min', 'med', 'p(50)', 'p(90)', 'p(99)', 'max', 'count'],
  setupTimeout: '30s',
  scenarios: {
    // Every VU connects and runs a local and a primary-bound read once before the clock starts; k6 hands the same
    // VUs (and their connections) to the measured scenarios, which start when this one has ended.
    warm_up: {
      executor: 'per-vu-iterations',
      exec: 'warm_up',
      vus: PG_CLASSES.reduce((n, c) => n + vusFor(rate * c.share), 0),
      iterations: 1,
      maxDuration: `${WARM_UP_SECONDS}s`,
      gracefulStop: '0s',
      tags: { class: 'warm_up' },
    },
    ...Object.fromEntries(
      PG_CLASSES.map((c) => [
        c.name,
        {
          executor: 'constant-arrival-rate',
          exec: c.name,
          startTime: `${WARM_UP_SECONDS}s`,
          rate: Math.max(1, Math.round(rate * c.share * 100)),
          timeUnit: '100s',
          duration: `${seconds}s`,
          preAllocatedVUs: vusFor(rate * c.share),
          maxVUs: vusFor(rate * c.share) * 4,
          tags: { class: c.name },
        },
      ]),
    ),
  },
  thresholds: Object.fromEntries(
    PG_CLASSES.flatMap((c) => [
      [`grey_latency_ms{class:${c.name}}`, [`p(99)<${p99Ms[c.name] ?? 1000}`]],
      [`grey_errors{class:${c.name}}`, ['rate<0.01']],
    ]),
  ),
}

// One pool per VU; a VU runs one statement at a time. binary_parameters=yes makes lib/pq send Parse, Bind and Execute
// in one flight, as node-postgres does. Without it lib/pq parses the unnamed statement in one flight (Sync) and binds
// it in the next, which pays a second round trip on a remote route and which Grey answers with "unnamed prepared
// statement does not exist" when the second flight reaches another server connection.
const region = __ENV.GREY_REGION || ''
const pgUrl = __ENV.GREY_PG_URL || __ENV[`GREY_PG_${region.toUpperCase().replace(/-/g, '_')}`]
if (!pgUrl) throw new Error('k6/mix.js: set GREY_PG_URL, or GREY_REGION and GREY_PG_<REGION>, to a Grey PostgreSQL URL')
const db = sql.open(driver, `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}binary_parameters=yes`, {
  max_open_conns: 1,
  max_idle_conns: 1,
})

const byName = Object.fromEntries(PG_CLASSES.map((c) => [c.name, c]))
const pick = () => 1 + Math.floor(Math.random() * SEED_USERS)

let warm = false

// Through Grey, which sends every seed statement to the primary. Eventual reads that reach a standby before it has
// replayed the seed find no row, which is not an error.
export function setup() {
  if (__ENV.GREY_SEED !== 'true') return
  for (const { sql: text, params } of SEED_STATEMENTS) db.exec(text, ...params)
}

export function warm_up() {
  db.query(byName.user_lookup.sql, pick())
  db.query(byName.balance_check.sql, pick())
  warm = true
}

// A VU added during the run missed the warm-up: its first statement, which opens its connection, goes untimed.
function timed(c, run) {
  if (!warm) {
    warm = true
    try {
      run()
    } catch (err) {
      console.error(`${c.name} (warm-up): ${err}`)
    }
  }
  const t0 = now()
  try {
    run()
    latency.add(now() - t0, { class: c.name })
    errors.add(0, { class: c.name })
  } catch (err) {
    errors.add(1, { class: c.name })
    console.error(`${c.name}: ${err}`)
  }
}

export function user_lookup() {
  timed(byName.user_lookup, () => db.query(byName.user_lookup.sql, pick()))
}

export function balance_check() {
  timed(byName.balance_check, () => db.query(byName.balance_check.sql, pick()))
}

export function transaction_submit() {
  const amount = (Math.random() * 200 - 100).toFixed(2)
  timed(byName.transaction_submit, () => db.exec(byName.transaction_submit.sql, pick(), amount))
}

export function analytics() {
  timed(byName.analytics, () => db.query(byName.analytics.sql))
}

export function teardown() {
  db.close()
}

export function handleSummary(data) {
  const summary = {
    region,
    thresholds: Object.fromEntries(
      Object.entries(data.metrics)
        .filter(([, m]) => m.thresholds)
        .map(([name, m]) => [name, Object.fromEntries(Object.entries(m.thresholds).map(([t, r]) => [t, r.ok]))]),
    ),
    droppedIterations: data.metrics.dropped_iterations?.values.count ?? 0,
  }
  return __ENV.GREY_SUMMARY ? { [__ENV.GREY_SUMMARY]: JSON.stringify(summary, null, 2) } : { stdout: JSON.stringify(summary) }
}
