#!/usr/bin/env node
// pgbench against the lab's us-east PostgreSQL primary three ways, in one run: direct, through the
// lab's us-east Grey, and through a pgbouncer this script starts (transaction mode, SCRAM, the same
// pool size as Grey). The us-east Grey has no local standby, so all three reach the same server.
// Workloads × protocol modes × client counts; per cell TPS and exact p50/p99 from pgbench's
// per-transaction log. --profile also runs one cell against a second, CPU-profiled Grey and
// summarises where its time goes. See bench/README.md.
//
//   node dist/cli/grey.js lab up --without cassandra
//   node bench/pg.mjs [--seconds 10] [--clients 1,16,64] [--profile]
import { spawn } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BENCH = join(ROOT, 'bench')
const GREY_CLI = join(ROOT, 'dist', 'cli', 'grey.js')
const REGION = 'us-east'
const TARGETS = ['direct', 'grey', 'pgbouncer']
const WORKLOADS = {
  select: {
    describe: 'pgbench -S (built-in select-only: one primary-key SELECT on pgbench_accounts per transaction)',
    args: ['-b', 'select-only'],
    writes: false,
  },
  rw: {
    describe:
      'custom mix: 80 % bench/pgbench/point-select.sql (autocommit PK SELECT), 20 % bench/pgbench/update-local-commit.sql ' +
      '(BEGIN; SET LOCAL synchronous_commit = local; PK UPDATE; END)',
    args: ['-f', `${join(BENCH, 'pgbench', 'point-select.sql')}@80`, '-f', `${join(BENCH, 'pgbench', 'update-local-commit.sql')}@20`],
    scripts: ['point-select', 'update-local-commit'],
    writes: true,
  },
  tpcb: {
    describe: "pgbench's built-in tpcb-like (5 statements + COMMIT, which waits for the sync standby over the ~40 ms emulated WAN)",
    args: ['-b', 'tpcb-like'],
    writes: true,
  },
}

const USAGE = `node bench/pg.mjs [options]

  --seconds N        measured seconds per target per cell (default 10), split over --rounds
  --clients LIST     client counts (default 1,16,64); -j = min(clients, 2)
  --workloads LIST   of select, rw, tpcb (default select,rw)
  --modes LIST       of simple, extended (default simple,extended)
  --rounds N         slices per target and cell, order reversed each round (default 2)
  --scale N          pgbench -i scale (default 16: 16 branches for 64 tpcb-like clients)
  --profile          after the matrix, CPU-profile a second Grey through one 16-client -S -M extended cell
  --profile-only     only the profile (no matrix)
  --lab-dir DIR      the lab directory (default .lab)

Needs the lab: node dist/cli/grey.js lab up --without cassandra`

// ---------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '1,16,64' },
    workloads: { type: 'string', default: 'select,rw' },
    modes: { type: 'string', default: 'simple,extended' },
    rounds: { type: 'string', default: '2' },
    scale: { type: 'string', default: '16' },
    profile: { type: 'boolean', default: false },
    'profile-only': { type: 'boolean', default: false },
    'lab-dir': { type: 'string', default: join(ROOT, '.lab') },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (opts.help) {
  console.log(USAGE)
  process.exit(0)
}
const usageError = (message) => {
  console.error(`bench/pg.mjs: ${message}\n\n${USAGE}`)
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
const ROUNDS = Math.min(positiveInt('rounds'), SECONDS)
const SCALE = positiveInt('scale')
const CLIENTS = list('clients').map((c) => {
  const n = Number(c)
  if (!Number.isInteger(n) || n < 1) usageError(`--clients: "${c}" is not a whole number ≥ 1`)
  return n
})
const RUN_WORKLOADS = list('workloads', Object.keys(WORKLOADS))
const MODES = list('modes', ['simple', 'extended'])
const PROFILE = opts.profile || opts['profile-only']
const MATRIX = !opts['profile-only']
const LAB_DIR = resolve(opts['lab-dir'])
// Integer slices (pgbench -T takes whole seconds); every target gets the same slices.
const SLICES = Array.from({ length: ROUNDS }, (_, i) => Math.floor(SECONDS / ROUNDS) + (i < SECONDS % ROUNDS ? 1 : 0))

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup: everything spawned is tracked and stopped on exit, error or signal.

const children = new Set()
const cleanups = []
let cleaning = null
let interrupted = false

function cleanup() {
  cleaning ??= (async () => {
    // Children with a cleanup of their own (pgbouncer, the profiled Grey) are stopped by it, in order.
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
function run(cmd, args, { env = process.env, input, detached = false } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached })
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
      child.stdin.on('error', () => {}) // a child that exits without reading its input: its exit status tells
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
async function stopChild(child, signal, graceMs, pid = child.pid) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = new Promise((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : 1))))
  if (isAlive(pid)) process.kill(pid, signal)
  const timer = setTimeout(() => {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    if (child.exitCode === null) child.kill('SIGKILL')
  }, graceMs)
  const code = await exited
  clearTimeout(timer)
  return code
}

// ---------------------------------------------------------------------------------------------
// The lab

