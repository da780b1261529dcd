#!/usr/bin/env node
// One command for the load test (`npm run loadtest`): brings the lab up, builds k6 (loadtest/build-k6.mjs), seeds a
// small schema, then drives the seed's query mix through each region's Grey in turn — the PostgreSQL classes with k6
// (loadtest/k6/mix.js), event ingest with cassandra-driver (loadtest/cql-ingest.mjs), at the same time — and prints
// p50, p99 and throughput per region and class beside the lab's physical floor. Results: loadtest/results/*.json.
//
//   npm run loadtest -- [--seconds 15] [--rate 100] [--regions us-east,eu-west] [--skip-lab] [--lab-dir .lab]
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { PINS, ensureK6 } from './build-k6.mjs'
import { ensureEventsTable, runEventIngest } from './cql-ingest.mjs'
import { QUERY_MIX, SEED_STATEMENTS, SEED_USERS, WARM_UP_SECONDS } from './query-mix.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '100' },
    regions: { type: 'string' },
    'lab-dir': { type: 'string', default: join(ROOT, '.lab') },
    'skip-lab': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`npm run loadtest -- [options]
  --seconds N      measured seconds per region (default 15)
  --rate N         operations per second of the whole mix, per region (default 100)
  --regions a,b    regions to load, one after another (default: every region in lab.json)
  --skip-lab       use the running lab as it is (no setup, build or lab up)
  --lab-dir DIR    the lab's directory (default .lab)`)
  process.exit(0)
}
const seconds = Number(args.seconds)
const rate = Number(args.rate)
if (!(seconds > 0) || !(rate > 0)) throw new Error('run.mjs: --seconds and --rate must be positive numbers')
const labDir = resolve(args['lab-dir'])

function step(what, cmd, cmdArgs) {
  console.log(`» ${what}: ${cmd} ${cmdArgs.join(' ')}`)
  const r = spawnSync(cmd, cmdArgs, { cwd: ROOT, stdio: 'inherit' })
  return r.status === 0
}

if (!args['skip-lab']) {
  if (!step('install what is missing', process.execPath, ['src/cli/setup.mjs', '--quiet-if-ready'])) process.exit(1)
  if (!step('build Grey', 'npx', ['tsc', '-p', 'tsconfig.build.json'])) {
    console.log('» the TypeScript build reported errors; going on with the dist/ it produced')
  }
  if (!step('start the lab', process.execPath, ['dist/cli/grey.js', 'lab', 'up', '--dir', labDir])) process.exit(1)
}

const k6 = ensureK6()
const { oneWayDelayMs } = await import(join(ROOT, 'dist', 'lab', 'lab-plan.js'))
const lab = JSON.parse(readFileSync(join(labDir, 'lab.json'), 'utf8'))
const allRegions = Object.keys(lab.regions)
const regions = args.regions ? args.regions.split(',').map((r) => r.trim()) : allRegions
for (const r of regions) if (!lab.regions[r]) throw new Error(`run.mjs: no region ${r} in ${join(labDir, 'lab.json')}`)
const primaryRegion = allRegions.find((r) => lab.regions[r].pg.role === 'primary')
const syncStandbyRegion = allRegions.find((r) => lab.regions[r].pg.role === 'sync-standby')
const hostPort = (text) => ({ host: text.slice(0, text.lastIndexOf(':')), port: Number(text.slice(text.lastIndexOf(':') + 1)) })
const pgLogin = { user: lab.pg.user, password: lab.pg.password, database: lab.pg.database }

/** The lab's physical minimum for a class from a region: the emulated WAN round trips it cannot avoid. */
function floorMs(cls, region) {
  const rtt = (a, b) => 2 * oneWayDelayMs(a, b)
  if (cls.floor === 'local') return 0
  if (cls.floor === 'primary') return rtt(region, primaryRegion)
  return rtt(region, primaryRegion) + (syncStandbyRegion ? rtt(primaryRegion, syncStandbyRegion) : 0)
}

