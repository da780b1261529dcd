#!/usr/bin/env node
// CQL load against the lab's us-east Cassandra node three ways, in one run: direct (the driver
// pinned to us-east), through the lab's us-east Grey (its CQL front end), and through DataStax
// cql-proxy, which this script builds if missing, starts and stops. Prepared SELECT/INSERT at
// LOCAL_ONE on one table in the lab's keyspace; workloads × concurrencies; per cell ops/s and exact
// p50/p99 from every request's latency. The load driver is this Node process (cassandra-driver).
// See bench/README.md.
//
//   node dist/cli/grey.js lab up
//   node bench/cql.mjs [--seconds 10] [--concurrency 1,16,64]
import { spawn } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import {
  accessSync,
  constants,
  copyFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { cpus, homedir, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BENCH = join(ROOT, 'bench')
const require = createRequire(join(ROOT, 'package.json'))
const cassandra = require('cassandra-driver')
const REGION = 'us-east'
const TARGETS = ['direct', 'grey', 'cql-proxy']
const TABLE = 'bench_kv'
const CQL_PROXY_MODULE = 'github.com/datastax/cql-proxy'
const WORKLOADS = {
  read: { describe: `prepared SELECT v FROM ${TABLE} WHERE k = ? (random existing key) at LOCAL_ONE`, writeShare: 0 },
  write: { describe: `prepared INSERT INTO ${TABLE} (k, v) VALUES (?, ?) (random existing key, overwrite) at LOCAL_ONE`, writeShare: 1 },
  mixed: { describe: 'each request a read (80 %) or a write (20 %), chosen at random, as above', writeShare: 0.2 },
}

const USAGE = `node bench/cql.mjs [options]

  --seconds N           measured seconds per target per cell (default 10), split over --rounds
  --concurrency LIST    requests in flight from the one driver client per target (default 1,16,64)
  --workloads LIST      of read, write, mixed (default read,write,mixed)
  --targets LIST        of direct, grey, cql-proxy (default all three)
  --rounds N            slices per target and cell, order reversed each round (default 2)
  --rows N              rows in ${TABLE}, upserted before the matrix (default 10000)
  --value-bytes N       size of the text value v (default 100)
  --cql-proxy PATH      the cql-proxy binary (default ~/.cache/grey/bin/cql-proxy; built if missing)
  --cql-proxy-version V module version for \`go install ${CQL_PROXY_MODULE}@V\` (default latest)
  --cql-proxy-src DIR   when go install cannot get it: build from this checkout or git mirror instead
  --cql-proxy-conns N   cql-proxy --num-conns, connections per Cassandra node (default 2, as Grey's per keyspace)
  --lab-dir DIR         the lab directory (default .lab)

Needs the lab with Cassandra: node dist/cli/grey.js lab up`

// ---------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '1,16,64' },
    workloads: { type: 'string', default: 'read,write,mixed' },
    targets: { type: 'string', default: TARGETS.join(',') },
    rounds: { type: 'string', default: '2' },
    rows: { type: 'string', default: '10000' },
    'value-bytes': { type: 'string', default: '100' },
    'cql-proxy': { type: 'string', default: join(homedir(), '.cache', 'grey', 'bin', 'cql-proxy') },
    'cql-proxy-version': { type: 'string', default: 'latest' },
    'cql-proxy-src': { type: 'string' },
    'cql-proxy-conns': { type: 'string', default: '2' },
    'lab-dir': { type: 'string', default: join(ROOT, '.lab') },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (opts.help) {
  console.log(USAGE)
  process.exit(0)
}
const usageError = (message) => {
  console.error(`bench/cql.mjs: ${message}\n\n${USAGE}`)
  process.exit(2)
}
const positiveInt = (name) => {
  const n = Number(opts[name])
  if (!Number.isInteger(n) || n < 1) usageError(`--${name} takes a whole number ≥ 1, found "${opts[name]}"`)
  return n
}
const list = (name, known) => {
  const items = opts[name]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const item of items) if (known && !known.includes(item)) usageError(`--${name}: "${item}" is not one of ${known.join(', ')}`)
  if (items.length === 0) usageError(`--${name} is empty`)
  return items
}
const SECONDS = positiveInt('seconds')
const ROUNDS = positiveInt('rounds')
const ROWS = positiveInt('rows')
const VALUE_BYTES = positiveInt('value-bytes')
const CQL_PROXY_CONNS = positiveInt('cql-proxy-conns')
const CONCURRENCY = list('concurrency').map((c) => {
  const n = Number(c)
  if (!Number.isInteger(n) || n < 1) usageError(`--concurrency: "${c}" is not a whole number ≥ 1`)
  return n
})
const RUN_WORKLOADS = list('workloads', Object.keys(WORKLOADS))
const RUN_TARGETS = TARGETS.filter((t) => list('targets', TARGETS).includes(t))
const LAB_DIR = resolve(opts['lab-dir'])
const CQL_PROXY_BIN = resolve(opts['cql-proxy'])
// Every target gets the same slices (seconds may be fractional here: the load driver is ours).
const SLICES = Array.from({ length: ROUNDS }, () => SECONDS / ROUNDS)

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup: everything spawned is tracked and stopped on exit, error or signal.

const children = new Set()
const cleanups = []
let cleaning = null
let interrupted = false

function cleanup() {
  cleaning ??= (async () => {
    // Children with a cleanup of their own (cql-proxy) are stopped by it, in order.
    for (const child of children) if (!child.ownCleanup && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn()
      } catch (err) {
        console.error(`cleanup: ${err.message}`)
      }
    }
  })()
  return cleaning
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    console.error(`\n${signal}: stopping what this script started`)
    cleanup().finally(() => process.exit(130))
  })
}