function readLab() {
  const labJson = join(LAB_DIR, 'lab.json')
  const notUp = (why) => {
    console.error(`bench/pg.mjs: ${why}. Start the lab first:\n\n  node dist/cli/grey.js lab up --without cassandra\n`)
    process.exit(2)
  }
  if (!existsSync(labJson)) notUp(`${relative(process.cwd(), labJson) || labJson} is missing`)
  const lab = JSON.parse(readFileSync(labJson, 'utf8'))
  const state = existsSync(join(LAB_DIR, 'state.json')) ? JSON.parse(readFileSync(join(LAB_DIR, 'state.json'), 'utf8')) : { components: {} }
  const grey = state.components[`grey:${REGION}`]
  if (!grey || !isAlive(grey.pid)) notUp(`the lab's grey:${REGION} is not running (see node dist/cli/grey.js lab status)`)
  if (!state.components[`pg:${REGION}`]) notUp(`the lab's pg:${REGION} is not running`)
  // The lab stores the config it started this Grey with as the component's marker (.lab/grey/<region>/grey.yaml).
  const configPath = grey.marker && existsSync(grey.marker) ? grey.marker : join(LAB_DIR, 'grey', REGION, 'grey.yaml')
  return { lab, greyPid: grey.pid, greyStartedAt: grey.startedAt, greyConfigPath: configPath }
}

/** Grey's pool size as the lab's Grey sees it: the lab's YAML through Grey's own loader (schema defaults included). */
async function greyPoolSize(configPath) {
  const { loadConfig } = await import(pathToFileURL(join(ROOT, 'dist', 'config', 'load-config.js')).href)
  const config = loadConfig(configPath, {})
  return config.proxy.pool.max_connections_per_node
}

const { lab, greyPid, greyStartedAt, greyConfigPath } = readLab()
const region = lab.regions[REGION]
const [HOST, DIRECT_PORT] = region.pg.direct.split(':')
const GREY_PORT = region.grey.pg.split(':')[1]
const PG_ENV = { ...process.env, PGPASSWORD: lab.pg.password, PGCONNECT_TIMEOUT: '10' }
for (const [name, port] of [
  ['PostgreSQL us-east (direct)', DIRECT_PORT],
  ['Grey us-east', GREY_PORT],
]) {
  if (!(await canConnect(HOST, Number(port)))) {
    console.error(
      `bench/pg.mjs: cannot connect to ${name} at ${HOST}:${port}; is the lab up? node dist/cli/grey.js lab up --without cassandra`,
    )
    process.exit(2)
  }
}

async function psql(port, sql, { database = lab.pg.database } = {}) {
  const args = ['-h', HOST, '-p', String(port), '-U', lab.pg.user, '-d', database, '-X', '-A', '-F', '\t', '-P', 'footer=off', '-c', sql]
  const r = await run('psql', args, { env: PG_ENV })
  if (r.code !== 0) throw new CommandError(`psql failed (exit ${r.code}): psql ${args.map(shellQuote).join(' ')}\n${r.stderr.trim()}`)
  const [header, ...rows] = r.stdout.trim().split('\n')
  const cols = (header ?? '').split('\t')
  return rows.filter(Boolean).map((line) => Object.fromEntries(line.split('\t').map((v, i) => [cols[i], v])))
}

async function version(cmd, args) {
  const r = await run(cmd, args).catch(() => ({ stdout: '' }))
  return r.stdout.split('\n')[0].trim()
}

// ---------------------------------------------------------------------------------------------
// pgbouncer: transaction mode, SCRAM toward the client and the server, Grey's pool size.

const PGBOUNCER = '/usr/sbin/pgbouncer'

