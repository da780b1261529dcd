import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { endpointText, type LabPlan, type RegionPlan } from './lab-plan.js'
import {
  cassandraNodePaths,
  prepareLabKeyspace,
  startCassandraNode,
  stopCassandraNode,
  type CassandraNodeSpec,
} from './cassandra/cassandra-node.js'

/** Kept in step with src/cli/setup.mjs, which resolves these jars from Maven Central. */
export const CASSANDRA_VERSION = '5.0.9'
const cacheDir = process.env.GREY_CACHE_DIR ?? join(homedir(), '.cache', 'grey')
/** Debian's openjdk-17 (installed by setup): Cassandra 5.0 runs on 11 or 17, and `java` may be another. */
const JAVA_17_HOME = '/usr/lib/jvm/java-17-openjdk-amd64'

export const cassandraNodeDir = (plan: LabPlan, region: string): string => join(plan.dir, 'cassandra', region)

function nodeSpec(plan: LabPlan, region: RegionPlan): CassandraNodeSpec {
  const seed = plan.regions[0]
  if (!seed) throw new Error('the lab plan has no regions')
  return {
    clusterName: `grey-lab-${plan.slot}`,
    region: region.name,
    datacenter: region.name,
    listenAddress: region.cassandra.listen.host,
    broadcastAddress: region.cassandra.broadcastHost,
    nativePort: region.cassandra.listen.port,
    storagePort: region.cassandra.storagePort,
    seeds: [seed.cassandra.broadcastHost],
    dir: cassandraNodeDir(plan, region.name),
    heapMb: Number(process.env.GREY_LAB_CASSANDRA_HEAP_MB ?? 768),
    libDir: join(cacheDir, `cassandra-${CASSANDRA_VERSION}`, 'lib'),
    jmxPort: plan.portBase + 90 + region.index,
    ...(existsSync(JAVA_17_HOME) ? { javaHome: JAVA_17_HOME } : {}),
  }
}

export async function startLabCassandraNode(plan: LabPlan, region: RegionPlan): Promise<{ pid: number; startMs: number; log: string }> {
  const spec = nodeSpec(plan, region)
  const started = await startCassandraNode(spec)
  return { ...started, log: cassandraNodePaths(spec.dir).systemLog }
}

export function stopLabCassandraNode(plan: LabPlan, region: string): Promise<void> {
  return stopCassandraNode(cassandraNodeDir(plan, region))
}

/** The lab keyspace, replicated once into every region's DC. */
export async function prepareLabCassandra(plan: LabPlan): Promise<void> {
  const first = plan.regions[0]
  if (!first) return
  await prepareLabKeyspace(
    endpointText(first.cassandra.listen),
    first.name,
    plan.regions.map((r) => r.name),
  )
}
