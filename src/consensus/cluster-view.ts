// What a proxy routes by: the config, overridden by whatever the Raft log has decided since (cluster-state.ts).
import type { Config, RegionRole, RoutingRule } from '../config/config-schema.js'
import type { RegionMode } from './cluster-command.js'
import type { ClusterStateData, PgPrimary } from './cluster-state.js'

export interface ClusterView {
  readonly name: string
  readonly primaryRegion: string
  readonly regions: Readonly<Record<string, { readonly role: RegionRole; readonly mode: RegionMode }>>
  /** Epoch 0 is the configured primary, before any failover was decided. */
  readonly pgPrimary: PgPrimary
  /** Version 0 is the configured rules. */
  readonly rules: { readonly version: number; readonly rules: readonly RoutingRule[] }
}

/** The effective cluster; `state` null when this Grey runs without Raft. */
export function clusterView(config: Config, state: ClusterStateData | null): ClusterView {
  const { cluster } = config
  const primaryRegion = state?.primaryRegion ?? cluster.primary_region
  const regions = Object.fromEntries(
    Object.keys(cluster.regions).map((name) => [
      name,
      { role: name === primaryRegion ? ('primary' as const) : ('secondary' as const), mode: state?.regionModes[name] ?? 'normal' },
    ]),
  )
  const configuredPg = Object.keys(cluster.regions).find((name) => cluster.regions[name]?.databases.postgres?.role === 'primary')
  return {
    name: cluster.name,
    primaryRegion,
    regions,
    pgPrimary: state?.pgPrimaries[cluster.name] ?? { region: configuredPg ?? cluster.primary_region, epoch: 0 },
    rules: state?.rules ?? { version: 0, rules: config.routing.rules },
  }
}

/**
 * The view a proxy routes by, read per decision: recomputed only when the applied state changes (each applied
 * entry yields a new state object), so routing costs a reference comparison.
 */
export function clusterViewSource(config: Config, state: () => ClusterStateData | null): () => ClusterView {
  let seen: ClusterStateData | null | undefined
  let view: ClusterView | undefined
  return () => {
    const current = state()
    if (view === undefined || current !== seen) {
      view = clusterView(config, current)
      seen = current
    }
    return view
  }
}
