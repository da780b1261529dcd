import { rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { cassandraNodePaths } from './cassandra-node-paths.js'
import { runningCassandraPid } from './running-cassandra-pid.js'

export interface StopCassandraNodeOptions {
  /** How long Cassandra may drain after SIGTERM before it gets SIGKILL. Default 30 s. */
  timeoutMs?: number
}

async function waitGone(dir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (runningCassandraPid(dir) !== undefined) {
    if (Date.now() >= deadline) return false
    await sleep(200)
  }
  return true
}

/**
 * Stops the node in `dir`: SIGTERM (Cassandra drains: flushes memtables, leaves gossip), SIGKILL
 * after the timeout. A no-op when the node is not running; never signals a process that is not
 * this node's CassandraDaemon (see runningCassandraPid).
 */
export async function stopCassandraNode(dir: string, opts: StopCassandraNodeOptions = {}): Promise<void> {
  const pidFile = cassandraNodePaths(dir).pidFile
  const pid = runningCassandraPid(dir)
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM')
    if (!(await waitGone(dir, opts.timeoutMs ?? 30_000))) {
      process.kill(pid, 'SIGKILL')
      if (!(await waitGone(dir, 10_000))) {
        throw new Error(`grey lab: Cassandra pid ${pid} (${dir}) survived SIGKILL for 10 s`)
      }
    }
  }
  rmSync(pidFile, { force: true })
}
