// Single-server membership changes (Raft thesis §4.1): one node added, promoted or removed per change, so that the
// old and the new majority always overlap and no joint consensus is needed.
import type { ClusterConfig, NodeId } from './raft-message.js'

export type ConfChangeKind = 'add-voter' | 'add-learner' | 'promote-learner' | 'remove-node'

export interface ConfChange {
  readonly kind: ConfChangeKind
  readonly nodeId: NodeId
}

const KIND_CODES: readonly ConfChangeKind[] = ['add-voter', 'add-learner', 'promote-learner', 'remove-node']
const ENCODED_LENGTH = 5

/** One kind byte and the node id as uint32 big-endian: what a conf-change entry carries as its data. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  assertNodeId(change.nodeId)
  const bytes = new Uint8Array(ENCODED_LENGTH)
  bytes[0] = KIND_CODES.indexOf(change.kind)
  new DataView(bytes.buffer).setUint32(1, change.nodeId)
  return bytes
}

/** The change an entry's data encodes; throws on bytes that encodeConfChange cannot have written. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const kind = data.length === ENCODED_LENGTH ? KIND_CODES[data[0] ?? -1] : undefined
  if (kind === undefined) throw new RangeError(`raft: malformed conf-change entry (${data.length} bytes)`)
  const nodeId = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1)
  assertNodeId(nodeId)
  return { kind, nodeId }
}

/** Why `change` cannot apply to `config`, or null when it can. */
export function confChangeProblem(config: ClusterConfig, change: ConfChange): string | null {
  const isVoter = config.voters.includes(change.nodeId)
  const isLearner = config.learners.includes(change.nodeId)
  switch (change.kind) {
    case 'add-voter':
    case 'add-learner':
      return isVoter || isLearner ? `node ${change.nodeId} is already a ${isVoter ? 'voter' : 'learner'}` : null
    case 'promote-learner':
      return isLearner ? null : `node ${change.nodeId} is not a learner`
    case 'remove-node':
      if (!isVoter && !isLearner) return `node ${change.nodeId} is not a member`
      return isVoter && config.voters.length === 1 ? `node ${change.nodeId} is the last voter` : null
  }
}

/** The configuration after `change`; an invalid change (see confChangeProblem) leaves it as it was. */
export function applyConfChange(config: ClusterConfig, change: ConfChange): ClusterConfig {
  if (confChangeProblem(config, change) !== null) return config
  const id = change.nodeId
  const voters = config.voters.filter((v) => v !== id)
  const learners = config.learners.filter((l) => l !== id)
  if (change.kind === 'add-voter' || change.kind === 'promote-learner') voters.push(id)
  if (change.kind === 'add-learner') learners.push(id)
  return normalizeConfig({ voters, learners })
}

/** Sorted, duplicate-free lists; a node listed as both voter and learner is a voter. */
export function normalizeConfig(config: ClusterConfig): ClusterConfig {
  for (const id of [...config.voters, ...config.learners]) assertNodeId(id)
  const voters = [...new Set(config.voters)].sort((a, b) => a - b)
  const learners = [...new Set(config.learners)].filter((id) => !voters.includes(id)).sort((a, b) => a - b)
  return { voters, learners }
}

export function assertNodeId(id: NodeId): void {
  if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) throw new RangeError(`raft: node ids are integers in [1, 2^32), got ${id}`)
}
