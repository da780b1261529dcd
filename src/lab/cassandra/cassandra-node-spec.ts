/** Everything needed to configure and start one lab Cassandra node (one JVM, one DC). */
export interface CassandraNodeSpec {
  clusterName: string
  /** Lab region this node serves, e.g. `us-east`. */
  region: string
  /** Cassandra datacenter name; the lab uses the region name. */
  datacenter: string
  /** Address the node binds for internode (storage_port) and CQL (native_transport_port). */
  listenAddress: string
  /** Address gossiped to peers: the WAN relay's address for this node, or listenAddress without a relay. */
  broadcastAddress: string
  nativePort: number
  storagePort: number
  /** Seed addresses (broadcast addresses, without port; storagePort is appended). */
  seeds: string[]
  /** The node's root: conf/, data/, logs/ and cassandra.pid live here. */
  dir: string
  heapMb: number
  /** Directory holding cassandra-all and its runtime jars (resolved from Maven Central). */
  libDir: string
  /** JDK 17 home; `java` on PATH when absent. */
  javaHome?: string
  /** Local-only JMX port (127.0.0.1) for nodetool; JMX is off when absent. Must be unique per machine. */
  jmxPort?: number
}