async function startPgbouncer(poolSize) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'grey-bench-pgbouncer-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const ini = join(dir, 'pgbouncer.ini')
  const pidfile = join(dir, 'pgbouncer.pid')
  const logfile = join(dir, 'pgbouncer.log')
  writeFileSync(join(dir, 'userlist.txt'), `"${lab.pg.user}" "${lab.pg.password}"\n`)
  writeFileSync(
    ini,
    [
      '[databases]',
      `${lab.pg.database} = host=${HOST} port=${DIRECT_PORT} dbname=${lab.pg.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 300',
      `admin_users = ${lab.pg.user}`,
      'log_connections = 0',
      'log_disconnections = 0',
      `logfile = ${logfile}`,
      `pidfile = ${pidfile}`,
      '',
    ].join('\n'),
  )
  // pgbouncer refuses to run as root: run it as the postgres user then.
  let cmd = PGBOUNCER
  let args = [ini]
  if (process.getuid?.() === 0) {
    const r = await run('id', ['-u', 'postgres'])
    if (r.code !== 0) throw new Error('running as root and there is no postgres user to run pgbouncer as')
    const uid = Number(r.stdout.trim())
    for (const f of ['', 'pgbouncer.ini', 'userlist.txt']) chownSync(join(dir, f), uid, -1)
    cmd = 'runuser'
    args = ['-u', 'postgres', '--', PGBOUNCER, ini]
  }
  // Its own process group: a Ctrl-C reaches the script, which then stops pgbouncer itself.
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  child.ownCleanup = true
  children.add(child)
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.on('exit', () => children.delete(child))
  const logTail = () => (existsSync(logfile) ? readFileSync(logfile, 'utf8').split('\n').slice(-15).join('\n') : '')
  let pid = null
  cleanups.push(async () => {
    await stopChild(child, 'SIGTERM', 5000, pid ?? child.pid)
    if (pid !== null && isAlive(pid)) process.kill(pid, 'SIGKILL')
  })
  try {
    await waitFor(
      `pgbouncer on 127.0.0.1:${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}: ${stderr}\n${logTail()}`)
        if (pid === null && existsSync(pidfile)) pid = Number(readFileSync(pidfile, 'utf8').trim()) || null
        return pid !== null && (await canConnect('127.0.0.1', port))
      },
      10_000,
    )
  } catch (err) {
    throw new Error(`${err.message}\ncommand: ${[cmd, ...args].map(shellQuote).join(' ')}\n${logTail()}`)
  }
  return { port: String(port), pid, dir, logTail }
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

/** Host busy % over `ms` while this script runs nothing: the lab idling plus whatever else shares the machine. */
async function backgroundBusyPct(ms = 3000) {
  const a = hostCpu()
  await sleep(ms)
  const b = hostCpu()
  return 100 * (1 - (b.idle - a.idle) / (b.total - a.total))
}

function warnIfBusy(when, pct) {
  const note = pct > 15 ? ': something else is using the CPUs, absolute figures will be low and noisy (ratios less so)' : ''
  console.log(`host busy ${when} with no benchmark running: ${fmt(pct, 0)} %${note}`)
}

// ---------------------------------------------------------------------------------------------
// pgbench

const PORTS = { direct: DIRECT_PORT, grey: GREY_PORT, pgbouncer: null }

function pgbenchArgs(port, { workload, mode, clients, seconds, logPrefix }) {
  return [
    '-h',
    HOST,
    '-p',
    String(port),
    '-U',
    lab.pg.user,
    '-n', // no vacuum before the run: done once per write cell, directly
    '-M',
    mode,
    '-c',
    String(clients),
    '-j',
    String(Math.min(clients, 2)),
    '-T',
    String(seconds),
    ...(logPrefix ? ['-l', `--log-prefix=${logPrefix}`] : []),
    ...WORKLOADS[workload].args,
    lab.pg.database,
  ]
}

async function pgbench(args, { sample } = {}) {
  const command = `PGPASSWORD=… pgbench ${args.map(shellQuote).join(' ')}`
  const pending = run('pgbench', args, { env: PG_ENV })
  const sampled = sample ? sample() : null
  const r = await pending
  if (r.code !== 0) {
    throw new CommandError(`pgbench failed (exit ${r.code})\ncommand: ${command}\nstderr:\n${r.stderr.trim()}\nstdout:\n${r.stdout.trim()}`)
  }
  const num = (re) => {
    const m = re.exec(r.stdout)
    return m ? Number(m[1]) : null
  }
  const out = {
    command,
    tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/) ?? 0,
    connectionMs: num(/initial connection time = ([\d.]+) ms/),
    pgbenchLatencyAvgMs: num(/latency average = ([\d.]+) ms/),
    sample: sampled ? await sampled : null,
  }
  if (out.tps === null || out.transactions === null)
    throw new CommandError(`could not read pgbench's output\ncommand: ${command}\n${r.stdout}`)
  if (out.failed > 0)
    throw new CommandError(`pgbench reported ${out.failed} failed transactions\ncommand: ${command}\n${r.stdout}\n${r.stderr}`)
  return out
}

/** Latencies (µs) and script numbers of every transaction in the logs `prefix`.* (one file per thread). */
function readTransactionLogs(dir, base) {
  const latencies = []
  const scripts = []
  let unparsed = 0
  for (const file of readdirSync(dir)) {
    if (!file.startsWith(`${base}.`)) continue
    const text = readFileSync(join(dir, file), 'utf8')
    let start = 0
    while (start < text.length) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = text.length
      if (end > start) {
        // client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]
        const f = text.slice(start, end).split(' ')
        const us = Number(f[2])
        if (Number.isFinite(us)) {
          latencies.push(us)
          scripts.push(Number(f[3]))
        } else unparsed++ // "failed" or "skipped" lines
      }
      start = end + 1
    }
  }
  return { latencies, scripts, unparsed }
}

/** Nearest-rank percentile (ms) of sorted µs values. */
function percentileMs(sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] / 1000
}

