// The replicated state machine: what the Raft log has decided about the cluster. Every member applies the same
// entries in the same order and so holds the same state; proxies read it locally. A field that no entry has set
// yet is absent (null or missing key), meaning "as configured": cluster-view.ts merges the two.
import { z } from 'zod'
import { applyConfChange, normalizeConfig, type ConfChange } from './conf-change.js'
import { decodeClusterCommand, REGION_MODES, StoredRulesSchema, type ClusterCommand, type RegionMode } from './cluster-command.js'
import { raftNodeId } from './raft-node-id.js'
import type { RoutingRule } from '../config/config-schema.js'
import type { ClusterConfig, NodeId } from './raft-message.js'

export interface PgPrimary {
  readonly region: string
  /** Goes up by one with every new primary; a proxy never routes writes to an older epoch's primary. */
  readonly epoch: number
  /**
   * True when it replaced a primary that Greys in a majority of regions saw down (the leader's failover, not a planned
   * switchover): every Grey then gives up at once on statements still held by that one. Absent otherwise.
   */
  readonly predecessorDown?: true
}

export interface RegisteredMember {
  readonly nodeId: NodeId
  readonly address: string
  readonly region: string | null
}

export interface ClusterStateData {
  readonly primaryRegion: string | null
  readonly regionModes: Readonly<Record<string, RegionMode>>
  /** By cluster name. */
  readonly pgPrimaries: Readonly<Record<string, PgPrimary>>
  readonly rules: { readonly version: number; readonly rules: readonly RoutingRule[] } | null
  /** Members added at run time, by name; the bootstrap voters come from each member's config. */
  readonly members: Readonly<Record<string, RegisteredMember>>
  /** The Raft membership, mirrored from the conf-change entries. */
  readonly membership: ClusterConfig
  /** Index of the last entry applied. */
  readonly appliedIndex: number
}

export type ApplyResult = { readonly ok: true } | { readonly ok: false; readonly error: string }

const SNAPSHOT_FORMAT = 1
const nodeId = z.int().min(1).max(0xffffffff)
const snapshotSchema = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  primaryRegion: z.string().nullable(),
  regionModes: z.record(z.string(), z.enum(REGION_MODES)),
  pgPrimaries: z.record(
    z.string(),
    z.strictObject({ region: z.string(), epoch: z.int().min(0), predecessorDown: z.literal(true).optional() }),
  ),
  rules: z.strictObject({ version: z.int().min(0), rules: StoredRulesSchema }).nullable(),
  members: z.record(z.string(), z.strictObject({ nodeId, address: z.string(), region: z.string().nullable() })),
  membership: z.strictObject({ voters: z.array(nodeId), learners: z.array(nodeId) }),
  appliedIndex: z.int().min(0),
})

const OK: ApplyResult = Object.freeze({ ok: true })

export class ClusterState {
  #data: ClusterStateData

  /** The state before any entry: `bootstrap` is the membership the Raft core starts from. */
  constructor(bootstrap: ClusterConfig) {
    this.#data = {
      primaryRegion: null,
      regionModes: {},
      pgPrimaries: {},
      rules: null,
      members: {},
      membership: normalizeConfig(bootstrap),
      appliedIndex: 0,
    }
  }

  get data(): ClusterStateData {
    return this.#data
  }

  /** Applies the command entry at `index`. A refusal changes nothing but the applied index, on every member alike. */
  apply(index: number, data: Uint8Array): ApplyResult {
    const command = decodeClusterCommand(data)
    const result = command instanceof Error ? { ok: false as const, error: command.message } : this.#apply(command)
    this.#data = { ...this.#data, appliedIndex: index }
    return result
  }

  /** Mirrors a conf-change entry; a removed member's registration goes with it. */
  applyConfChange(index: number, change: ConfChange): void {
    const members =
      change.kind === 'remove-node'
        ? Object.fromEntries(Object.entries(this.#data.members).filter(([, m]) => m.nodeId !== change.nodeId))
        : this.#data.members
    this.#data = { ...this.#data, membership: applyConfChange(this.#data.membership, change), members, appliedIndex: index }
  }

  /** A no-op entry (a new leader's first) still moves the applied index. */
  skip(index: number): void {
    this.#data = { ...this.#data, appliedIndex: index }
  }

  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ format: SNAPSHOT_FORMAT, ...this.#data }))
  }

  /** Replaces the state with a snapshot's; throws on bytes that snapshot() did not write. */
  restore(bytes: Uint8Array): void {
    const { format: _format, ...data } = snapshotSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')))
    this.#data = data
  }

  #apply(command: ClusterCommand): ApplyResult {
    const d = this.#data
    switch (command.type) {
      case 'set-primary-region':
        this.#data = { ...d, primaryRegion: command.region }
        return OK
      case 'set-region-mode':
        this.#data = { ...d, regionModes: { ...d.regionModes, [command.region]: command.mode } }
        return OK
      case 'set-pg-primary': {
        const epoch = d.pgPrimaries[command.cluster]?.epoch ?? 0
        if (command.expectedEpoch !== null && command.expectedEpoch !== epoch) {
          return {
            ok: false,
            error: `grey: the failover epoch of ${command.cluster} is ${epoch}, not ${command.expectedEpoch}; nothing changed`,
          }
        }
        const primary: PgPrimary = {
          region: command.region,
          epoch: epoch + 1,
          ...(command.predecessorDown === true ? { predecessorDown: true } : {}),
        }
        this.#data = { ...d, pgPrimaries: { ...d.pgPrimaries, [command.cluster]: primary } }
        return OK
      }
      case 'apply-rules':
        this.#data = { ...d, rules: { version: (d.rules?.version ?? 0) + 1, rules: command.rules } }
        return OK
      case 'register-member': {
        const id = raftNodeId(command.id)
        const other = Object.keys(d.members).find((name) => name !== command.id && d.members[name]?.nodeId === id)
        if (other !== undefined) return { ok: false, error: `grey: member ${command.id} has the node id of ${other}; choose another name` }
        const member: RegisteredMember = { nodeId: id, address: command.address, region: command.region }
        this.#data = { ...d, members: { ...d.members, [command.id]: member } }
        return OK
      }
    }
  }
}