class CommandError extends Error {}

/** Runs a command to completion; resolves { code, stdout, stderr }. */
function run(cmd, args, { env = process.env, cwd, input } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', (err) => {
      children.delete(child)
      reject(new CommandError(`${cmd} ${args.join(' ')}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      children.delete(child)
      resolveRun({ code: code ?? (signal ? 128 : 1), stdout, stderr })
    })
    if (input !== undefined) {
      child.stdin.on('error', () => {})
      child.stdin.end(input)
    }
  })
}

const shellQuote = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })
}

function canConnect(host, port) {
  return new Promise((resolveConnect) => {
    const socket = createConnection({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolveConnect(true)
    })
    socket.once('error', () => resolveConnect(false))
  })
}

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

const isAlive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops a spawned process: `signal`, then SIGKILL after `graceMs`. Resolves the exit code. */
async function stopChild(child, signal, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = new Promise((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : 1))))
  if (isAlive(child.pid)) process.kill(child.pid, signal)
  const timer = setTimeout(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  }, graceMs)
  const code = await exited
  clearTimeout(timer)
  return code
}

const hostPort = (s) => {
  const i = s.lastIndexOf(':')
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) }
}

// ---------------------------------------------------------------------------------------------
// The lab

function readLab() {
  const labJson = join(LAB_DIR, 'lab.json')
  const notUp = (why) => {
    console.error(`bench/cql.mjs: ${why}. Start the lab (with Cassandra) first:\n\n  node dist/cli/grey.js lab up\n`)
    process.exit(2)
  }
  if (!existsSync(labJson)) notUp(`${relative(process.cwd(), labJson) || labJson} is missing`)
  const lab = JSON.parse(readFileSync(labJson, 'utf8'))
  const state = existsSync(join(LAB_DIR, 'state.json')) ? JSON.parse(readFileSync(join(LAB_DIR, 'state.json'), 'utf8')) : { components: {} }
  const grey = state.components[`grey:${REGION}`]
  if (!grey || !isAlive(grey.pid)) notUp(`the lab's grey:${REGION} is not running (see node dist/cli/grey.js lab status)`)
  const cassandraPids = {}
  for (const region of Object.keys(lab.regions)) {
    const c = state.components[`cassandra:${region}`]
    if (!c || !isAlive(c.pid)) notUp(`the lab's cassandra:${region} is not running (was it started --without cassandra?)`)
    cassandraPids[region] = c.pid
  }
  return { lab, greyPid: grey.pid, greyStartedAt: grey.startedAt, greyLog: grey.log, cassandraPids }
}

const { lab, greyPid, greyStartedAt, greyLog, cassandraPids } = readLab()
const cassandraCpuSeconds = () => Object.values(cassandraPids).reduce((a, pid) => a + (processCpuSeconds(pid) ?? 0), 0)
const CASSANDRA = hostPort(lab.regions[REGION].cassandra)
const GREY_CQL = hostPort(lab.regions[REGION].grey.cql)
for (const [name, { host, port }] of [
  [`Cassandra ${REGION} (direct)`, CASSANDRA],
  [`Grey ${REGION} CQL`, GREY_CQL],
]) {
  if (!(await canConnect(host, port))) {
    console.error(`bench/cql.mjs: cannot connect to ${name} at ${host}:${port}; is the lab up? node dist/cli/grey.js lab up`)
    process.exit(2)
  }
}

// ---------------------------------------------------------------------------------------------
// cql-proxy: built once into a cache outside the repository, then started per run.

function findGo() {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/local/go/bin')) {
    const p = join(dir || '.', 'go')
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {}
  }
  return null
}

const isExecutable = (p) => {
  try {
    accessSync(p, constants.X_OK)
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/** The cql-proxy binary: as it is when present, else `go install` from the module proxy, else built from --cql-proxy-src. */
async function ensureCqlProxy() {
  const buildInfoPath = `${CQL_PROXY_BIN}.build.json`
  if (!isExecutable(CQL_PROXY_BIN)) {
    const go = findGo()
    if (!go)
      throw new CommandError(`cql-proxy is not at ${CQL_PROXY_BIN} and there is no go to build it (looked in PATH and /usr/local/go/bin)`)
    mkdirSync(dirname(CQL_PROXY_BIN), { recursive: true })
    const goVersion = (await run(go, ['version'])).stdout.trim()
    const work = mkdtempSync(join(tmpdir(), 'grey-bench-cql-proxy-build-'))
    cleanups.push(() => rmSync(work, { recursive: true, force: true }))
    const env = { ...process.env, GOBIN: join(work, 'bin'), GOFLAGS: '-mod=mod' }
    const spec = `${CQL_PROXY_MODULE}@${opts['cql-proxy-version']}`
    console.log(`cql-proxy: not at ${CQL_PROXY_BIN}; GOFLAGS=-mod=mod GOBIN=… go install ${spec}`)
    const t0 = Date.now()
    const installed = await run(go, ['install', spec], { env })
    let info
    if (installed.code === 0) {
      copyFileSync(join(work, 'bin', 'cql-proxy'), CQL_PROXY_BIN)
      info = { how: `go install ${spec}`, go: goVersion }
    } else if (opts['cql-proxy-src']) {
      const src = resolve(opts['cql-proxy-src'])
      console.log(`cql-proxy: go install failed (${installed.stderr.trim().split('\n').at(-1)}); building from ${src}`)
      let dir = src
      let describe = null
      let commit = null
      if ((await run('git', ['-C', src, 'rev-parse', '--git-dir'])).code === 0) {
        // A checkout or a bare mirror: build its HEAD, exported, so nothing is written into it.
        commit = (await run('git', ['-C', src, 'rev-parse', 'HEAD'])).stdout.trim()
        describe = (await run('git', ['-C', src, 'describe', '--tags', '--always'])).stdout.trim() || null
        dir = join(work, 'src')
        mkdirSync(dir)
        const tar = join(work, 'src.tar')
        const archived = await run('git', ['-C', src, 'archive', '-o', tar, 'HEAD'])
        if (archived.code !== 0) throw new CommandError(`git -C ${src} archive HEAD failed: ${archived.stderr.trim()}`)
        const untarred = await run('tar', ['-xf', tar, '-C', dir])
        if (untarred.code !== 0) throw new CommandError(`tar -xf ${tar} failed: ${untarred.stderr.trim()}`)
      }
      const out = join(work, 'cql-proxy')
      const built = await run(go, ['build', '-trimpath', '-o', out, '.'], { env, cwd: dir })
      if (built.code !== 0) throw new CommandError(`go build in ${dir} failed (exit ${built.code}):\n${built.stderr.trim()}`)
      copyFileSync(out, CQL_PROXY_BIN)
      info = { how: `go build -trimpath from ${src}`, source: src, commit, describe, go: goVersion }
    } else {
      throw new CommandError(
        `cql-proxy is not at ${CQL_PROXY_BIN} and go install ${spec} failed:\n${installed.stderr.trim()}\n` +
          `Pass --cql-proxy-src DIR (a checkout or git mirror of ${CQL_PROXY_MODULE}) to build it from source, or --cql-proxy PATH.`,
      )
    }
    chmodSync(CQL_PROXY_BIN, 0o755)
    writeFileSync(buildInfoPath, `${JSON.stringify({ ...info, builtAt: new Date().toISOString() }, null, 2)}\n`)
    console.log(`cql-proxy: built ${CQL_PROXY_BIN} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${info.how})`)
  }
  // What the binary says about itself: go version -m names the module version (devel for a source build).
  let moduleVersion = null
  const go = findGo()
  if (go) {
    const m = /^\s*mod\s+\S+\s+(\S+)/m.exec((await run(go, ['version', '-m', CQL_PROXY_BIN])).stdout)
    moduleVersion = m ? m[1] : null
  }
  const buildInfo = existsSync(buildInfoPath) ? JSON.parse(readFileSync(buildInfoPath, 'utf8')) : null
  const version = moduleVersion && moduleVersion !== '(devel)' ? moduleVersion : (buildInfo?.describe ?? moduleVersion ?? 'unknown')
  return { path: CQL_PROXY_BIN, version, moduleVersion, build: buildInfo }
}

async function startCqlProxy() {
  const [port, httpPort] = [await freePort(), await freePort()]
  const args = [
    '--contact-points',
    CASSANDRA.host,
    '--port',
    String(CASSANDRA.port),
    '--username',
    lab.cassandra.user,
    '--password',
    lab.cassandra.password,
    '--bind',
    `127.0.0.1:${port}`,
    '--http-bind',
    `127.0.0.1:${httpPort}`,
    '--data-center',
    REGION,
    '--protocol-version',
    'v4',
    '--max-protocol-version',
    'v4',
    '--num-conns',
    String(CQL_PROXY_CONNS),
  ]
  const command = `${CQL_PROXY_BIN} ${args.map((a) => (a === lab.cassandra.password ? '…' : shellQuote(a))).join(' ')}`
  // Its own process group: a Ctrl-C reaches the script, which then stops cql-proxy itself.
  const child = spawn(CQL_PROXY_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  child.ownCleanup = true
  children.add(child)
  let log = ''
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log += d))
  child.on('exit', () => children.delete(child))
  cleanups.push(() => stopChild(child, 'SIGTERM', 5000))
  const tail = () => log.trim().split('\n').slice(-15).join('\n')
  try {
    await waitFor(
      `cql-proxy on 127.0.0.1:${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`cql-proxy exited with ${child.exitCode}`)
        return canConnect('127.0.0.1', port)
      },
      30_000,
    )
  } catch (err) {
    throw new CommandError(`${err.message}\ncommand: ${command}\n${tail()}`)
  }
  return { port, pid: child.pid, command, log: () => log }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc

const CLK_TCK = 100 // Linux USER_HZ; getconf CLK_TCK is 100 on every mainstream kernel config

function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return null
  }
}

function hostCpu() {
  const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n')
  const t = cpu.trim().split(/\s+/).slice(1).map(Number)
  const idle = t[3] + (t[4] ?? 0)
  const total = t.slice(0, 8).reduce((a, b) => a + b, 0)
  return { idle, total }
}

/**
 * Over `ms` while this script runs nothing: host busy % (the lab idling plus whatever else shares the
 * machine) and the three Cassandra JVMs' own idle CPU (gossip, GC, compaction), in cores.
 */
async function background(ms = 3000) {
  const a = hostCpu()
  const c0 = cassandraCpuSeconds()
  const t0 = process.hrtime.bigint()
  await sleep(ms)
  const b = hostCpu()
  const c1 = cassandraCpuSeconds()
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  return { busyPct: 100 * (1 - (b.idle - a.idle) / (b.total - a.total)), cassandraIdleCores: (c1 - c0) / s }
}

function warnIfBusy(when, pct) {
  const note = pct > 15 ? ': something else is using the CPUs, absolute figures will be low and noisy (ratios less so)' : ''
  console.log(`host busy ${when} with no benchmark running: ${fmt(pct, 0)} %${note}`)
}

/** Local ports of `pid`'s TCP connections to port 9042 (its connections to Cassandra nodes), from /proc. */
function cassandraClientPorts(pid) {
  const inodes = new Set()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m) inodes.add(m[1])
      } catch {}
    }
  } catch {
    return new Set()
  }
  const ports = new Set()
  for (const file of ['tcp', 'tcp6']) {
    let text = ''
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || !inodes.has(f[9])) continue
      const remotePort = parseInt(f[2].split(':')[1], 16)
      if (remotePort === 9042) ports.add(parseInt(f[1].split(':')[1], 16))
    }
  }
  return ports
}

// ---------------------------------------------------------------------------------------------
// Driver clients

const LB = (dc) => new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy(dc)

function clientFor(target, cqlProxyPort) {
  const common = {
    localDataCenter: REGION,
    keyspace: lab.cassandra.keyspace,
    policies: { loadBalancing: LB(REGION) },
    queryOptions: { consistency: cassandra.types.consistencies.localOne, prepare: true },
  }
  if (target === 'direct')
    return new cassandra.Client({
      ...common,
      contactPoints: [`${CASSANDRA.host}:${CASSANDRA.port}`],
      credentials: { username: lab.cassandra.user, password: lab.cassandra.password },
    })
  if (target === 'grey')
    return new cassandra.Client({
      ...common,
      contactPoints: [`${GREY_CQL.host}:${GREY_CQL.port}`],
      // Grey's CQL front end takes the PostgreSQL credentials (SASL PLAIN) and uses its own toward Cassandra.
      credentials: { username: lab.pg.user, password: lab.pg.password },
    })
  return new cassandra.Client({
    ...common,
    contactPoints: [`127.0.0.1:${cqlProxyPort}`],
    // cql-proxy authenticates to Cassandra itself (--username/--password); clients' credentials are not checked.
    credentials: { username: lab.cassandra.user, password: lab.cassandra.password },
  })
}

/** Clients pinned to each node, to read system_views.clients (which connection sent how many requests). */
const observers = new Map()
async function observer(region) {
  if (!observers.has(region)) {
    const client = new cassandra.Client({
      contactPoints: [lab.regions[region].cassandra],
      localDataCenter: region,
      policies: { loadBalancing: LB(region) },
      credentials: { username: lab.cassandra.user, password: lab.cassandra.password },
    })
    observers.set(region, client)
    await client.connect()
  }
  return observers.get(region)
}

/** Requests each node has seen so far on connections whose client port is in `ports`. */
async function requestsByNode(ports) {
  const out = {}
  for (const region of Object.keys(lab.regions)) {
    try {
      const client = await observer(region)
      const rs = await client.execute('SELECT port, request_count FROM system_views.clients', [], {
        consistency: cassandra.types.consistencies.one,
      })
      out[region] = rs.rows.filter((r) => ports.has(r.port)).reduce((a, r) => a + Number(r.request_count ?? 0), 0)
    } catch (err) {
      out[region] = null
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The load

const SELECT = `SELECT v FROM ${TABLE} WHERE k = ?`
const INSERT = `INSERT INTO ${TABLE} (k, v) VALUES (?, ?)`
const LOCAL_ONE = { prepare: true, consistency: cassandra.types.consistencies.localOne }
const READ_OPTS = { ...LOCAL_ONE, isIdempotent: true }
const WRITE_OPTS = { ...LOCAL_ONE }
const VALUES = Array.from({ length: 64 }, (_, i) =>
  `${i.toString(36).padStart(2, '0')}`.repeat(Math.ceil(VALUE_BYTES / 2)).slice(0, VALUE_BYTES),
)

let stopLoad = false
let cassandraIdleCores = 0

/**
 * `concurrency` workers, each sending its next request when the previous one answers (closed loop),
 * until `seconds` have passed; requests in flight then finish and count. Latencies in µs.
 */
async function drive(client, { writeShare, concurrency, seconds }) {
  const latencies = []
  const isWrite = []
  const errors = new Map()
  let errorCount = 0
  let misses = 0
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9))
  const worker = async () => {
    while (!stopLoad && process.hrtime.bigint() < deadline) {
      const write = writeShare > 0 && (writeShare >= 1 || Math.random() < writeShare)
      const k = Math.floor(Math.random() * ROWS)
      const t0 = process.hrtime.bigint()
      try {
        const rs = write ? await client.execute(INSERT, [k, VALUES[k & 63]], WRITE_OPTS) : await client.execute(SELECT, [k], READ_OPTS)
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000)
        isWrite.push(write)
        if (!write && rs.rowLength !== 1) misses++
      } catch (err) {
        errorCount++
        const key = `${write ? 'INSERT' : 'SELECT'}: ${err.name}${err.code !== undefined ? ` (code 0x${Number(err.code).toString(16)})` : ''}: ${err.message}`
        errors.set(key, (errors.get(key) ?? 0) + 1)
        if (errorCount % 1000 === 0) await sleep(1) // a target failing fast must not starve the event loop
      }
    }
  }
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return { latencies, isWrite, errorCount, errors, misses, wallS, driverCpuS: (cpu.user + cpu.system) / 1e6 }
}

/** Nearest-rank percentile (ms) of sorted µs values. */
function percentileMs(sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] / 1000
}

function latencyStats(us) {
  const sorted = Float64Array.from(us).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    count: sorted.length,
    meanMs: sorted.length ? sum / sorted.length / 1000 : null,
    p50Ms: percentileMs(sorted, 50),
    p90Ms: percentileMs(sorted, 90),
    p99Ms: percentileMs(sorted, 99),
    p999Ms: percentileMs(sorted, 99.9),
    maxMs: sorted.length ? sorted[sorted.length - 1] / 1000 : null,
  }
}

async function runCell(cell, clients, proxyPids) {
  const byTarget = Object.fromEntries(RUN_TARGETS.map((t) => [t, { runs: [], latencies: [], isWrite: [], errors: new Map() }]))
  for (let round = 0; round < SLICES.length; round++) {
    const order = round % 2 === 0 ? RUN_TARGETS : [...RUN_TARGETS].reverse()
    for (const target of order) {
      if (stopLoad) break
      const pid = proxyPids[target] ?? null
      const ports = pid ? cassandraClientPorts(pid) : null
      const seen0 = ports ? await requestsByNode(ports) : null
      const proxy0 = pid ? processCpuSeconds(pid) : null
      const cass0 = cassandraCpuSeconds()
      const host0 = hostCpu()
      const r = await drive(clients[target], {
        writeShare: WORKLOADS[cell.workload].writeShare,
        concurrency: cell.concurrency,
        seconds: SLICES[round],
      })
      const host1 = hostCpu()
      const cass1 = cassandraCpuSeconds()
      const proxy1 = pid ? processCpuSeconds(pid) : null
      // Connections opened during the slice count from 0.
      const seen1 = ports ? await requestsByNode(new Set([...ports, ...cassandraClientPorts(pid)])) : null
      const t = byTarget[target]
      for (let i = 0; i < r.latencies.length; i++) {
        t.latencies.push(r.latencies[i])
        t.isWrite.push(r.isWrite[i])
      }
      for (const [k, n] of r.errors) t.errors.set(k, (t.errors.get(k) ?? 0) + n)
      t.runs.push({
        round,
        seconds: SLICES[round],
        ops: r.latencies.length,
        opsPerS: r.latencies.length / r.wallS,
        errors: r.errorCount,
        misses: r.misses,
        wallS: r.wallS,
        driverCpuS: r.driverCpuS,
        proxyCpuS: proxy0 !== null && proxy1 !== null ? proxy1 - proxy0 : null,
        cassandraCpuS: cass1 - cass0,
        hostBusy: 1 - (host1.idle - host0.idle) / (host1.total - host0.total),
        requestsByNode: seen0
          ? Object.fromEntries(Object.keys(seen1).map((k) => [k, seen1[k] === null || seen0[k] === null ? null : seen1[k] - seen0[k]]))
          : null,
      })
    }
  }
  return RUN_TARGETS.map((target) => {
    const { runs, latencies, isWrite, errors } = byTarget[target]
    const ops = latencies.length
    const wallS = runs.reduce((a, r) => a + r.wallS, 0)
    const sum = (k) => (runs.every((r) => r[k] !== null) ? runs.reduce((a, r) => a + r[k], 0) : null)
    const proxyCpuS = sum('proxyCpuS')
    const perKind =
      cell.workload === 'mixed'
        ? { read: latencyStats(latencies.filter((_, i) => !isWrite[i])), write: latencyStats(latencies.filter((_, i) => isWrite[i])) }
        : undefined
    let requestsByNode = null
    if (runs.every((r) => r.requestsByNode)) {
      requestsByNode = {}
      for (const r of runs)
        for (const [k, v] of Object.entries(r.requestsByNode))
          requestsByNode[k] = v === null || requestsByNode[k] === null ? null : (requestsByNode[k] ?? 0) + v
    }
    return {
      ...cell,
      target,
      opsPerS: ops / wallS,
      ops,
      wallS,
      errors: sum('errors'),
      errorMessages: Object.fromEntries(errors),
      readMisses: sum('misses'),
      ...latencyStats(latencies),
      perKind,
      proxyCpuPct: proxyCpuS === null ? null : (100 * proxyCpuS) / wallS,
      proxyCpuUsPerOp: proxyCpuS === null || ops === 0 ? null : (1e6 * proxyCpuS) / ops,
      cassandraCpuUsPerOpRaw: ops === 0 ? null : (1e6 * sum('cassandraCpuS')) / ops,
      // Net of the JVMs' idle CPU measured before the matrix: what the requests themselves cost Cassandra.
      cassandraCpuUsPerOp: ops === 0 ? null : (1e6 * (sum('cassandraCpuS') - cassandraIdleCores * wallS)) / ops,
      driverCpuUsPerOp: ops === 0 ? null : (1e6 * sum('driverCpuS')) / ops,
      hostBusyPct: (100 * runs.reduce((a, r) => a + r.hostBusy * r.wallS, 0)) / wallS,
      requestsByNode,
      runs,
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (v, digits) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits))
const REGIONS = Object.keys(lab.regions)

function printTable(rows) {
  const head = [
    'workload',
    'conc',
    'target',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'grey/direct',
    'grey/cql-proxy',
    'errors',
    'proxy cpu%',
    'proxy µs/op',
    'cass µs/op',
    'driver µs/op',
    'host busy%',
    `nodes ${REGIONS.map((r) => r.split('-')[0]).join('/')} %`,
  ]
  const lines = rows.map((r) => {
    const cellRows = rows.filter((o) => o.workload === r.workload && o.concurrency === r.concurrency)
    const opsOf = (t) => cellRows.find((o) => o.target === t)?.opsPerS
    const isGrey = r.target === 'grey'
    const split =
      r.requestsByNode && r.ops
        ? REGIONS.map((g) => (r.requestsByNode[g] === null ? '?' : fmt((100 * r.requestsByNode[g]) / r.ops, 0))).join('/')
        : ''
    return [
      r.workload,
      String(r.concurrency),
      r.target,
      fmt(r.opsPerS, 0),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      isGrey ? fmt(r.opsPerS / opsOf('direct'), 2) : '',
      isGrey ? fmt(r.opsPerS / opsOf('cql-proxy'), 2) : '',
      String(r.errors ?? '-'),
      fmt(r.proxyCpuPct, 0),
      fmt(r.proxyCpuUsPerOp, 0),
      fmt(r.cassandraCpuUsPerOp, 0),
      fmt(r.driverCpuUsPerOp, 0),
      fmt(r.hostBusyPct, 0),
      split,
    ]
  })
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const right = new Set([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
  const line = (cols) =>
    cols
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  console.log(line(head))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  let previous = null
  for (let i = 0; i < lines.length; i++) {
    const key = `${rows[i].workload}/${rows[i].concurrency}`
    if (previous !== null && key !== previous) console.log('')
    previous = key
    console.log(line(lines[i]))
  }
}

/** Warnings and errors Grey logged (pino JSON, level ≥ 40) since byte `from` of its log. */
function greyLogProblems(from) {
  if (!greyLog || !existsSync(greyLog)) return { lines: [], count: 0 }
  const text = readFileSync(greyLog).subarray(from).toString('utf8')
  const problems = []
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line)
      if (entry.level >= 40) problems.push(line)
    } catch {
      if (/error|warn/i.test(line)) problems.push(line)
    }
  }
  return { count: problems.length, lines: problems.slice(0, 20) }
}

// ---------------------------------------------------------------------------------------------
// Main

const started = new Date()
const stamp = started
  .toISOString()
  .replace(/[:.]/g, '-')
  .replace(/-\d{3}Z$/, 'Z')
let exitCode = 0
const clients = {}
const shutdownClients = async () => {
  stopLoad = true
  await Promise.all([...Object.values(clients), ...observers.values()].map((c) => c.shutdown().catch(() => {})))
}
try {
  const greyLogStart = greyLog && existsSync(greyLog) ? statSync(greyLog).size : 0
  const proxy = RUN_TARGETS.includes('cql-proxy') ? await ensureCqlProxy() : null
  const results = {
    startedAt: started.toISOString(),
    settings: {
      seconds: SECONDS,
      slices: SLICES,
      concurrency: CONCURRENCY,
      workloads: Object.fromEntries(RUN_WORKLOADS.map((w) => [w, WORKLOADS[w].describe])),
      targets: RUN_TARGETS,
      rows: ROWS,
      valueBytes: VALUE_BYTES,
      region: REGION,
      consistency: 'LOCAL_ONE',
      loadDriver: 'this Node process: one cassandra-driver Client per target (one connection to its one node), closed-loop workers',
      cqlProxyConns: CQL_PROXY_CONNS,
      percentiles: 'nearest rank over every request, timed with process.hrtime.bigint() around client.execute',
    },
    host: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      cassandraDriver: require('cassandra-driver/package.json').version,
      cqlProxy: proxy,
    },
    git: {
      commit: (await run('git', ['-C', ROOT, 'rev-parse', 'HEAD'])).stdout.trim(),
      dirty: (await run('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'])).stdout.trimEnd().split('\n').filter(Boolean),
      labGreyStartedAt: greyStartedAt,
    },
    cells: [],
  }

  let cqlProxy = null
  if (proxy) {
    cqlProxy = await startCqlProxy()
    results.cqlProxyCommand = cqlProxy.command
  }
  // Pushed after cql-proxy's stop, so it runs first: the clients close before cql-proxy goes.
  cleanups.push(shutdownClients)
  const proxyPids = { grey: greyPid, 'cql-proxy': cqlProxy?.pid }
  for (const target of RUN_TARGETS) {
    clients[target] = clientFor(target, cqlProxy?.port)
    try {
      await clients[target].connect()
    } catch (err) {
      throw new CommandError(
        `${target}: the driver could not connect: ${err.message}${err.innerErrors ? `\n${JSON.stringify(Object.fromEntries(Object.entries(err.innerErrors).map(([h, e]) => [h, e.message])), null, 2)}` : ''}`,
      )
    }
  }
  const direct = clients.direct ?? clientFor('direct')
  if (!clients.direct) {
    clients.directSetup = direct
    await direct.connect()
  }
  results.host.cassandra = (await direct.execute('SELECT release_version FROM system.local')).rows[0]?.release_version
  const seenBy = {}
  for (const target of RUN_TARGETS) {
    const host = clients[target].getState().getConnectedHosts()[0]
    seenBy[target] = host
      ? `${host.address} (${host.datacenter}, ${host.cassandraVersion}, protocol v${clients[target].controlConnection.protocolVersion})`
      : '?'
  }
  results.host.driverSees = seenBy

  console.log(
    `Grey CQL bench: ${REGION} Cassandra ${CASSANDRA.host}:${CASSANDRA.port} direct, through the lab's Grey ${GREY_CQL.host}:${GREY_CQL.port}` +
      (cqlProxy
        ? `, and through cql-proxy ${proxy.version} on 127.0.0.1:${cqlProxy.port} (pid ${cqlProxy.pid}, --num-conns ${CQL_PROXY_CONNS})`
        : '') +
      '.',
  )
  console.log(
    `${results.host.cpus} CPUs shared by this load driver (node ${process.version}, cassandra-driver ${results.host.cassandraDriver}), the proxy, ` +
      `three Cassandra ${results.host.cassandra} JVMs and the rest of the lab.`,
  )
  for (const [t, s] of Object.entries(seenBy)) console.log(`  ${t}: the driver's node is ${s}`)
  if (cqlProxy) console.log(`  cql-proxy: ${cqlProxy.command}`)

  const before = await background()
  cassandraIdleCores = before.cassandraIdleCores
  results.host.backgroundBusyPct = { before: before.busyPct }
  results.host.cassandraIdleCores = { before: before.cassandraIdleCores }
  warnIfBusy('before the matrix', before.busyPct)
  console.log(`Cassandra JVMs idle: ${fmt(100 * cassandraIdleCores, 0)} % of a core together (subtracted from cass µs/op)`)

  // The table, created once, and every row upserted directly (writes replicate to all three DCs).
  let t0 = Date.now()
  await direct.execute(`CREATE TABLE IF NOT EXISTS ${lab.cassandra.keyspace}.${TABLE} (k int PRIMARY KEY, v text)`)
  let next = 0
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < ROWS) {
        const k = next++
        await direct.execute(`INSERT INTO ${lab.cassandra.keyspace}.${TABLE} (k, v) VALUES (?, ?)`, [k, VALUES[k & 63]], {
          prepare: true,
          consistency: cassandra.types.consistencies.localOne,
        })
      }
    }),
  )
  console.log(
    `${lab.cassandra.keyspace}.${TABLE}: ${ROWS} rows of ${VALUE_BYTES}-byte values upserted directly in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  )

  // Warm-up (not recorded): prepares the statements on every target, JIT, caches, backend pools.
  for (const target of RUN_TARGETS) {
    const r = await drive(clients[target], { writeShare: 0.2, concurrency: 16, seconds: 2 })
    if (r.errorCount > 0) console.log(`warm-up ${target}: ${r.errorCount} errors: ${[...r.errors.keys()].join('; ')}`)
  }

  const cells = RUN_WORKLOADS.flatMap((workload) => CONCURRENCY.map((concurrency) => ({ workload, concurrency })))
  const totalS = cells.length * SECONDS * RUN_TARGETS.length
  console.log(
    `${cells.length} cells × ${RUN_TARGETS.length} targets × ${SECONDS} s (slices ${SLICES.map((s) => fmt(s, 1)).join('+')} s, target order reversed each slice): ` +
      `≥ ${totalS >= 120 ? `${Math.ceil(totalS / 60)} min` : `${totalS} s`}\n`,
  )
  t0 = Date.now()
  for (const [i, cell] of cells.entries()) {
    process.stdout.write(`[${i + 1}/${cells.length}] ${cell.workload} ${cell.concurrency} in flight … `)
    const rows = await runCell(cell, clients, proxyPids)
    if (interrupted) break // the clients were shut down under the cell
    results.cells.push(...rows)
    console.log(rows.map((r) => `${r.target} ${fmt(r.opsPerS, 0)}${r.errors ? ` (${r.errors} errors)` : ''}`).join(', '))
    if (interrupted) break
  }

  const after = await background()
  results.host.backgroundBusyPct.after = after.busyPct
  results.host.cassandraIdleCores.after = after.cassandraIdleCores
  warnIfBusy('after the matrix', after.busyPct)

  console.log(`\nWorkloads (${ROWS} rows, LOCAL_ONE, prepared; ${SECONDS} s per target per cell):`)
  for (const w of RUN_WORKLOADS) console.log(`  ${w}: ${WORKLOADS[w].describe}`)
  console.log('')
  printTable(results.cells)
  console.log(
    `\nconc: requests in flight from one driver Client per target (closed loop). ops/s: completed requests over the slices' time.\n` +
      `p50/p99: exact, over every request. grey/direct, grey/cql-proxy: ops/s ratios. errors: failed requests (not in ops/s).\n` +
      `proxy cpu%: the proxy process's CPU over the slices, 100 = one core; proxy µs/op: that CPU per request.\n` +
      `cass µs/op: the three Cassandra JVMs' CPU per request, less their idle CPU measured before the matrix (noisy at low rates).\n` +
      `driver µs/op: this Node process's CPU per request (the load driver shares the cores). host busy%: all ${results.host.cpus} cores.\n` +
      `nodes %: requests each Cassandra node counted on the proxy's own connections (system_views.clients), per 100 requests\n` +
      `sent (Grey's remote-DC links go through the WAN emulator and are not seen there).\n` +
      `Caveat: ${results.host.cpus} cores shared by the load driver, the proxy and Cassandra, all on loopback: a proxy's cost shows up as\n` +
      `CPU taken from the others as much as added latency. Compare targets within a cell.`,
  )

  const problems = results.cells.filter((r) => r.errors > 0 || r.readMisses > 0)
  if (problems.length) {
    console.log('\nErrors and missing rows:')
    for (const r of problems) {
      console.log(`  ${r.workload} ${r.concurrency} ${r.target}: ${r.errors} errors, ${r.readMisses} reads without a row`)
      for (const [m, n] of Object.entries(r.errorMessages)) console.log(`    ${n} × ${m}`)
    }
  }
  results.greyLog = { path: greyLog, ...greyLogProblems(greyLogStart) }
  if (results.greyLog.count) {
    console.log(`\nGrey us-east logged ${results.greyLog.count} warnings/errors during the run (${greyLog}); the first:`)
    for (const l of results.greyLog.lines.slice(0, 5)) console.log(`  ${l.slice(0, 400)}`)
  }
  if (cqlProxy) results.cqlProxyLogTail = cqlProxy.log().trim().split('\n').slice(-30)

  results.finishedAt = new Date().toISOString()
  results.durationS = (Date.now() - started.getTime()) / 1000
  mkdirSync(join(BENCH, 'results'), { recursive: true })
  const out = join(BENCH, 'results', `cql-${stamp}.json`)
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`\nresults: ${relative(process.cwd(), out)} (run took ${fmt(results.durationS / 60, 1)} min)`)
} catch (err) {
  exitCode = 1
  if (!interrupted) console.error(`\nbench/cql.mjs failed: ${err instanceof CommandError ? err.message : (err?.stack ?? err)}`)
} finally {
  await cleanup()
}
process.exit(exitCode)