function latencyStats(us) {
  const sorted = Float64Array.from(us).sort()
  const sum = sorted.reduce((a, b) => a + b, 0)
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

/** Server connections the target holds on the primary, sampled mid-run. */
function midRunSampler(target, seconds, bouncer) {
  return () =>
    sleep((seconds * 1000) / 2).then(async () => {
      try {
        if (target === 'grey') {
          const rows = await psql(
            DIRECT_PORT,
            `SELECT state, count(*) AS n FROM pg_stat_activity WHERE application_name = 'grey grey-${REGION}' GROUP BY state`,
          )
          const n = rows.reduce((a, r) => a + Number(r.n), 0)
          return { serverConnections: n, byState: Object.fromEntries(rows.map((r) => [r.state || 'null', Number(r.n)])) }
        }
        if (target === 'pgbouncer') {
          const rows = await psql(bouncer.port, 'SHOW POOLS', { database: 'pgbouncer' })
          const pool = rows.find((r) => r.database === lab.pg.database)
          if (!pool) return null
          const n = (k) => Number(pool[k] ?? 0)
          return {
            serverConnections: n('sv_active') + n('sv_idle') + n('sv_used') + n('sv_tested') + n('sv_login'),
            svActive: n('sv_active'),
            clActive: n('cl_active'),
            clWaiting: n('cl_waiting'),
            maxWaitS: n('maxwait') + n('maxwait_us') / 1e6,
          }
        }
        return null
      } catch (err) {
        return { error: err.message.split('\n')[0] }
      }
    })
}

// ---------------------------------------------------------------------------------------------
// The matrix

async function runCell(cell, pids, bouncer, logDir) {
  const byTarget = Object.fromEntries(TARGETS.map((t) => [t, { runs: [], latencies: [], scripts: [] }]))
  for (let round = 0; round < SLICES.length; round++) {
    const order = round % 2 === 0 ? TARGETS : [...TARGETS].reverse()
    for (const target of order) {
      const base = `${cell.workload}-${cell.mode}-c${cell.clients}-${target}-r${round}`
      const args = pgbenchArgs(PORTS[target], { ...cell, seconds: SLICES[round], logPrefix: join(logDir, base) })
      const pid = pids[target]
      const cpu0 = pid ? processCpuSeconds(pid) : null
      const host0 = hostCpu()
      const t0 = process.hrtime.bigint()
      const result = await pgbench(args, { sample: midRunSampler(target, SLICES[round], bouncer) })
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9
      const host1 = hostCpu()
      const cpu1 = pid ? processCpuSeconds(pid) : null
      const logs = readTransactionLogs(logDir, base)
      for (const f of readdirSync(logDir)) if (f.startsWith(`${base}.`)) rmSync(join(logDir, f))
      if (logs.latencies.length !== result.transactions) {
        throw new Error(`${base}: pgbench processed ${result.transactions} transactions but logged ${logs.latencies.length}`)
      }
      const t = byTarget[target]
      for (let i = 0; i < logs.latencies.length; i++) {
        t.latencies.push(logs.latencies[i])
        t.scripts.push(logs.scripts[i])
      }
      t.runs.push({
        round,
        seconds: SLICES[round],
        tps: result.tps,
        transactions: result.transactions,
        connectionMs: result.connectionMs,
        wallS,
        proxyCpuS: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
        hostBusy: 1 - (host1.idle - host0.idle) / (host1.total - host0.total),
        sample: result.sample,
        command: result.command,
      })
    }
  }
  return TARGETS.map((target) => {
    const { runs, latencies, scripts } = byTarget[target]
    const transactions = runs.reduce((a, r) => a + r.transactions, 0)
    // pgbench's tps excludes connection time; the measured time of a run is transactions / tps.
    const measuredS = runs.reduce((a, r) => a + r.transactions / r.tps, 0)
    const wallS = runs.reduce((a, r) => a + r.wallS, 0)
    const cpuS = runs.every((r) => r.proxyCpuS !== null) ? runs.reduce((a, r) => a + r.proxyCpuS, 0) : null
    const scriptNames = WORKLOADS[cell.workload].scripts
    const perScript = scriptNames
      ? Object.fromEntries(scriptNames.map((name, i) => [name, latencyStats(latencies.filter((_, k) => scripts[k] === i))]))
      : undefined
    const samples = runs.map((r) => r.sample).filter((s) => s && !s.error)
    return {
      ...cell,
      target,
      tps: transactions / measuredS,
      transactions,
      measuredS,
      ...latencyStats(latencies),
      perScript,
      connectionMs: runs.reduce((a, r) => a + (r.connectionMs ?? 0), 0) / runs.length,
      // Over the whole pgbench run (connections included): one core = 100 %.
      proxyCpuPct: cpuS === null ? null : (100 * cpuS) / wallS,
      proxyCpuUsPerTx: cpuS === null ? null : (1e6 * cpuS) / transactions,
      hostBusyPct: (100 * runs.reduce((a, r) => a + r.hostBusy * r.wallS, 0)) / wallS,
      serverConnections: samples.length ? Math.max(...samples.map((s) => s.serverConnections)) : null,
      pgbouncerWaiting: target === 'pgbouncer' && samples.length ? Math.max(...samples.map((s) => s.clWaiting)) : null,
      runs,
    }
  })
}

async function prepareWrites() {
  // What pgbench would do before each run without -n, once per write cell and directly.
  await psql(DIRECT_PORT, 'TRUNCATE pgbench_history')
  await psql(DIRECT_PORT, 'VACUUM ANALYZE pgbench_branches, pgbench_tellers, pgbench_accounts')
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (v, digits) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits))

function printTable(rows) {
  const head = [
    'workload',
    'mode',
    'clients',
    'target',
    'tps',
    'p50 ms',
    'p99 ms',
    'grey/direct',
    'grey/pgbouncer',
    'proxy cpu%',
    'cpu µs/tx',
    'host busy%',
    'srv conns',
  ]
  const lines = rows.map((r) => {
    const cellRows = rows.filter((o) => o.workload === r.workload && o.mode === r.mode && o.clients === r.clients)
    const tpsOf = (t) => cellRows.find((o) => o.target === t)?.tps
    const isGrey = r.target === 'grey'
    return [
      r.workload,
      r.mode,
      String(r.clients),
      r.target,
      fmt(r.tps, 0),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      isGrey ? fmt(r.tps / tpsOf('direct'), 2) : '',
      isGrey ? fmt(r.tps / tpsOf('pgbouncer'), 2) : '',
      fmt(r.proxyCpuPct, 0),
      fmt(r.proxyCpuUsPerTx, 0),
      fmt(r.hostBusyPct, 0),
      r.serverConnections === null
        ? r.target === 'direct'
          ? String(r.clients)
          : '-'
        : `${r.serverConnections}${r.pgbouncerWaiting ? ` (${r.pgbouncerWaiting} waiting)` : ''}`,
    ]
  })
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const right = new Set([2, 4, 5, 6, 7, 8, 9, 10, 11])
  const line = (cols) =>
    cols
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  console.log(line(head))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  let previous = null
  for (let i = 0; i < lines.length; i++) {
    const key = `${rows[i].workload}/${rows[i].mode}/${rows[i].clients}`
    if (previous !== null && key !== previous) console.log('')
    previous = key
    console.log(line(lines[i]))
  }
}

