// What a Grey does to the PostgreSQL node of its own region after a failover (ARCHITECTURE §8). Pure.

export type LocalNodeAction =
  | { readonly kind: 'none'; readonly reason: string }
  | { readonly kind: 'repoint'; readonly reason: string }
  | { readonly kind: 'fence'; readonly reason: string }

export interface LocalNodeFacts {
  readonly localRegion: string
  /** The primary the Raft log names, and its failover epoch. */
  readonly primaryRegion: string
  readonly epoch: number
  /** pg_is_in_recovery() of the local node. */
  readonly inRecovery: boolean
  /** The epoch whose primary the local standby was last pointed at by this Grey (-1: never). */
  readonly repointedEpoch: number
  /** The epoch at which this Grey last fenced the local node (-1: never). */
  readonly fencedEpoch: number
}

/**
 * - The node the log names primary: left alone.
 * - Out of recovery but not the primary by the log: an old primary that came back (or never learnt it was replaced).
 *   Fenced once per epoch: it must refuse writes, since no Grey routes to it and nothing it takes would be kept.
 * - A standby after a failover (epoch > 0): pointed at the new primary once per epoch; at epoch 0 the lab or operator
 *   set it up and Grey leaves it.
 */
export function decideLocalNode(f: LocalNodeFacts): LocalNodeAction {
  if (f.primaryRegion === f.localRegion) return { kind: 'none', reason: 'the local node is the primary' }
  if (!f.inRecovery) {
    return f.fencedEpoch === f.epoch
      ? { kind: 'none', reason: 'the old primary is fenced already' }
      : { kind: 'fence', reason: `the local node is out of recovery, but the log names ${f.primaryRegion} the primary (epoch ${f.epoch})` }
  }
  if (f.epoch === 0) return { kind: 'none', reason: 'no failover yet: the standby follows the primary it was set up with' }
  return f.repointedEpoch === f.epoch
    ? { kind: 'none', reason: 'the standby follows the current primary' }
    : { kind: 'repoint', reason: `the primary is now ${f.primaryRegion} (epoch ${f.epoch})` }
}

/**
 * A libpq key/value connection string with `host` and `port` replaced (added when missing), every other keyword kept
 * as written (user, password, application_name, sslmode…). Values with spaces or quotes are quoted as libpq reads
 * them. Throws on a string libpq would not parse (an unterminated quote), naming it.
 */
export function repointConninfo(conninfo: string, host: string, port: number): string {
  const pairs = parseConninfo(conninfo)
  const kept = pairs.filter(([k]) => k !== 'host' && k !== 'port' && k !== 'hostaddr')
  return [...kept, ['host', host] as const, ['port', String(port)] as const].map(([k, v]) => `${k}=${quoteConninfoValue(v)}`).join(' ')
}

export function parseConninfo(conninfo: string): (readonly [string, string])[] {
  const pairs: (readonly [string, string])[] = []
  let i = 0
  const skipSpace = (): void => {
    while (i < conninfo.length && /\s/.test(conninfo[i]!)) i++
  }
  for (skipSpace(); i < conninfo.length; skipSpace()) {
    const eq = conninfo.indexOf('=', i)
    if (eq < 0) throw new Error(`the connection string has "${conninfo.slice(i)}" without "=value"`)
    const key = conninfo.slice(i, eq).trim()
    i = eq + 1
    skipSpace()
    let value = ''
    if (conninfo[i] === "'") {
      for (i++; ; i++) {
        if (i >= conninfo.length) throw new Error(`the connection string's value of ${key} has no closing quote`)
        const c = conninfo[i]!
        if (c === '\\' && i + 1 < conninfo.length) value += conninfo[++i]!
        else if (c === "'") {
          i++
          break
        } else value += c
      }
    } else {
      for (; i < conninfo.length && !/\s/.test(conninfo[i]!); i++) {
        const c = conninfo[i]!
        value += c === '\\' && i + 1 < conninfo.length ? conninfo[++i]! : c
      }
    }
    pairs.push([key, value])
  }
  return pairs
}

function quoteConninfoValue(value: string): string {
  return value !== '' && /^[^\s'\\]+$/.test(value) ? value : `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
}
