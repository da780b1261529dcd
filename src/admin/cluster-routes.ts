// The admin API behind `grey cluster …`: each call is checked against this Grey's config, then proposed through
// the Raft leader (from any member), and answered once this member has applied it.
import { z } from 'zod'
import { RoutingRulesSchema, type Config } from '../config/config-schema.js'
import { REGION_MODES, type ClusterCommand } from '../consensus/cluster-command.js'
import { clusterView, type ClusterView } from '../consensus/cluster-view.js'
import { raftNodeId } from '../consensus/raft-node-id.js'
import type { RaftServer } from '../consensus/raft-server.js'
import type { SubmitOutcome } from '../consensus/submit-outcome.js'
import type { SwitchoverOutcome } from '../failover/failover-service.js'
import type { AdminReply, AdminRoute } from './admin-server.js'

const name = z.string().min(1)
const address = z.string().regex(/^\S+:\d{1,5}$/, { error: 'a host:port like "10.0.0.7:7400"' })

/** /status's `cluster` section: the configured cluster overridden by the replicated state. */
export function clusterStatus(config: Config, raft: RaftServer | null): Record<string, unknown> {
  return viewJson(clusterView(config, raft?.state ?? null))
}

/** The planned switchover, when this Grey runs failover (src/failover/failover-service.ts). */
export interface Switchover {
  switchover(to: string): Promise<SwitchoverOutcome>
}

export function clusterRoutes(config: Config, raft: RaftServer | null, failover: Switchover | null = null): AdminRoute[] {
  const regions = Object.keys(config.cluster.regions)
  const region = z.string().refine((r) => regions.includes(r), { error: `one of ${regions.join(', ')}` })
  const post = <T extends z.ZodType>(
    path: string,
    schema: T,
    act: (raft: RaftServer, body: z.output<T>) => Promise<AdminReply>,
  ): AdminRoute => ({
    method: 'POST',
    path,
    handle: async (body) => {
      if (raft === null) return withoutRaft()
      const parsed = schema.safeParse(body)
      if (!parsed.success) return { status: 400, body: { error: `grey: ${path}: ${problems(parsed.error)}` } }
      return act(raft, parsed.data)
    },
  })
  const propose = async (raft: RaftServer, command: ClusterCommand): Promise<AdminReply> =>
    answer(config, raft, await raft.propose(command))
  return [
    {
      method: 'GET',
      path: '/cluster/status',
      handle: async () => ({ status: 200, body: { raft: raft?.status() ?? null, cluster: clusterStatus(config, raft) } }),
    },
    post('/cluster/primary-region', z.strictObject({ region }), (raft, b) =>
      propose(raft, { type: 'set-primary-region', region: b.region }),
    ),
    post('/cluster/region-mode', z.strictObject({ region, mode: z.enum(REGION_MODES) }), (raft, b) =>
      propose(raft, { type: 'set-region-mode', region: b.region, mode: b.mode }),
    ),
    post('/cluster/pg-primary', z.strictObject({ region, expected_epoch: z.int().min(0).optional() }), (raft, b) =>
      propose(raft, { type: 'set-pg-primary', cluster: config.cluster.name, region: b.region, expectedEpoch: b.expected_epoch ?? null }),
    ),
    post('/cluster/failover', z.strictObject({ to: region }), async (_raft, b) => {
      if (failover === null) {
        return { status: 409, body: { error: 'grey: this Grey runs no failover (it has no PostgreSQL in cluster.regions)' } }
      }
      const outcome = await failover.switchover(b.to)
      if (!outcome.ok) return { status: outcome.status, body: { error: outcome.error } }
      return { status: 200, body: { ok: true, switchover: outcome, cluster: clusterStatus(config, raft) } }
    }),
    post('/cluster/rules', z.strictObject({ rules: RoutingRulesSchema }), (raft, b) =>
      propose(raft, { type: 'apply-rules', rules: b.rules }),
    ),
    post('/cluster/learners', z.strictObject({ id: name, address, region: region.optional() }), async (raft, b) =>
      answer(config, raft, await raft.addLearner(b.id, b.address, b.region ?? null)),
    ),
    post('/cluster/promote', z.strictObject({ id: name }), (raft, b) => changeMember(config, raft, b.id, 'promote-learner')),
    post('/cluster/remove', z.strictObject({ id: name }), (raft, b) => changeMember(config, raft, b.id, 'remove-node')),
  ]
}

async function changeMember(config: Config, raft: RaftServer, id: string, kind: 'promote-learner' | 'remove-node'): Promise<AdminReply> {
  const members = raft.status().members
  if (!members.some((m) => m.id === id)) {
    return { status: 404, body: { error: `grey: no raft member named "${id}"; the members are ${members.map((m) => m.id).join(', ')}` } }
  }
  return answer(config, raft, await raft.changeMembership({ kind, nodeId: raftNodeId(id) }))
}

function answer(config: Config, raft: RaftServer, outcome: SubmitOutcome): AdminReply {
  switch (outcome.status) {
    case 'applied':
      return outcome.error === null
        ? { status: 200, body: { ok: true, index: outcome.index, cluster: clusterStatus(config, raft) } }
        : { status: 409, body: { error: outcome.error } }
    case 'refused':
      return { status: 409, body: { error: outcome.error } }
    case 'unknown':
      return { status: 504, body: { error: outcome.error } }
    case 'unavailable':
      return { status: 503, body: { error: outcome.error } }
    case 'not-leader':
      return { status: 503, body: { error: 'grey: no raft leader answered; retry' } }
  }
}

function withoutRaft(): AdminReply {
  return {
    status: 409,
    body: { error: 'grey: this Grey runs without Raft (consensus.raft.peers is empty), so there is no cluster state to change' },
  }
}

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`).join('; ')
}

function viewJson(view: ClusterView): Record<string, unknown> {
  return {
    name: view.name,
    primary_region: view.primaryRegion,
    regions: view.regions,
    pg_primary: view.pgPrimary,
    rules_version: view.rules.version,
    rules: view.rules.rules,
  }
}
