// The decisions the Raft log carries: each command entry is one of these, as JSON. Only decisions are logged, never
// traffic or health samples. Commands are checked against the config where they are proposed (regions exist, rules
// parse); once in the log they apply the same way on every member, whatever its own config says.
import { z } from 'zod'
import { CONSISTENCY_LEVELS, type RoutingRule } from '../config/config-schema.js'

export const REGION_MODES = ['normal', 'read-only', 'quarantined'] as const
export type RegionMode = (typeof REGION_MODES)[number]

export type ClusterCommand =
  | { readonly type: 'set-primary-region'; readonly region: string }
  | { readonly type: 'set-region-mode'; readonly region: string; readonly mode: RegionMode }
  /**
   * A new PostgreSQL primary for `cluster`: the failover epoch goes up by one; refused unless it is `expectedEpoch`.
   * `predecessorDown`: the leader's failover, after Greys in a majority of regions saw the old primary down.
   */
  | {
      readonly type: 'set-pg-primary'
      readonly cluster: string
      readonly region: string
      readonly expectedEpoch: number | null
      readonly predecessorDown?: boolean
    }
  /** Replaces the routing rules (config format, durations in ms); the rules version goes up by one. */
  | { readonly type: 'apply-rules'; readonly rules: readonly RoutingRule[] }
  /** Where a member added later (a learner) listens, so that the others can reach it. */
  | { readonly type: 'register-member'; readonly id: string; readonly address: string; readonly region: string | null }

const text = z.string().min(1)
/** A rule as the config schema outputs it: durations already in milliseconds. */
const storedRule = z.strictObject({
  match: z.strictObject({
    table: text.optional(),
    statement: text.optional(),
    user: text.optional(),
    application_name: text.optional(),
    keyspace: text.optional(),
  }),
  consistency: z.enum(CONSISTENCY_LEVELS),
  max_staleness: z.number().min(0).optional(),
})
export const StoredRulesSchema = z.array(storedRule)

const ClusterCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('set-primary-region'), region: text }),
  z.strictObject({ type: z.literal('set-region-mode'), region: text, mode: z.enum(REGION_MODES) }),
  z.strictObject({
    type: z.literal('set-pg-primary'),
    cluster: text,
    region: text,
    expectedEpoch: z.int().min(0).nullable(),
    predecessorDown: z.boolean().optional(),
  }),
  z.strictObject({ type: z.literal('apply-rules'), rules: StoredRulesSchema }),
  z.strictObject({ type: z.literal('register-member'), id: text, address: text, region: text.nullable() }),
])

export function encodeClusterCommand(command: ClusterCommand): Uint8Array {
  return Buffer.from(JSON.stringify(command))
}

/** The command in a log entry, or why the entry holds none (it is then applied as a no-op on every member). */
export function decodeClusterCommand(data: Uint8Array): ClusterCommand | Error {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'))
  } catch {
    return new Error('grey: a raft command that is not JSON')
  }
  const parsed = ClusterCommandSchema.safeParse(json)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  return new Error(`grey: a raft command of unknown shape (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`)
}
