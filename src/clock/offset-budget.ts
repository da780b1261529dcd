/**
 * ARCHITECTURE §6: a node leaves the Raft voter set when its clock offset to most peers exceeds
 * 80 % of max_offset. Offsets are signed (peer minus local) and cover measured peers only.
 */
export function exceedsOffsetBudget(offsetsMs: readonly number[], maxOffsetMs: number): boolean {
  let overBudget = 0
  for (const offsetMs of offsetsMs) {
    if (Math.abs(offsetMs) > 0.8 * maxOffsetMs) overBudget++
  }
  return overBudget * 2 > offsetsMs.length
}
