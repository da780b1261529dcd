/**
 * A bounded map that forgets the least recently used entry first. A Map iterates in insertion order, so
 * re-inserting on every hit keeps the oldest entry at the front.
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>()
  /** Lookups that found an entry, and those that did not: for a hit-ratio metric. */
  hits = 0
  misses = 0

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`LruCache needs at least one entry, got ${maxEntries}`)
  }

  get size(): number {
    return this.#entries.size
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key)
    if (value === undefined) {
      this.misses++
      return undefined
    }
    this.hits++
    this.#entries.delete(key)
    this.#entries.set(key, value)
    return value
  }

  set(key: K, value: V): void {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as K)
  }

  clear(): void {
    this.#entries.clear()
    this.hits = 0
    this.misses = 0
  }
}
