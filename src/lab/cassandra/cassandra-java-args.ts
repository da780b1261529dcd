import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { cassandraNodePaths } from './cassandra-node-paths.js'
import type { CassandraNodeSpec } from './cassandra-node-spec.js'

export const CASSANDRA_MAIN_CLASS = 'org.apache.cassandra.service.CassandraDaemon'
/** Cassandra 5.0 measures on-heap object sizes with jamm, loaded as an agent (bin/cassandra.in.sh). */
export const JAMM_JAR = 'jamm-0.4.0.jar'

/** Lab-only start-up shortcuts: gossip on loopback settles in well under these delays. */
export const LAB_RING_DELAY_MS = 4000
export const LAB_SUPERUSER_SETUP_DELAY_MS = 1000

/** The JPMS list of Cassandra 5.0's conf/jvm17-server.options: without it Java 17 refuses the reflection Cassandra does. */
export const JVM17_MODULE_FLAGS: readonly string[] = [
  '--add-exports',
  'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports',
  'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports',
  'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports',
  'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports',
  'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports',
  'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports',
  'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens',
  'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens',
  'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.io=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens',
  'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.nio=ALL-UNNAMED',
]

/**
 * The `java` command line (without the executable) for one lab node: conf/jvm-server.options and
 * conf/jvm17-server.options of Cassandra 5.0, trimmed for a small heap, plus lab start-up shortcuts.
 */
export function cassandraJavaArgs(spec: CassandraNodeSpec): string[] {
  const paths = cassandraNodePaths(spec.dir)
  const url = (path: string): string => pathToFileURL(path).href
  const jmx = spec.jmxPort === undefined ? [] : [`-Dcassandra.jmx.local.port=${spec.jmxPort}`]
  return [
    // jvm-server.options
    '-ea',
    '-da:net.openhft...',
    '-XX:+UseThreadPriorities',
    '-Xss256k',
    '-XX:+UseTLAB',
    '-XX:+ResizeTLAB',
    '-XX:+PerfDisableSharedMem',
    '-Djava.net.preferIPv4Stack=true',
    // A lab node that runs out of heap should die, not write a heap dump the size of its heap.
    '-XX:+ExitOnOutOfMemoryError',
    `-Xms${spec.heapMb}m`,
    `-Xmx${spec.heapMb}m`,
    // jvm17-server.options (G1HeapRegionSize=16m left out: too coarse for a sub-GiB heap)
    '-XX:+UseG1GC',
    '-XX:+ParallelRefProcEnabled',
    '-XX:MaxTenuringThreshold=1',
    '-XX:G1RSetUpdatingPauseTimePercent=5',
    '-XX:MaxGCPauseMillis=300',
    '-XX:InitiatingHeapOccupancyPercent=70',
    '-Djdk.attach.allowAttachSelf=true',
    ...JVM17_MODULE_FLAGS,
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dio.netty.allocator.useCacheForAllThreads=true',
    '-Dio.netty.allocator.maxOrder=11',
    // cassandra-env.sh / cassandra.in.sh
    `-javaagent:${join(spec.libDir, JAMM_JAR)}`,
    `-Dcassandra.config=${url(paths.cassandraYaml)}`,
    `-Dcassandra-rackdc.properties=${url(paths.rackDcProperties)}`,
    `-Dlogback.configurationFile=${url(paths.logbackXml)}`,
    `-Dcassandra.storagedir=${paths.dataDir}`,
    `-Dcassandra.logdir=${paths.logsDir}`,
    `-Dcassandra.triggers_dir=${paths.triggersDir}`,
    ...jmx,
    // Keep stdout/stderr open: start-up failures that bypass logback land in logs/stdout.log.
    '-Dcassandra-foreground=yes',
    // Lab only: a loopback cluster of fresh nodes does not need production's settle delays.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    `-Dcassandra.ring_delay_ms=${LAB_RING_DELAY_MS}`,
    `-Dcassandra.superuser_setup_delay_ms=${LAB_SUPERUSER_SETUP_DELAY_MS}`,
    '-cp',
    // Java expands `dir/*` to every jar in dir; conf first, as bin/cassandra.in.sh does.
    `${paths.confDir}:${join(spec.libDir, '*')}`,
    CASSANDRA_MAIN_CLASS,
  ]
}
