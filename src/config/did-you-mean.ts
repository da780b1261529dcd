/** Levenshtein distance, with "-" and "_" treated as the same character (YAML keys use "_", region names "-"). */
function editDistance(a: string, b: string): number {
  const left = a.toLowerCase().replaceAll('-', '_')
  const right = b.toLowerCase().replaceAll('-', '_')
  let previous = Array.from({ length: right.length + 1 }, (_, j) => j)
  for (let i = 1; i <= left.length; i++) {
    const current = [i]
    for (let j = 1; j <= right.length; j++) {
      const substitution = previous[j - 1]! + (left[i - 1] === right[j - 1] ? 0 : 1)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution))
    }
    previous = current
  }
  return previous[right.length]!
}

/**
 * The candidate closest to `word`, when it is close enough to be a plausible typo: at most two
 * edits, or a third of the word's length for long words.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3))
  let best: string | undefined
  let bestDistance = limit + 1
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}