async function seed() {
  const primary = new pg.Client({ ...hostPort(lab.regions[primaryRegion].pg.direct), ...pgLogin })
  await primary.connect()
  try {
    for (const { sql, params } of SEED_STATEMENTS) await primary.query(sql, params)
    const { rows } = await primary.query('SELECT pg_current_wal_lsn()::text AS lsn')
    // Standbys replay the seed before the clock starts, so eventual reads find their rows.
    for (const region of allRegions.filter((r) => r !== primaryRegion)) {
      const standby = new pg.Client({ ...hostPort(lab.regions[region].pg.direct), ...pgLogin })
      await standby.connect()
      try {
        const deadline = Date.now() + 30_000
        for (;;) {
          const r = await standby.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught_up', [rows[0].lsn])
          if (r.rows[0].caught_up) break
          if (Date.now() > deadline) throw new Error(`run.mjs: the ${region} standby has not replayed the seed after 30 s`)
          await new Promise((done) => setTimeout(done, 100))
        }
      } finally {
        await standby.end()
      }
    }
  } finally {
    await primary.end()
  }
  await ensureEventsTable(lab, primaryRegion)
}

const percentile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN)

function runK6(region, p99LimitMs, work) {
  const pgUrl =
    `postgres://${encodeURIComponent(lab.pg.user)}:${encodeURIComponent(lab.pg.password)}@` +
    `${lab.regions[region].grey.pg}/${encodeURIComponent(lab.pg.database)}?sslmode=disable`
  const samples = join(work, `k6-${region}.jsonl`)
  const summary = join(work, `k6-${region}-summary.json`)
  const log = join(work, `k6-${region}.log`)
  const env = {
    ...process.env,
    K6_AUTO_EXTENSION_RESOLUTION: 'false',
    K6_NO_USAGE_REPORT: 'true',
    GREY_PG_URL: pgUrl,
    GREY_REGION: region,
    GREY_RATE: String(rate),
    GREY_SECONDS: String(seconds),
    GREY_P99_MS: JSON.stringify(p99LimitMs),
    GREY_SUMMARY: summary,
  }
  return new Promise((done, fail) => {
    const child = spawn(k6, ['run', '--quiet', '--no-color', '--out', `json=${samples}`, 'k6/mix.js'], { cwd: HERE, env })
    const output = []
    child.stdout.on('data', (b) => output.push(b))
    child.stderr.on('data', (b) => output.push(b))
    child.on('error', fail)
    child.on('close', (code) => {
      writeFileSync(log, Buffer.concat(output))
      // 99: a threshold was crossed; the run itself is complete.
      if (code !== 0 && code !== 99)
        return fail(new Error(`run.mjs: k6 exited with ${code} in ${region}:\n${readFileSync(log, 'utf8').slice(-3000)}`))
      done({ samples, summary: JSON.parse(readFileSync(summary, 'utf8')), log })
    })
  })
}

function readK6Samples(file) {
  const byClass = new Map()
  const entry = (cls) => byClass.get(cls) ?? byClass.set(cls, { latenciesMs: [], errors: 0, dropped: 0 }).get(cls)
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"Point"')) continue
    const point = JSON.parse(line)
    const cls = point.data.tags?.class ?? point.data.tags?.scenario
    if (!cls) continue
    if (point.metric === 'grey_latency_ms') entry(cls).latenciesMs.push(point.data.value)
    else if (point.metric === 'grey_errors' && point.data.value === 1) entry(cls).errors++
    else if (point.metric === 'dropped_iterations') entry(cls).dropped += point.data.value
  }
  return byClass
}

async function loadRegion(region, work) {
  const p99LimitMs = Object.fromEntries(QUERY_MIX.map((c) => [c.name, floorMs(c, region) + c.p99BudgetMs]))
  const cqlClass = QUERY_MIX.find((c) => c.protocol === 'cql')
  const [k6Run, cql] = await Promise.all([
    runK6(region, p99LimitMs, work),
    // k6 starts its VUs (about a second) and warms up before its measured seconds; CQL ingest starts with them.
    runEventIngest({ lab, region, ratePerSecond: rate * cqlClass.share, seconds, startAtMs: Date.now() + 1000 + WARM_UP_SECONDS * 1000 }),
  ])
  const pgResults = readK6Samples(k6Run.samples)
  return QUERY_MIX.map((c) => {
    const measured = c.protocol === 'cql' ? cql : (pgResults.get(c.name) ?? { latenciesMs: [], errors: 0, dropped: 0 })
    const sorted = [...measured.latenciesMs].sort((a, b) => a - b)
    const ops = sorted.length
    const attempts = ops + measured.errors
    const p99Ms = percentile(sorted, 0.99)
    const thresholdOk =
      c.protocol === 'cql'
        ? p99Ms < p99LimitMs[c.name] && (attempts === 0 || measured.errors / attempts < 0.01)
        : Object.entries(k6Run.summary.thresholds)
            .filter(([metric]) => metric.endsWith(`{class:${c.name}}`))
            .every(([, results]) => Object.values(results).every(Boolean))
    return {
      class: c.name,
      label: c.label,
      level: c.level,
      share: c.share,
      ops,
      errors: measured.errors,
      firstError: measured.firstError,
      dropped: measured.dropped,
      opsPerSecond: ops / seconds,
      p50Ms: percentile(sorted, 0.5),
      p99Ms,
      floorMs: floorMs(c, region),
      p99LimitMs: p99LimitMs[c.name],
      thresholdOk: ops > 0 && thresholdOk,
    }
  })
}