// ---------------------------------------------------------------------------------------------
// Profiling: a second Grey, on the lab's us-east config with its listen ports moved.

async function profileGrey(logDir, stamp, matrixRows) {
  const outDir = join(BENCH, 'results', `pg-${stamp}-profile`)
  mkdirSync(outDir, { recursive: true })
  const [pgPort, adminPort, cqlPort, raftPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const env = {
    ...process.env,
    GREY_PROXY__LISTEN__PG: `127.0.0.1:${pgPort}`,
    GREY_PROXY__LISTEN__CQL: `127.0.0.1:${cqlPort}`,
    GREY_ADMIN__LISTEN: `127.0.0.1:${adminPort}`,
    // Not a voter of the lab's Raft group, and its own data: it must not stand in for the lab's grey-us-east.
    GREY_CONSENSUS__RAFT__LISTEN: `127.0.0.1:${raftPort}`,
    GREY_CONSENSUS__RAFT__NODE_ID: `grey-${REGION}-bench-profile`,
    GREY_CONSENSUS__RAFT__DATA_DIR: join(outDir, 'raft'),
    // A member that hears no voter is fenced when failover is on; this one only measures the hot path.
    GREY_FAILOVER__ENABLED: 'false',
  }
  const args = ['--cpu-prof', `--cpu-prof-dir=${outDir}`, GREY_CLI, 'proxy', '--config', greyConfigPath]
  const overrides = Object.entries(env)
    .filter(([k]) => k.startsWith('GREY_') && !(k in process.env && process.env[k] === env[k]))
    .map(([k, v]) => `${k}=${v}`)
  const command = `${overrides.join(' ')} node ${args.map(shellQuote).join(' ')}`
  const builtAt = distBuiltAt()
  const codeMismatch = greyStartedAt && builtAt > new Date(greyStartedAt)
  if (codeMismatch) {
    console.log(
      `profile: note: dist/ was rebuilt (${builtAt.toISOString()}) after the lab's Grey started (${greyStartedAt}): ` +
        'the profiled Grey runs newer code than the one the matrix measured.',
    )
  }
  console.log(`\nprofile: starting a second Grey:\n  ${command}`)
  const logPath = join(outDir, 'grey.log')
  let log = ''
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: ROOT })
  child.ownCleanup = true
  children.add(child)
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log += d))
  child.on('exit', () => children.delete(child))
  let stopped = false
  cleanups.push(async () => {
    if (!stopped) await stopChild(child, 'SIGTERM', 15_000)
    writeFileSync(logPath, log)
  })
  await waitFor(
    `the profiled Grey's /readyz on 127.0.0.1:${adminPort}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`the profiled Grey exited with ${child.exitCode}:\n${log}`)
      return fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    },
    15_000,
  )
  const cell = { workload: 'select', mode: 'extended', clients: 16 }
  const base = 'profile'
  const pgArgs = pgbenchArgs(pgPort, { ...cell, seconds: SECONDS, logPrefix: join(logDir, base) })
  const cpu0 = processCpuSeconds(child.pid)
  const t0 = process.hrtime.bigint()
  const result = await pgbench(pgArgs)
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const cpuS = processCpuSeconds(child.pid) - cpu0
  const stats = latencyStats(readTransactionLogs(logDir, base).latencies)
  const lifeCpuS = processCpuSeconds(child.pid)
  stopped = true
  const code = await stopChild(child, 'SIGTERM', 20_000)
  writeFileSync(logPath, log)
  if (code !== 0) throw new Error(`the profiled Grey exited with ${code} after SIGTERM (want 0); log: ${logPath}`)
  const profiles = readdirSync(outDir).filter((f) => f.endsWith('.cpuprofile'))
  if (profiles.length !== 1) throw new Error(`expected one .cpuprofile in ${outDir}, found ${profiles.length}`)
  const profilePath = join(outDir, profiles[0])
  const unprofiled = matrixRows.find((r) => r.workload === 'select' && r.mode === 'extended' && r.clients === 16 && r.target === 'grey')
  console.log(
    `profile: pgbench -S -M extended -c 16 -j 2 -T ${SECONDS} against it: ${fmt(result.tps, 0)} tps, p50 ${fmt(stats.p50Ms, 3)} ms, ` +
      `p99 ${fmt(stats.p99Ms, 3)} ms, Grey CPU ${fmt((100 * cpuS) / wallS, 0)} % of a core, ${fmt((1e6 * cpuS) / result.transactions, 0)} µs/tx` +
      (unprofiled ? ` (the lab's unprofiled Grey in the matrix: ${fmt(unprofiled.tps, 0)} tps)` : ''),
  )
  const summary = summariseProfile(profilePath)
  summary.greyCpuUntilSigtermS = lifeCpuS
  printProfile(summary, profilePath)
  return {
    command,
    profilePath,
    greyLog: logPath,
    distBuiltAt: builtAt.toISOString(),
    newerCodeThanLabGrey: Boolean(codeMismatch),
    pgbench: { ...result, ...stats, greyCpuPct: (100 * cpuS) / wallS, greyCpuUsPerTx: (1e6 * cpuS) / result.transactions },
    summary,
  }
}

