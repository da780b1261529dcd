import { spawn } from 'node:child_process'
import { nativeTransportReady } from './native-transport-ready.js'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cassandraJavaArgs, JAMM_JAR } from './cassandra-java-args.js'
import { cassandraNodePaths, type CassandraNodePaths } from './cassandra-node-paths.js'
import type { CassandraNodeSpec } from './cassandra-node-spec.js'
import { renderCassandraYaml } from './render-cassandra-yaml.js'
import { renderLogbackXml } from './render-logback-xml.js'
import { renderRackDc } from './render-rack-dc.js'
import { runningCassandraPid } from './running-cassandra-pid.js'
import { stopCassandraNode } from './stop-cassandra-node.js'

export interface StartCassandraNodeOptions {
  /** Give up (and stop the JVM) when the node is not serving CQL by then. Default 180 s. */
  timeoutMs?: number
  /** Interval between readiness probes. Default 1 s. */
  pollMs?: number
}

export interface StartedCassandraNode {
  pid: number
  /** From spawning the JVM to the first successful CQL query as the lab superuser. */
  startMs: number
}

const LOG_TAIL_LINES = 40

function tail(path: string, lines: number): string {
  if (!existsSync(path)) return `(${path} does not exist)`
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}

function failure(spec: CassandraNodeSpec, paths: CassandraNodePaths, why: string): Error {
  return new Error(
    `grey lab: Cassandra node ${spec.region} (${spec.listenAddress}) ${why}.\n` +
      `--- last lines of ${paths.systemLog} ---\n${tail(paths.systemLog, LOG_TAIL_LINES)}\n` +
      `--- last lines of ${paths.stdoutLog} ---\n${tail(paths.stdoutLog, 10)}`,
  )
}

function checkInstallation(spec: CassandraNodeSpec): string {
  const java = spec.javaHome === undefined ? 'java' : join(spec.javaHome, 'bin', 'java')
  if (spec.javaHome !== undefined && !existsSync(java)) {
    throw new Error(`grey lab: no Java at ${java}; install openjdk-17-jre-headless (npm run setup)`)
  }
  const jars = existsSync(spec.libDir) ? readdirSync(spec.libDir) : []
  if (!jars.some((name) => /^cassandra-all-.*\.jar$/.test(name)) || !jars.includes(JAMM_JAR)) {
    throw new Error(`grey lab: Cassandra jars (cassandra-all, ${JAMM_JAR}) are missing from ${spec.libDir}; run npm run setup`)
  }
  return java
}

const SETPRIV = '/usr/bin/setpriv'

/**
 * CassandraDaemon always calls mlockall(MCL_CURRENT). As root (CAP_IPC_LOCK) that pins the whole
 * heap, ~1.2 GB per lab node; as a normal user RLIMIT_MEMLOCK makes it fail harmlessly. setpriv
 * drops CAP_IPC_LOCK and then execs java, so the pid stays the JVM's and root behaves like a user.
 */
function jvmCommand(java: string, javaArgs: string[]): [string, string[]] {
  if (process.getuid?.() !== 0 || !existsSync(SETPRIV)) return [java, javaArgs]
  return [SETPRIV, ['--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock', '--', java, ...javaArgs]]
}

function portAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}

/**
 * Writes the node's configuration, starts its JVM detached (it outlives this process; the pid is in
 * <dir>/cassandra.pid) and resolves once it serves CQL. On early exit or timeout it rejects with the
 * tail of system.log, after stopping the JVM so nothing is left behind.
 */
export async function startCassandraNode(spec: CassandraNodeSpec, opts: StartCassandraNodeOptions = {}): Promise<StartedCassandraNode> {
  const timeoutMs = opts.timeoutMs ?? 180_000
  const pollMs = opts.pollMs ?? 1000
  const paths = cassandraNodePaths(spec.dir)
  const java = checkInstallation(spec)
  const already = runningCassandraPid(spec.dir)
  if (already !== undefined) {
    throw new Error(`grey lab: Cassandra node ${spec.region} in ${paths.root} is already running (pid ${already}); stop it first`)
  }

  // Another process answering there would pass our readiness probe for a node that never started.
  if (await portAccepts(spec.listenAddress, spec.nativePort)) {
    throw new Error(
      `grey lab: ${spec.listenAddress}:${spec.nativePort} is already in use by another process; stop it (another lab? grey lab down) before starting Cassandra node ${spec.region}`,
    )
  }
  for (const dir of [paths.triggersDir, paths.dataDir, paths.logsDir]) mkdirSync(dir, { recursive: true })
  writeFileSync(paths.cassandraYaml, renderCassandraYaml(spec))
  writeFileSync(paths.rackDcProperties, renderRackDc(spec))
  writeFileSync(paths.logbackXml, renderLogbackXml(spec))

  const startedAt = Date.now()
  const out = openSync(paths.stdoutLog, 'a')
  const [command, args] = jvmCommand(java, cassandraJavaArgs(spec))
  const child = spawn(command, args, { cwd: paths.root, detached: true, stdio: ['ignore', out, out] })
  closeSync(out)
  let exit: string | undefined
  child.once('error', (err) => {
    exit = `could not start ${java}: ${err.message}`
  })
  child.once('exit', (code, signal) => {
    exit = `exited during start-up (${signal ?? `exit code ${code}`})`
  })
  child.unref()
  const pid = child.pid
  if (pid === undefined) {
    await sleep(0) // let the 'error' event say why
    throw failure(spec, paths, exit ?? `could not be started with ${java}`)
  }
  writeFileSync(paths.pidFile, `${pid}\n`)

  while (Date.now() - startedAt < timeoutMs) {
    if (exit !== undefined) {
      rmSync(paths.pidFile, { force: true })
      throw failure(spec, paths, exit)
    }
    if (await nativeTransportReady(spec.listenAddress, spec.nativePort)) return { pid, startMs: Date.now() - startedAt }
    await sleep(pollMs)
  }
  await stopCassandraNode(spec.dir)
  throw failure(spec, paths, `did not answer on its native port ${spec.listenAddress}:${spec.nativePort} within ${timeoutMs} ms (stopped)`)
}
