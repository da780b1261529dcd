// The Raft core numbers its nodes; the config names them ("grey-us-east"). A node's number is a 32-bit FNV-1a hash
// of its name, so every Grey derives the same number from the name alone, for voters from the config and for
// learners added later, without a registry. Two names with one hash are refused where members are known.
import type { NodeId } from './raft-message.js'

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193

/** FNV-1a over the UTF-8 name, moved into [1, 2^32 - 1] (0 is not a node id). */
export function raftNodeId(name: string): NodeId {
  let hash = FNV_OFFSET
  for (const byte of Buffer.from(name, 'utf8')) hash = Math.imul(hash ^ byte, FNV_PRIME) >>> 0
  return hash === 0 ? 0xffffffff : hash
}

/** The first two names that map to one node id, or null. */
export function nodeIdCollision(names: Iterable<string>): readonly [string, string] | null {
  const byId = new Map<NodeId, string>()
  for (const name of names) {
    const id = raftNodeId(name)
    const other = byId.get(id)
    if (other !== undefined && other !== name) return [other, name]
    byId.set(id, name)
  }
  return null
}
