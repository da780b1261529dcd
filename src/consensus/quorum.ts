// Majority arithmetic over the voters of one configuration (no joint consensus: changes are single-server).
import type { NodeId } from './raft-message.js'

export type VoteOutcome = 'won' | 'lost' | 'pending'

export function majorityOf(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1
}

/** The largest value that a majority of voters have reached (a missing voter counts as 0). */
export function majorityValue(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0
  const values = voters.map(valueOf).sort((a, b) => b - a)
  return values[majorityOf(voters.length) - 1] as number
}

/** Won once a majority granted, lost once a majority can no longer grant. */
export function tallyVotes(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0
  let rejected = 0
  for (const id of voters) {
    const vote = votes.get(id)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  const needed = majorityOf(voters.length)
  if (granted >= needed) return 'won'
  return voters.length - rejected < needed ? 'lost' : 'pending'
}