/** When dist/ last changed: the newest .js file under it (tsc rewrites only the files that changed). */
function distBuiltAt(dir = join(ROOT, 'dist')) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, distBuiltAt(path).getTime())
    else if (entry.name.endsWith('.js')) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return new Date(newest)
}

const sourceMaps = new Map()
/** dist/…js:line → src/…ts:line through the build's source maps, when there is one. */
function originalPosition(url, line0, col0) {
  if (!url.startsWith('file://')) return null
  const file = fileURLToPath(url)
  if (!sourceMaps.has(file)) {
    let map = null
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')))
    } catch {
      map = null
    }
    sourceMaps.set(file, map)
  }
  const map = sourceMaps.get(file)
  if (!map || line0 < 0) return null
  const entry = map.findEntry(line0, Math.max(col0, 0))
  if (!entry || entry.originalSource === undefined) return null
  const source = entry.originalSource.startsWith('file://')
    ? fileURLToPath(entry.originalSource)
    : resolve(dirname(file), entry.originalSource)
  return { file: relative(ROOT, source), line: entry.originalLine + 1 }
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)'])

/** Which file/module a frame belongs to, and its broad category. */
function moduleOf(callFrame) {
  const { url, functionName } = callFrame
  if (url === '') {
    if (SPECIAL.has(functionName)) return { module: functionName, category: functionName }
    return { module: '(native: V8 builtins / C++ bindings)', category: 'native' }
  }
  if (url.startsWith('node:')) {
    const name = url.slice(5)
    // node:internal/streams/readable → node:internal/streams; node:net stays.
    const short = name.startsWith('internal/') ? `internal/${name.split('/')[1]}` : name
    return { module: `node:${short}`, category: 'node internals' }
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const parts = path.slice(nm + 14).split('/')
    const pkg = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
    return { module: `npm:${pkg}`, category: `npm:${pkg}` }
  }
  const dist = join(ROOT, 'dist') + '/'
  if (path.startsWith(dist)) return { module: `grey:${path.slice(dist.length).replace(/\.js$/, '')}`, category: 'grey' }
  return { module: path, category: 'other' }
}

function summariseProfile(path) {
  const profile = JSON.parse(readFileSync(path, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // Sample i lasts until sample i+1 (Chrome DevTools' reading); the last one until endTime.
  const self = new Map()
  let t = profile.startTime
  const times = profile.timeDeltas.map((d) => (t += d))
  for (let i = 0; i < profile.samples.length; i++) {
    const next = i + 1 < times.length ? times[i + 1] : profile.endTime
    const dt = Math.max(0, next - times[i])
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
  }
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0)
  const idleUs = [...self].filter(([id]) => nodes.get(id).callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0)
  const busyUs = totalUs - idleUs

  const functions = new Map()
  const modules = new Map()
  const categories = new Map()
  const owners = new Map()
  const ownerOf = new Map()
  /** The nearest Grey frame on the stack (self included), else the nearest npm frame, else the frame's own module. */
  const owner = (id) => {
    if (ownerOf.has(id)) return ownerOf.get(id)
    let npm = null
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const m = moduleOf(nodes.get(cur).callFrame)
      if (m.category === 'grey') {
        ownerOf.set(id, m.module)
        return m.module
      }
      if (npm === null && m.category.startsWith('npm:')) npm = m.module
    }
    const result = npm ?? moduleOf(nodes.get(id).callFrame).module
    ownerOf.set(id, result)
    return result
  }
  const add = (map, key, us, extra) => {
    const e = map.get(key) ?? { ...extra, us: 0 }
    e.us += us
    map.set(key, e)
  }
  for (const [id, us] of self) {
    const { callFrame } = nodes.get(id)
    const m = moduleOf(callFrame)
    const key = `${callFrame.functionName}|${callFrame.url}|${callFrame.lineNumber}|${callFrame.columnNumber}`
    add(functions, key, us, { callFrame, ...m })
    add(modules, m.module, us, { category: m.category })
    add(categories, m.category, us, {})
    add(owners, owner(id), us, {})
  }
  const pct = (us, of) => (100 * us) / of
  const location = (cf) => {
    if (cf.url === '') return ''
    const original = originalPosition(cf.url, cf.lineNumber, cf.columnNumber)
    const shown = cf.url.startsWith('file://') ? relative(ROOT, fileURLToPath(cf.url)) : cf.url
    return `${shown}:${cf.lineNumber + 1}${original ? ` (${original.file}:${original.line})` : ''}`
  }
  const sorted = (map) => [...map].sort((a, b) => b[1].us - a[1].us)
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    samples: profile.samples.length,
    topFunctions: sorted(functions)
      .slice(0, 25)
      .map(([, e]) => ({
        function: e.callFrame.functionName || '(anonymous)',
        location: location(e.callFrame),
        module: e.module,
        selfMs: e.us / 1000,
        selfPct: pct(e.us, totalUs),
        selfPctOfBusy: e.module === '(idle)' ? null : pct(e.us, busyUs),
      })),
    byModule: sorted(modules).map(([module, e]) => ({
      module,
      category: e.category,
      selfMs: e.us / 1000,
      selfPct: pct(e.us, totalUs),
      selfPctOfBusy: module === '(idle)' ? null : pct(e.us, busyUs),
    })),
    byCategory: sorted(categories).map(([category, e]) => ({
      category,
      selfMs: e.us / 1000,
      selfPct: pct(e.us, totalUs),
      selfPctOfBusy: category === '(idle)' ? null : pct(e.us, busyUs),
    })),
    byNearestGreyFrame: sorted(owners).map(([module, e]) => ({
      module,
      ms: e.us / 1000,
      pct: pct(e.us, totalUs),
      pctOfBusy: module === '(idle)' ? null : pct(e.us, busyUs),
    })),
  }
}

