import type { CassandraNodeSpec } from './cassandra-node-spec.js'

/** cassandra-rackdc.properties for GossipingPropertyFileSnitch: one rack per DC. */
export function renderRackDc(spec: CassandraNodeSpec): string {
  // prefer_local: same-DC peers talk over listen_address, bypassing the WAN relay.
  return `dc=${spec.datacenter}\nrack=rack1\nprefer_local=true\n`
}
