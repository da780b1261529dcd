#!/usr/bin/env node
// The CQL class of the seed's query mix, event ingest, driven from Node with cassandra-driver through one region's Grey
// (no xk6 CQL extension is on the Go module proxy this project reaches; see loadtest/build-k6.mjs). Open model: one
// write every 1/rate s whatever the latency, at LOCAL_QUORUM (the session level: the local DC, stamped by Grey's HLC).
//
//   node loadtest/cql-ingest.mjs --region eu-west [--rate 30] [--seconds 15] [--lab-dir .lab]
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import cassandra from 'cassandra-driver'
import { QUERY_MIX, SEED_USERS } from './query-mix.mjs'

const EVENT_INGEST = QUERY_MIX.find((c) => c.name === 'event_ingest')
const MAX_IN_FLIGHT = 256
const KINDS = ['login', 'view', 'click', 'transfer']

export const EVENTS_TABLE_CQL =
  'CREATE TABLE IF NOT EXISTS grey_lab.events (user_id int, at timeuuid, kind text, payload text, PRIMARY KEY (user_id, at)) ' +
  'WITH CLUSTERING ORDER BY (at DESC)'

/** A cassandra-driver client whose only node is the region's Grey. */
export function greyCqlClient(lab, region) {
  return new cassandra.Client({
    contactPoints: [lab.regions[region].grey.cql],
    localDataCenter: region,
    keyspace: lab.cassandra.keyspace,
    credentials: { username: lab.pg.user, password: lab.pg.password },
  })
}

/** Creates grey_lab.events through the region's Grey (which waits for schema agreement across the DCs). */
export async function ensureEventsTable(lab, region) {
  const client = greyCqlClient(lab, region)
  try {
    await client.execute(EVENTS_TABLE_CQL)
  } finally {
    await client.shutdown()
  }
}

const elapsedMs = (t0) => Number(process.hrtime.bigint() - t0) / 1e6
const sleep = (ms) => new Promise((done) => setTimeout(done, ms))

/**
 * Writes events at `ratePerSecond` for `seconds` (from `startAtMs`, a Date.now() time, if later) and returns every latency in ms, the errors (count and first message)
 * and the sends skipped because MAX_IN_FLIGHT writes were already waiting.
 */
export async function runEventIngest({ lab, region, ratePerSecond, seconds, startAtMs = 0 }) {
  const client = greyCqlClient(lab, region)
  const options = { prepare: true, consistency: cassandra.types.consistencies.localQuorum }
  const write = () =>
    client.execute(
      EVENT_INGEST.cql,
      [
        1 + Math.floor(Math.random() * SEED_USERS),
        cassandra.types.TimeUuid.now(),
        KINDS[Math.floor(Math.random() * 4)],
        `{"region":"${region}"}`,
      ],
      options,
    )
  await client.connect()
  try {
    for (let i = 0; i < 5; i++) await write() // connection, prepared statement, Grey's backend pool
    if (startAtMs > Date.now()) await sleep(startAtMs - Date.now())
    const latenciesMs = []
    const result = { latenciesMs, errors: 0, firstError: undefined, dropped: 0 }
    const pending = new Set()
    const intervalMs = 1000 / ratePerSecond
    const total = Math.round(ratePerSecond * seconds)
    const start = process.hrtime.bigint()
    for (let i = 0; i < total; i++) {
      const waitMs = i * intervalMs - elapsedMs(start)
      if (waitMs > 0) await sleep(waitMs)
      if (pending.size >= MAX_IN_FLIGHT) {
        result.dropped++
        continue
      }
      const t0 = process.hrtime.bigint()
      const sent = write().then(
        () => latenciesMs.push(elapsedMs(t0)),
        (err) => {
          result.errors++
          result.firstError ??= String(err?.message ?? err)
        },
      )
      pending.add(sent)
      sent.finally(() => pending.delete(sent))
    }
    await Promise.all(pending)
    return result
  } finally {
    await client.shutdown()
  }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const { values: args } = parseArgs({
    options: {
      region: { type: 'string', default: 'us-east' },
      rate: { type: 'string', default: '30' },
      seconds: { type: 'string', default: '15' },
      'lab-dir': { type: 'string', default: join(root, '.lab') },
    },
  })
  const lab = JSON.parse(readFileSync(join(resolve(args['lab-dir']), 'lab.json'), 'utf8'))
  await ensureEventsTable(lab, args.region)
  const r = await runEventIngest({ lab, region: args.region, ratePerSecond: Number(args.rate), seconds: Number(args.seconds) })
  const sorted = r.latenciesMs.sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  console.log(
    `${args.region} event ingest: ${sorted.length} ok, ${r.errors} errors, ${r.dropped} dropped; p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms`,
  )
  if (r.firstError) console.log(`first error: ${r.firstError}`)
}
