#!/usr/bin/env node
// Builds the k6 binary the load tests run: k6 with xk6-sql, a PostgreSQL driver for it, and a sub-millisecond
// clock, compiled with xk6 from Go modules into ~/.cache/grey/k6 (or $GREY_CACHE_DIR/k6). Idempotent: when the
// binary for these pins exists it only prints its path. Needs Go (PATH, or /usr/local/go/bin).
//
//   node loadtest/build-k6.mjs            # prints the binary's path on the last line
//   nice -n 19 node loadtest/build-k6.mjs # on a busy machine (GOMAXPROCS=1 GOFLAGS=-p=1 slow it further)
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))

// Pinned versions, each present on the Go module proxy this project's machines reach.
export const PINS = {
  xk6: 'v1.4.11',
  k6: 'v1.8.1',
  xk6Sql: 'github.com/grafana/xk6-sql@v1.0.5',
  // Used when the proxy serves it (it pairs with xk6-sql v1.0.5); otherwise the stand-in in xk6/sql-driver-postgres,
  // which registers the same driver (lib/pq v1.10.9) under the same import, k6/x/sql/driver/postgres.
  upstreamPgDriver: 'github.com/grafana/xk6-sql-driver-postgres@v0.1.2',
}
const LOCAL_MODULES = {
  pgDriver: { module: 'grey.local/xk6-sql-driver-postgres', dir: join(HERE, 'xk6', 'sql-driver-postgres') },
  clock: { module: 'grey.local/xk6-clock', dir: join(HERE, 'xk6', 'clock') },
}

const cacheRoot = join(process.env.GREY_CACHE_DIR ?? join(homedir(), '.cache', 'grey'), 'k6')
const say = (line) => process.stderr.write(`build-k6: ${line}\n`)

function goBinary() {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/local/go/bin']) {
    if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go')
  }
  throw new Error('build-k6: Go is not installed (no `go` on PATH or in /usr/local/go/bin); install Go 1.23 or newer')
}

// Go flags come from the environment (GOFLAGS, GOMAXPROCS, GOPROXY as configured); the module cache is shared.
function run(cmd, args, cwd, env = {}) {
  const result = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 })
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, error: result.error }
}

function localModulesHash() {
  const hash = createHash('sha256')
  for (const { dir } of Object.values(LOCAL_MODULES)) {
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.go') || name === 'go.mod' || name === 'go.sum') hash.update(name).update(readFileSync(join(dir, name)))
    }
  }
  return hash.digest('hex').slice(0, 12)
}

function binaryPath(driver) {
  const key = createHash('sha256')
    .update(JSON.stringify({ ...PINS, driver, local: localModulesHash() }))
    .digest('hex')
    .slice(0, 12)
  return join(cacheRoot, `k6-${PINS.k6}-${driver}-${key}`)
}

// `go install go.k6.io/xk6/cmd/xk6@VERSION` first asks the proxy for xk6's version list (to report a deprecation);
// a proxy that refuses the list fails the install, so fall back to building the same package inside a throwaway module.
function ensureXk6(go) {
  const dir = join(cacheRoot, `xk6-${PINS.xk6}`)
  const xk6 = join(dir, 'xk6')
  if (existsSync(xk6)) return xk6
  mkdirSync(dir, { recursive: true })
  say(`installing xk6 ${PINS.xk6} into ${dir}`)
  const installed = run(go, ['install', `go.k6.io/xk6/cmd/xk6@${PINS.xk6}`], dir, { GOBIN: dir })
  if (installed.ok && existsSync(xk6)) return xk6
  say(`go install failed (${lastLine(installed.output)}); building go.k6.io/xk6/cmd/xk6 in a module instead`)
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), `module grey.local/xk6-installer\n\ngo 1.23.0\n\nrequire go.k6.io/xk6 ${PINS.xk6}\n`)
  const built = run(go, ['build', '-mod=mod', '-o', xk6, 'go.k6.io/xk6/cmd/xk6'], src)
  if (!built.ok) throw new Error(`build-k6: could not build xk6 ${PINS.xk6}:\n${built.output}`)
  return xk6
}

function upstreamDriverAvailable(go) {
  const dir = mkdtempSync(join(tmpdir(), 'grey-k6-probe-'))
  try {
    return run(go, ['mod', 'download', '-json', PINS.upstreamPgDriver], dir, { GOFLAGS: '' }).ok
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const lastLine = (text) => text.trim().split('\n').filter(Boolean).at(-1) ?? ''

/** Returns the k6 binary's path, building it first when the cache has none for these pins. */
export function ensureK6() {
  for (const driver of ['upstream-pg', 'local-pg']) {
    const path = binaryPath(driver)
    if (existsSync(path)) return path
  }
  const go = goBinary()
  const t0 = Date.now()
  const xk6 = ensureXk6(go)
  const upstream = upstreamDriverAvailable(go)
  const driver = upstream ? 'upstream-pg' : 'local-pg'
  say(
    upstream
      ? `using ${PINS.upstreamPgDriver}`
      : `${PINS.upstreamPgDriver} is not on the Go module proxy; using the stand-in ${LOCAL_MODULES.pgDriver.dir}`,
  )
  const out = binaryPath(driver)
  mkdirSync(cacheRoot, { recursive: true })
  const work = mkdtempSync(join(cacheRoot, '.build-'))
  const partial = join(work, 'k6')
  const args = ['build', PINS.k6, '--output', partial, '--with', PINS.xk6Sql]
  args.push('--with', upstream ? PINS.upstreamPgDriver : `${LOCAL_MODULES.pgDriver.module}=${LOCAL_MODULES.pgDriver.dir}`)
  args.push('--with', `${LOCAL_MODULES.clock.module}=${LOCAL_MODULES.clock.dir}`)
  say(`xk6 ${args.join(' ')}`)
  try {
    const built = run(xk6, args, work, { K6_AUTO_EXTENSION_RESOLUTION: 'false', CGO_ENABLED: '0' })
    if (!built.ok || !existsSync(partial)) throw new Error(`build-k6: xk6 build failed:\n${built.output}`)
    renameSync(partial, out)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  writeFileSync(`${out}.json`, `${JSON.stringify({ ...PINS, driver, builtInMs: Date.now() - t0 }, null, 2)}\n`)
  say(`built ${out} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  return out
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  try {
    const k6 = ensureK6()
    const version = execFileSync(k6, ['version'], { encoding: 'utf8', env: { ...process.env, K6_AUTO_EXTENSION_RESOLUTION: 'false' } })
    say(version.trim().split('\n')[0])
    console.log(k6)
  } catch (err) {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  }
}
