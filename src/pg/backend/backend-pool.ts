import type { Logger } from 'pino'
import { serialize } from 'pg-protocol/dist/serializer'
import { BackendMessageType } from '../protocol/backend-message-type.js'
import { readyForQueryStatus } from '../protocol/backend-scanner.js'
import { BackendConnection, BackendError, type BackendCredentials, type BackendNode } from './backend-connection.js'

export interface BackendPoolOptions {
  /** Most server connections to this node; further acquirers queue. */
  maxConnections: number
  acquireTimeoutMs: number
  connectTimeoutMs: number
  applicationName: string
}

interface Waiter {
  resolve(conn: BackendConnection): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

/** After a failed connect, the node counts as unhealthy for this long (reads go elsewhere). */
const UNHEALTHY_FOR_MS = 2000

/** Server connections to one PostgreSQL node: idle ones are reused, at most `maxConnections` exist. */
export class BackendPool {
  private readonly idle: BackendConnection[] = []
  private readonly waiters: Waiter[] = []
  /** Every open connection of this pool, idle or lent out; a connection leaves it exactly once. */
  private readonly members = new Set<BackendConnection>()
  /** After close(): connections that come back are ended, not kept. */
  private closed = false
  /** Connections being opened: they count against the limit. */
  private opening = 0
  private unhealthyUntil = 0
  /** ParameterStatus values of this node, from its first connection: what clients are told at start-up. */
  parameters: ReadonlyMap<string, string> | null = null

  constructor(
    readonly node: BackendNode,
    private readonly credentials: BackendCredentials,
    private readonly options: BackendPoolOptions,
    private readonly log: Logger,
  ) {}

  get healthy(): boolean {
    return Date.now() >= this.unhealthyUntil
  }

  /** Connections lent to clients (or being opened or reset for them). */
  get active(): number {
    return this.size - this.idle.length
  }

  get size(): number {
    return this.members.size + this.opening
  }

  get max(): number {
    return this.options.maxConnections
  }

  async acquire(): Promise<BackendConnection> {
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (!conn.isClosed) return conn
      this.members.delete(conn)
    }
    if (this.size < this.options.maxConnections) return this.open()
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1)
          reject(
            new BackendError(
              `grey: no connection to PostgreSQL ${this.node.region} became free within ${this.options.acquireTimeoutMs} ms (pool of ${this.options.maxConnections}); raise proxy.pool.max_connections_per_node or shorten transactions`,
              '53300',
            ),
          )
        }, this.options.acquireTimeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  /**
   * Opens connections, in the background, until `count` are open (idle or lent): a failover candidate's pool is kept
   * warm so that, once it is promoted, the first writes need no new login across the WAN
   * (a connection to a standby takes writes once the standby is promoted). Failures only mark the node unhealthy.
   */
  warm(count: number): void {
    const missing = Math.min(count, this.options.maxConnections) - this.size
    for (let i = 0; i < missing && !this.closed; i++) {
      this.open().then(
        (conn) => this.release(conn),
        () => undefined,
      )
    }
  }

  /** Back to the pool: only a connection that is idle (ReadyForQuery 'I') and unbroken. */
  release(conn: BackendConnection): void {
    conn.onFrame = null
    conn.onChunkEnd = null
    if (this.closed) conn.terminate()
    if (conn.isClosed) return this.forget(conn)
    const waiter = this.waiters.shift()
    if (waiter) {
      clearTimeout(waiter.timer)
      waiter.resolve(conn)
      return
    }
    this.idle.push(conn)
  }

  /**
   * A connection its client left with session state (pinned, or kept by session pooling) but idle:
   * DISCARD ALL (as pgbouncer's server_reset_query), then back to the pool; anything odd closes it.
   */
  releaseAfterReset(conn: BackendConnection, readiesAhead = 0): void {
    if (this.closed) conn.terminate()
    if (conn.isClosed) return this.forget(conn)
    conn.prepared.clear()
    conn.appliedSettings = ''
    conn.onClose = () => this.forget(conn)
    // `readiesAhead`: replies still due to queries sent before (a session's trailer) end in that many ReadyForQuery.
    let skip = readiesAhead
    conn.onFrame = (frame) => {
      if (frame.type !== BackendMessageType.ReadyForQuery || !frame.head || !frame.tail) return
      if (skip > 0) {
        skip--
        return
      }
      conn.onClose = null
      if (readyForQueryStatus(frame) === 'I') this.release(conn)
      else this.discard(conn)
    }
    conn.write(serialize.query('DISCARD ALL'))
  }

  /** A connection in an unknown state (died, or left mid-protocol): closed and replaced on demand. */
  discard(conn: BackendConnection): void {
    conn.onFrame = null
    conn.close(null)
    this.forget(conn)
  }

  /**
   * Shutting down (the sessions are closed already): every connection ends now, lent out or idle, one that comes
   * back later is ended too, and no new one opens.
   */
  close(): void {
    this.closed = true
    this.idle.splice(0)
    for (const conn of [...this.members]) conn.terminate()
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer)
      waiter.reject(new BackendError('grey: shutting down', '57P01'))
    }
  }

  private forget(conn: BackendConnection): void {
    if (!this.members.delete(conn)) return
    const at = this.idle.indexOf(conn)
    if (at >= 0) this.idle.splice(at, 1)
    const waiter = this.waiters.shift()
    if (waiter) {
      clearTimeout(waiter.timer)
      this.open().then(waiter.resolve, waiter.reject)
    }
  }

  private async open(): Promise<BackendConnection> {
    this.opening++
    try {
      const conn = await BackendConnection.connect(this.node, this.credentials, {
        timeoutMs: this.options.connectTimeoutMs,
        applicationName: this.options.applicationName,
      })
      if (this.closed) {
        conn.terminate()
        throw new BackendError('grey: shutting down', '57P01')
      }
      this.members.add(conn)
      this.parameters ??= new Map(conn.parameters)
      conn.onClose = (err) => {
        // Died while idle in the pool: forget it now rather than at the next acquire.
        if (this.idle.includes(conn)) this.forget(conn)
        if (err) this.log.warn({ err, node: this.node.region }, 'backend connection failed')
      }
      return conn
    } catch (err) {
      this.unhealthyUntil = Date.now() + UNHEALTHY_FOR_MS
      throw err
    } finally {
      this.opening--
    }
  }
}
