import { join, resolve } from 'node:path'

/** The seed card's three regions; us-east holds the PostgreSQL primary. */
export const LAB_REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
export type LabRegion = (typeof LAB_REGIONS)[number]

export type PgRole = 'primary' | 'sync-standby' | 'async-standby'
const PG_ROLES: Record<LabRegion, PgRole> = {
  'us-east': 'primary',
  'eu-west': 'sync-standby',
  'ap-south': 'async-standby',
}

/** One-way delays of the seed card, in ms. */
const ONE_WAY_DELAY_MS: Record<string, number> = {
  'us-east|eu-west': 40,
  'us-east|ap-south': 90,
  'eu-west|ap-south': 75,
}

export function oneWayDelayMs(from: string, to: string): number {
  if (from === to) return 0
  const ms = ONE_WAY_DELAY_MS[`${from}|${to}`] ?? ONE_WAY_DELAY_MS[`${to}|${from}`]
  if (ms === undefined) throw new Error(`no WAN delay is defined between ${from} and ${to}`)
  return ms
}

/** Services a region exposes to the others; each cross-region path gets its own relay port. */
export type RelayedService = 'pg' | 'cql' | 'raft' | 'redis'
const SERVICE_OFFSET: Record<RelayedService, number> = { pg: 0, cql: 2, raft: 4, redis: 5 }
const LOOPBACK = '127.0.0.1'

export interface Endpoint {
  host: string
  port: number
}
export const endpointText = (e: Endpoint): string => `${e.host}:${e.port}`

export interface RegionPlan {
  name: LabRegion
  index: number
  pgRole: PgRole
  pg: Endpoint
  grey: { pg: Endpoint; cql: Endpoint; admin: Endpoint; raft: Endpoint }
  redis: Endpoint
  cassandra: {
    /** Where the node listens (native protocol and internode). */
    listen: Endpoint
    /** Internode address the other DCs use: the WAN relay, which forwards to `listen`. */
    broadcastHost: string
    storagePort: number
  }
}

export interface LabPlan {
  dir: string
  slot: number
  portBase: number
  regions: RegionPlan[]
  wanControl: Endpoint
  pgUser: string
  pgPassword: string
  pgDatabase: string
  replicationUser: string
  replicationPassword: string
  adminToken: string
  raftSecret: string
}

export interface LabPlanOptions {
  /** Lab directory; the user's lab is `.lab`, the tests' `.lab-test`. */
  dir: string
  /** 0 for the user's lab, 1 for the test lab: separate ports and addresses so both can run. */
  slot: number
}

/**
 * Every address and port of a lab, derived from its slot so that two labs never collide.
 * Ports: base + 20·region + {0 pg, 1 grey-pg, 2 grey-cql, 3 admin, 4 raft, 5 redis};
 * relays: base + 100 + 30·from + 10·to + service offset; Cassandra nodes own 127.<20+slot>.1.x.
 */
export function labPlan(options: LabPlanOptions): LabPlan {
  const portBase = 15400 + options.slot * 1000
  const octet = 20 + options.slot
  const regions = LAB_REGIONS.map((name, index): RegionPlan => {
    const p = portBase + index * 20
    return {
      name,
      index,
      pgRole: PG_ROLES[name],
      pg: { host: LOOPBACK, port: p },
      grey: {
        pg: { host: LOOPBACK, port: p + 1 },
        cql: { host: LOOPBACK, port: p + 2 },
        admin: { host: LOOPBACK, port: p + 3 },
        raft: { host: LOOPBACK, port: p + 4 },
      },
      redis: { host: LOOPBACK, port: p + 5 },
      cassandra: {
        listen: { host: `127.${octet}.1.${index + 1}`, port: 9042 },
        broadcastHost: `127.${octet}.2.${index + 1}`,
        storagePort: 7000,
      },
    }
  })
  return {
    dir: resolve(options.dir),
    slot: options.slot,
    portBase,
    regions,
    wanControl: { host: LOOPBACK, port: portBase + 99 },
    pgUser: 'grey',
    pgPassword: 'grey-lab-password',
    pgDatabase: 'app',
    replicationUser: 'replicator',
    replicationPassword: 'replicator-lab-password',
    adminToken: 'grey-lab-admin-token',
    raftSecret: 'grey-lab-raft-shared-secret',
  }
}

export function regionPlan(plan: LabPlan, name: string): RegionPlan {
  const region = plan.regions.find((r) => r.name === name)
  if (!region) throw new Error(`unknown region "${name}"; the lab has ${LAB_REGIONS.join(', ')}`)
  return region
}

/** Where `service` of region `to` is reached from region `from`: direct when local, else its relay. */
export function reachFrom(plan: LabPlan, from: string, to: string, service: RelayedService): Endpoint {
  const target = regionPlan(plan, to)
  if (from === to) return serviceEndpoint(target, service)
  const source = regionPlan(plan, from)
  return { host: LOOPBACK, port: relayPort(plan, source.index, target.index, service) }
}

export function serviceEndpoint(region: RegionPlan, service: RelayedService): Endpoint {
  switch (service) {
    case 'pg':
      return region.pg
    case 'cql':
      return region.cassandra.listen
    case 'raft':
      return region.grey.raft
    case 'redis':
      return region.redis
  }
}

function relayPort(plan: LabPlan, from: number, to: number, service: RelayedService): number {
  return plan.portBase + 100 + from * 30 + to * 10 + SERVICE_OFFSET[service]
}

export const labPath = (plan: LabPlan, ...parts: string[]): string => join(plan.dir, ...parts)
