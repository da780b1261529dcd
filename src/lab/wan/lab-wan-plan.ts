import { join } from 'node:path'
import { reachFrom, serviceEndpoint, type LabPlan, type RelayedService } from '../lab-plan.js'
import type { WanPlan } from './wan-emulator.js'
import type { RelaySpec } from './wan-relay.js'

/** Services reached across regions: replication and Grey → remote PostgreSQL, Grey → remote Cassandra, Grey ↔ Grey. */
const CROSS_REGION_SERVICES: RelayedService[] = ['pg', 'cql', 'raft']

/** Every cross-region path of the lab, each through a relay of the WAN emulator. */
export function labWanPlan(plan: LabPlan, jitterMs = 0): WanPlan {
  const relays: RelaySpec[] = []
  for (const from of plan.regions) {
    for (const to of plan.regions) {
      if (from === to) continue
      for (const service of CROSS_REGION_SERVICES) {
        relays.push({
          name: `${from.name}→${to.name} ${service}`,
          listen: reachFrom(plan, from.name, to.name, service),
          target: serviceEndpoint(to, service),
          from: from.name,
          to: to.name,
        })
      }
    }
  }
  // Cassandra gossips each node's broadcast address; the relay there tells the caller's DC from its handshake.
  for (const to of plan.regions) {
    relays.push({
      name: `*→${to.name} cassandra-internode`,
      listen: { host: to.cassandra.broadcastHost, port: to.cassandra.storagePort },
      target: { host: to.cassandra.listen.host, port: to.cassandra.storagePort },
      from: null,
      to: to.name,
    })
  }
  return {
    relays,
    cassandraPeers: Object.fromEntries(plan.regions.map((r) => [r.cassandra.broadcastHost, r.name])),
    jitterMs,
    control: plan.wanControl,
    statePath: join(plan.dir, 'wan-state.json'),
    regions: plan.regions.map((r) => r.name),
  }
}