function printProfile(s, path) {
  const busyPct = (100 * s.busyMs) / s.totalMs
  console.log(`\nprofile: ${path}`)
  console.log('  (open it in Chrome DevTools → Performance → Load profile, or in VS Code)')
  console.log(
    `  ${fmt(s.totalMs / 1000, 1)} s sampled (${s.samples} samples, Grey's whole life: start-up, the run, drain): ` +
      `${fmt(busyPct, 1)} % not idle, ${fmt(100 - busyPct, 1)} % idle (the event loop waiting for sockets).`,
  )
  if (s.greyCpuUntilSigtermS !== null && s.greyCpuUntilSigtermS !== undefined) {
    console.log(
      `  Grey's CPU from /proc until SIGTERM: ${fmt(s.greyCpuUntilSigtermS, 1)} s (all threads, the profiler's included) against ` +
        `${fmt(s.busyMs / 1000, 1)} s of non-idle samples.\n` +
        '  V8 samples wall-clock time: while the OS has the main thread descheduled (2 oversubscribed cores) the samples\n' +
        '  count for the call it is in, typically a socket write that just woke PostgreSQL or pgbench. When non-idle\n' +
        '  exceeds the CPU figure, native write time is inflated by about the difference.',
    )
  }
  console.log("  self % = of all sampled time; busy % = of the time Grey's main thread was not idle.\n")
  const table = (head, rows) => {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
    const right = head.map((h) => /%|ms/.test(h))
    const line = (cols) =>
      '  ' +
      cols
        .map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd()
    console.log(line(head))
    for (const r of rows) console.log(line(r))
  }
  console.log('Top 25 functions by self time:')
  table(
    ['#', 'self ms', 'self %', 'busy %', 'function', 'location (source)'],
    s.topFunctions.map((f, i) => [
      String(i + 1),
      fmt(f.selfMs, 0),
      fmt(f.selfPct, 1),
      fmt(f.selfPctOfBusy, 1),
      f.function,
      f.location || f.module,
    ]),
  )
  console.log('\nSelf time by file/module:')
  table(
    ['self ms', 'self %', 'busy %', 'module'],
    s.byModule.filter((m) => m.selfPct >= 0.2).map((m) => [fmt(m.selfMs, 0), fmt(m.selfPct, 1), fmt(m.selfPctOfBusy, 1), m.module]),
  )
  console.log('\nSelf time by category:')
  table(
    ['self ms', 'self %', 'busy %', 'category'],
    s.byCategory.map((c) => [fmt(c.selfMs, 0), fmt(c.selfPct, 1), fmt(c.selfPctOfBusy, 1), c.category]),
  )
  console.log(
    '\nTime charged to the nearest Grey frame on the stack (node internals, builtins and npm code called from a Grey file count for that file):',
  )
  table(
    ['ms', '%', 'busy %', 'module'],
    s.byNearestGreyFrame.filter((m) => m.pct >= 0.2).map((m) => [fmt(m.ms, 0), fmt(m.pct, 1), fmt(m.pctOfBusy, 1), m.module]),
  )
}

// ---------------------------------------------------------------------------------------------
// Main

const started = new Date()
const stamp = started
  .toISOString()
  .replace(/[:.]/g, '-')
  .replace(/-\d{3}Z$/, 'Z')
