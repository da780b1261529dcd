import type { Logger } from 'pino'
import type { CqlVersion } from '../protocol/frame-header.js'
import { CqlErrorCode } from '../protocol/cql-error-code.js'
import { CassandraConnection, CassandraError, type CassandraCredentials, type CassandraNode } from './cassandra-connection.js'

export interface CassandraPoolOptions {
  /** Connections per (protocol version, keyspace); requests multiplex over them. */
  connectionsPerKeyspace: number
  connectTimeoutMs: number
}

/** After a failed connect or a lost connection, the node counts as down for this long (routing avoids it). */
const DOWN_FOR_MS = 2000
/** Probe round trips kept for the replication window of CQL causality tokens (one a second: the last ten seconds). */
const LATENCY_SAMPLES = 10
/** A probe unanswered this long marks the node down (a partition holds requests rather than refusing them). */
const PROBE_TIMEOUT_MS = 1500
/** How long a failed probe keeps the node down: past the next probe's own timeout, so a dead node stays down. */
const PROBE_DOWN_MS = 3000

/**
 * Connections to one Cassandra node. CQL v4 has no per-request keyspace, so a client's USE picks
 * connections opened with that keyspace; each connection multiplexes many clients' requests.
 */
export class CassandraPool {
  private readonly connections = new Map<string, CassandraConnection[]>()
  private readonly opening = new Map<string, Promise<CassandraConnection>>()
  private downUntil = 0
  private probing = false
  private closed = false

  constructor(
    readonly node: CassandraNode,
    private readonly credentials: CassandraCredentials,
    private readonly options: CassandraPoolOptions,
    private readonly log: Logger,
  ) {}

  get healthy(): boolean {
    return Date.now() >= this.downUntil
  }

  /** Open connections (for grey_connection_pool_active). */
  get size(): number {
    let n = 0
    for (const list of this.connections.values()) n += list.length
    return n
  }

  /** Requests in flight on this node. */
  get inFlight(): number {
    let n = 0
    for (const list of this.connections.values()) for (const c of list) n += c.inFlight
    return n
  }

  /** A connection for `keyspace` (null: none), the least busy one, opening another while under the limit. */
  async acquire(version: CqlVersion, keyspace: string | null): Promise<CassandraConnection> {
    const key = `${version}/${keyspace ?? ''}`
    const list = (this.connections.get(key) ?? []).filter((c) => !c.isClosed)
    this.connections.set(key, list)
    let best: CassandraConnection | undefined
    for (const c of list) if (!best || c.inFlight < best.inFlight) best = c
    if (best && (best.inFlight === 0 || list.length >= this.options.connectionsPerKeyspace)) return best
    const opening = this.opening.get(key)
    if (opening) return best ?? opening
    const open = this.open(version, keyspace, key)
    this.opening.set(key, open)
    try {
      return await open
    } catch (err) {
      if (best) return best
      throw err
    } finally {
      this.opening.delete(key)
    }
  }

  /** The last probe's round trip in ms (OPTIONS → SUPPORTED on a connection of the pool), null before one answered. */
  latencyMs: number | null = null
  private readonly recentLatencies: number[] = []

  /** The slowest of the last LATENCY_SAMPLES probes' round trips, null before one answered. */
  get recentMaxLatencyMs(): number | null {
    return this.recentLatencies.length === 0 ? null : Math.max(...this.recentLatencies)
  }

  /** Why the last probe failed, or null. */
  probeError: string | null = null

  /**
   * One health probe: an OPTIONS round trip on a connection of the pool. Its time is the DC's measured latency
   * (from this Grey, through whatever lies between); a failure marks the node down.
   */
  async probe(): Promise<void> {
    // A probe still waiting (a partitioned node holds the request) is not joined by another.
    if (this.probing) return
    this.probing = true
    let timer: NodeJS.Timeout | undefined
    try {
      const conn = await this.acquire(4, null)
      const t0 = process.hrtime.bigint()
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer to OPTIONS within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS)
      })
      await Promise.race([conn.call({ type: 'OPTIONS' }), timedOut])
      this.latencyMs = Number(process.hrtime.bigint() - t0) / 1e6
      this.recentLatencies.push(this.latencyMs)
      if (this.recentLatencies.length > LATENCY_SAMPLES) this.recentLatencies.shift()
      this.probeError = null
    } catch (err) {
      this.probeError = (err as Error).message
      this.markDown(PROBE_DOWN_MS)
    } finally {
      clearTimeout(timer)
      this.probing = false
    }
  }

  /** Marks the node down after a request found its connection dead. */
  markDown(forMs = DOWN_FOR_MS): void {
    this.downUntil = Math.max(this.downUntil, Date.now() + forMs)
  }

  close(): void {
    this.closed = true
    for (const list of this.connections.values()) for (const c of list) c.close(null)
    this.connections.clear()
  }

  private async open(version: CqlVersion, keyspace: string | null, key: string): Promise<CassandraConnection> {
    try {
      const conn = await CassandraConnection.connect(this.node, this.credentials, {
        version,
        keyspace,
        timeoutMs: this.options.connectTimeoutMs,
      })
      if (this.closed) {
        // The pool was closed while this connection was being opened.
        conn.close(null)
        throw new CassandraError(`grey: shutting down`, CqlErrorCode.Overloaded)
      }
      conn.onClose = (err) => {
        if (err) {
          this.markDown()
          this.log.warn({ node: this.node.region, err: err.message }, 'Cassandra connection lost')
        }
      }
      const list = this.connections.get(key) ?? []
      list.push(conn)
      this.connections.set(key, list)
      return conn
    } catch (err) {
      // A refused keyspace or credentials say nothing about the node's health; a failed connection does.
      if (!(err instanceof CassandraError) || err.code === CqlErrorCode.ServerError) this.markDown()
      throw err
    }
  }
}
