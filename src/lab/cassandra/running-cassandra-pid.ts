import { readFileSync } from 'node:fs'
import { isLiveProcess } from '../lab-process.js'
import { pathToFileURL } from 'node:url'
import { CASSANDRA_MAIN_CLASS } from './cassandra-java-args.js'
import { cassandraNodePaths } from './cassandra-node-paths.js'

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * The pid of the Cassandra JVM that the node in `dir` runs, or undefined. A pid file whose process
 * is gone, a zombie, or some other program (pid reuse) does not count: we only ever signal a
 * CassandraDaemon started with this node's cassandra.yaml.
 */
export function runningCassandraPid(dir: string): number | undefined {
  const paths = cassandraNodePaths(dir)
  const text = readOrUndefined(paths.pidFile)?.trim()
  if (text === undefined || !/^[1-9][0-9]*$/.test(text)) return undefined
  const pid = Number(text)
  const cmdline = readOrUndefined(`/proc/${pid}/cmdline`)?.split('\0')
  if (cmdline === undefined) return undefined
  const ownConfig = `-Dcassandra.config=${pathToFileURL(paths.cassandraYaml).href}`
  if (!cmdline.includes(CASSANDRA_MAIN_CLASS) || !cmdline.includes(ownConfig)) return undefined
  return isLiveProcess(pid) ? pid : undefined
}