let exitCode = 0
try {
  const poolSize = await greyPoolSize(greyConfigPath)
  const results = {
    startedAt: started.toISOString(),
    settings: {
      seconds: SECONDS,
      slices: SLICES,
      clients: CLIENTS,
      workloads: Object.fromEntries(RUN_WORKLOADS.map((w) => [w, WORKLOADS[w].describe])),
      modes: MODES,
      scale: SCALE,
      region: REGION,
      greyConfig: greyConfigPath,
      greyPoolSize: poolSize,
      pgbouncerPoolSize: poolSize,
      percentiles: 'nearest rank over every transaction in pgbench -l logs',
    },
    host: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      pgbench: await version('pgbench', ['--version']),
      pgbouncer: await version(PGBOUNCER, ['--version']),
      postgres: (await psql(DIRECT_PORT, 'SHOW server_version'))[0]?.server_version,
    },
    git: {
      commit: (await run('git', ['-C', ROOT, 'rev-parse', 'HEAD'])).stdout.trim(),
      dirty: (await run('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'])).stdout.trimEnd().split('\n').filter(Boolean),
      distBuiltAt: distBuiltAt().toISOString(),
      labGreyStartedAt: greyStartedAt,
    },
    cells: [],
    profile: null,
  }
  const logDir = mkdtempSync(join(tmpdir(), 'grey-bench-pgbench-'))
  cleanups.push(() => rmSync(logDir, { recursive: true, force: true }))

  console.log(
    `Grey bench: us-east primary ${HOST}:${DIRECT_PORT} direct, through the lab's Grey ${HOST}:${GREY_PORT} (pool ${poolSize}), ` +
      `and through pgbouncer (transaction mode, pool ${poolSize}).`,
  )
  console.log(
    `${results.host.cpus} CPUs shared by pgbench, Grey, pgbouncer and PostgreSQL; ${results.host.postgres}, ${results.host.pgbench}, ${results.host.pgbouncer.split('\n')[0]}, node ${process.version}.`,
  )

  if (MATRIX && greyStartedAt && new Date(results.git.distBuiltAt) > new Date(greyStartedAt)) {
    console.log(
      `note: dist/ changed (${results.git.distBuiltAt}) after the lab's Grey started (${greyStartedAt}), so the matrix measures ` +
        `the older build; \`node dist/cli/grey.js lab restart grey:${REGION}\` runs the current one.`,
    )
  }
  if (MATRIX) {
    const bouncer = await startPgbouncer(poolSize)
    PORTS.pgbouncer = bouncer.port
    const pids = { grey: greyPid, pgbouncer: bouncer.pid }
    console.log(`pgbouncer: 127.0.0.1:${bouncer.port} (pid ${bouncer.pid}, config ${bouncer.dir}/pgbouncer.ini)`)

    results.host.backgroundBusyPct = { before: await backgroundBusyPct() }
    warnIfBusy('before the matrix', results.host.backgroundBusyPct.before)
    const t0 = Date.now()
    const init = await run(
      'pgbench',
      ['-h', HOST, '-p', DIRECT_PORT, '-U', lab.pg.user, '-i', '-s', String(SCALE), '-q', lab.pg.database],
      { env: PG_ENV },
    )
    if (init.code !== 0) throw new CommandError(`pgbench -i failed (exit ${init.code})\n${init.stderr}`)
    console.log(
      `pgbench -i -s ${SCALE} (${SCALE * 100_000} accounts, ${SCALE} branches) directly: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    )

    // Warm-up (not recorded): fills both pools, lets Grey's JIT settle, warms PostgreSQL's cache.
    for (const target of TARGETS)
      await pgbench(pgbenchArgs(PORTS[target], { workload: 'select', mode: 'extended', clients: 16, seconds: 2 }))

    const cells = RUN_WORKLOADS.flatMap((workload) => MODES.flatMap((mode) => CLIENTS.map((clients) => ({ workload, mode, clients }))))
    const perCellS = SECONDS * TARGETS.length
    console.log(
      `${cells.length} cells × ${TARGETS.length} targets × ${SECONDS} s (slices ${SLICES.join('+')} s, target order reversed each slice): ` +
        `≥ ${cells.length * perCellS >= 120 ? `${Math.ceil((cells.length * perCellS) / 60)} min` : `${cells.length * perCellS} s`}\n`,
    )
    for (const [i, cell] of cells.entries()) {
      if (WORKLOADS[cell.workload].writes) await prepareWrites()
      process.stdout.write(`[${i + 1}/${cells.length}] ${cell.workload} ${cell.mode} ${cell.clients} clients … `)
      const rows = await runCell(cell, pids, bouncer, logDir)
      results.cells.push(...rows)
      console.log(rows.map((r) => `${r.target} ${fmt(r.tps, 0)}`).join(', '))
    }

    results.host.backgroundBusyPct.after = await backgroundBusyPct()
    warnIfBusy('after the matrix', results.host.backgroundBusyPct.after)

    console.log(`\nWorkloads (scale ${SCALE}; -j = min(clients, 2); ${SECONDS} s per target per cell; TPS without connection time):`)
    for (const w of RUN_WORKLOADS) console.log(`  ${w}: ${WORKLOADS[w].describe}`)
    console.log('')
    printTable(results.cells)
    console.log(
      `\ngrey/direct, grey/pgbouncer: TPS ratios. p50/p99: exact, from every transaction's latency in pgbench's log.\n` +
        `proxy cpu%: the proxy process's CPU over the pgbench runs (connecting included), 100 = one core; cpu µs/tx: that CPU\n` +
        `per transaction. host busy%: all ${results.host.cpus} cores.\n` +
        `srv conns: server connections the proxy held on the primary mid-run (pg_stat_activity for Grey, SHOW POOLS for pgbouncer).\n` +
        `Caveat: ${results.host.cpus} cores shared by pgbench, the proxy and PostgreSQL, all on loopback: a proxy's cost shows up as CPU\n` +
        `taken from pgbench and PostgreSQL as much as added latency. Grey and pgbouncer both cap the primary at ${poolSize} server\n` +
        `connections; direct uses one per client.`,
    )
  }

  if (PROFILE) results.profile = await profileGrey(logDir, stamp, results.cells)

  results.finishedAt = new Date().toISOString()
  results.durationS = (Date.now() - started.getTime()) / 1000
  mkdirSync(join(BENCH, 'results'), { recursive: true })
  const out = join(BENCH, 'results', `pg-${stamp}.json`)
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`\nresults: ${relative(process.cwd(), out)} (run took ${fmt(results.durationS / 60, 1)} min)`)
} catch (err) {
  exitCode = 1
  // After a signal, the failure is the signal's doing (its handler exits 130).
  if (!interrupted) console.error(`\nbench/pg.mjs failed: ${err instanceof CommandError ? err.message : (err?.stack ?? err)}`)
} finally {
  await cleanup()
}
process.exit(exitCode)