const fmt = (ms) => (Number.isFinite(ms) ? ms.toFixed(ms < 10 ? 2 : 1) : '-')
const pad = (text, width, right = false) => (right ? String(text).padStart(width) : String(text).padEnd(width))

function printTable(results) {
  const head = ['region', 'class', 'level', 'share', 'ops/s', 'p50 ms', 'p99 ms', 'floor ms', 'p50-floor', 'p99 limit', 'ok']
  const widths = [9, 19, 23, 6, 7, 8, 8, 9, 10, 10, 3]
  const right = [false, false, false, true, true, true, true, true, true, true, false]
  const line = (cells) => cells.map((c, i) => pad(c, widths[i], right[i])).join('  ')
  console.log(line(head))
  for (const { region, classes } of results) {
    for (const c of classes) {
      console.log(
        line([
          region,
          c.label,
          c.level,
          `${Math.round(c.share * 100)}%`,
          c.opsPerSecond.toFixed(1),
          fmt(c.p50Ms),
          fmt(c.p99Ms),
          c.floorMs,
          fmt(c.p50Ms - c.floorMs),
          `<${c.p99LimitMs}`,
          c.thresholdOk ? 'yes' : 'NO',
        ]),
      )
      if (c.errors || c.dropped)
        console.log(`${pad('', widths[0])}  ${c.errors} errors, ${c.dropped} dropped${c.firstError ? `: ${c.firstError}` : ''}`)
    }
  }
}

const startedAt = new Date()
console.log(`» seed: ${SEED_USERS} users and accounts in PostgreSQL (through the ${primaryRegion} primary), grey_lab.events in Cassandra`)
await seed()
const work = mkdtempSync(join(tmpdir(), 'grey-loadtest-'))
const results = []
try {
  for (const region of regions) {
    console.log(
      `» ${region}: ${seconds} s at ${rate} ops/s (k6 for PostgreSQL, cassandra-driver for CQL) through ${lab.regions[region].grey.pg} / ${lab.regions[region].grey.cql}`,
    )
    results.push({ region, classes: await loadRegion(region, work) })
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

console.log(`
Grey under the seed's query mix: ${seconds} s per region, ${rate} ops/s per region (open model), one region at a time.
floor = the lab's physical minimum: 0 when the region serves the statement itself; a round trip to the primary region
(${primaryRegion}) for a strong read; that plus the primary's round trip to its synchronous standby (${syncStandbyRegion}) for a
PostgreSQL commit. The seed card's own latency table is not in this repository, so it is not shown beside these figures.
`)
printTable(results)

const failed = results.flatMap((r) => r.classes.filter((c) => !c.thresholdOk).map((c) => `${r.region} ${c.label}`))
const resultsDir = join(HERE, 'results')
mkdirSync(resultsDir, { recursive: true })
const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
const saved = {
  startedAt: startedAt.toISOString(),
  seconds,
  ratePerSecond: rate,
  k6: { binary: k6, ...PINS },
  primaryRegion,
  syncStandbyRegion,
  seedCardLatencyTable: 'not in this repository',
  regions: results,
}
writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`)
console.log(`\nthresholds (p99 < floor + budget, errors < 1 %): ${failed.length ? `crossed by ${failed.join(', ')}` : 'all met'}`)
console.log(`results: ${relative(process.cwd(), file)}`)
if (failed.length) process.exitCode = 1
