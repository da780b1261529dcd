#!/usr/bin/env node
// What each consistency level costs in latency on the lab, per region: statements through each region's Grey
// (PostgreSQL and CQL), p50 and p99 over --samples sequential runs of each. The lab's WAN emulator puts us-east
// (the primary region) 40 ms one way from eu-west and 90 ms from ap-south. See bench/README.md.
//
//   node dist/cli/grey.js lab up          # with Cassandra, after npm run build
//   node bench/levels.mjs [--samples 200] [--lab-dir .lab]
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import cassandra from 'cassandra-driver'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '200' },
    'lab-dir': { type: 'string', default: join(ROOT, '.lab') },
    help: { type: 'boolean' },
  },
})
if (args.help) {
  console.log('node bench/levels.mjs [--samples 200] [--lab-dir .lab]   (needs the lab with Cassandra: grey lab up)')
  process.exit(0)
}
const samples = Number(args.samples)
const lab = JSON.parse(readFileSync(join(resolve(args['lab-dir']), 'lab.json'), 'utf8'))
const regions = Object.keys(lab.regions)
const hostPort = (text) => {
  const i = text.lastIndexOf(':')
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) }
}

async function measure(act) {
  for (let i = 0; i < 5; i++) await act() // warm-up: connections, prepared statements, pools
  const times = []
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint()
    await act()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((a, b) => a - b)
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))]
  return { p50: at(0.5), p99: at(0.99) }
}

const setup = new pg.Client({
  ...hostPort(lab.regions[regions[0]].pg.direct),
  user: lab.pg.user,
  password: lab.pg.password,
  database: lab.pg.database,
})
await setup.connect()
await setup.query('CREATE TABLE IF NOT EXISTS levels_probe (k int PRIMARY KEY, v bigint NOT NULL)')
await setup.query('INSERT INTO levels_probe VALUES (1, 0) ON CONFLICT DO NOTHING')
await setup.end()

const rows = []
for (const region of regions) {
  const grey = lab.regions[region].grey
  const client = async () => {
    const c = new pg.Client({ ...hostPort(grey.pg), user: lab.pg.user, password: lab.pg.password, database: lab.pg.database })
    await c.connect()
    return c
  }
  const c = await client()
  const read = (hint) => () => c.query(`${hint}SELECT v FROM levels_probe WHERE k = 1`)
  const write = () => c.query('UPDATE levels_probe SET v = v + 1 WHERE k = 1')
  const fresh = await client() // a session that has written nothing: no token to wait for
  rows.push([region, 'PostgreSQL', 'write (autocommit UPDATE, synchronous commit to eu-west)', await measure(write)])
  rows.push([region, 'PostgreSQL', 'strong read', await measure(read('/* grey: consistency=strong */ '))])
  rows.push([region, 'PostgreSQL', 'bounded read (max_staleness=5s)', await measure(read('/* grey: max_staleness=5s */ '))])
  rows.push([
    region,
    'PostgreSQL',
    'session read, nothing written',
    await measure(() => fresh.query('SELECT v FROM levels_probe WHERE k = 1')),
  ])
  rows.push([
    region,
    'PostgreSQL',
    'session read right after its own write (read only)',
    await (async () => {
      const times = []
      for (let i = 0; i < samples; i++) {
        await write()
        const t0 = process.hrtime.bigint()
        await read('')()
        times.push(Number(process.hrtime.bigint() - t0) / 1e6)
      }
      times.sort((a, b) => a - b)
      return { p50: times[Math.floor(0.5 * times.length)], p99: times[Math.min(times.length - 1, Math.floor(0.99 * times.length))] }
    })(),
  ])
  rows.push([region, 'PostgreSQL', 'eventual read', await measure(read('/* grey: consistency=eventual */ '))])
  await Promise.all([c.end(), fresh.end()])

  const cql = new cassandra.Client({
    contactPoints: [grey.cql],
    localDataCenter: region,
    keyspace: lab.cassandra.keyspace,
    credentials: { username: lab.pg.user, password: lab.pg.password },
  })
  await cql.connect()
  const { consistencies } = cassandra.types
  const cqlRead = (consistency) => () => cql.execute('SELECT v FROM kv WHERE k = ?', ['levels'], { prepare: true, consistency })
  rows.push([
    region,
    'CQL',
    'write LOCAL_QUORUM (session)',
    await measure(() =>
      cql.execute('UPDATE kv SET v = ? WHERE k = ?', ['x', 'levels'], { prepare: true, consistency: consistencies.localQuorum }),
    ),
  ])
  rows.push([region, 'CQL', 'read QUORUM (strong: LOCAL_QUORUM in the primary DC)', await measure(cqlRead(consistencies.quorum))])
  rows.push([region, 'CQL', 'read LOCAL_QUORUM (session)', await measure(cqlRead(consistencies.localQuorum))])
  rows.push([region, 'CQL', 'read LOCAL_ONE (eventual)', await measure(cqlRead(consistencies.localOne))])
  await cql.shutdown()
}

console.log(`\n${samples} sequential samples each, through each region's Grey (ms)\n`)
console.log('| region | protocol | statement | p50 | p99 |')
console.log('|---|---|---|---:|---:|')
for (const [region, protocol, what, { p50, p99 }] of rows)
  console.log(`| ${region} | ${protocol} | ${what} | ${p50.toFixed(1)} | ${p99.toFixed(1)} |`)
