import { join, resolve } from 'node:path'

export interface CassandraNodePaths {
  root: string
  confDir: string
  cassandraYaml: string
  rackDcProperties: string
  logbackXml: string
  triggersDir: string
  dataDir: string
  logsDir: string
  systemLog: string
  stdoutLog: string
  pidFile: string
}

/** Where a node's files live under its root directory (absolute, so the JVM's cwd does not matter). */
export function cassandraNodePaths(dir: string): CassandraNodePaths {
  const root = resolve(dir)
  const confDir = join(root, 'conf')
  const logsDir = join(root, 'logs')
  return {
    root,
    confDir,
    cassandraYaml: join(confDir, 'cassandra.yaml'),
    rackDcProperties: join(confDir, 'cassandra-rackdc.properties'),
    logbackXml: join(confDir, 'logback.xml'),
    triggersDir: join(confDir, 'triggers'),
    dataDir: join(root, 'data'),
    logsDir,
    systemLog: join(logsDir, 'system.log'),
    stdoutLog: join(logsDir, 'stdout.log'),
    pidFile: join(root, 'cassandra.pid'),
  }
}
