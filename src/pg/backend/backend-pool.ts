import type { Logger } from 'pino'
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
  private total = 0
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

  get active(): number {
    return this.total - this.idle.length
  }

  get size(): number {
    return this.total
  }

  async acquire(): Promise<BackendConnection> {
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (!conn.isClosed) return conn
      this.total--
    }
    if (this.total < this.options.maxConnections) return this.open()
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

  /** Back to the pool: only a connection that is idle (ReadyForQuery 'I') and unbroken. */
  release(conn: BackendConnection): void {
    conn.onFrame = null
    conn.onChunkEnd = null
    if (conn.isClosed) return this.forget()
    const waiter = this.waiters.shift()
    if (waiter) {
      clearTimeout(waiter.timer)
      waiter.resolve(conn)
      return
    }
    this.idle.push(conn)
  }

  /** A connection in an unknown state (died, or left mid-protocol): closed and replaced on demand. */
  discard(conn: BackendConnection): void {
    conn.onFrame = null
    conn.close(null)
    this.forget()
  }

  close(): void {
    for (const conn of this.idle.splice(0)) conn.terminate()
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer)
      waiter.reject(new BackendError('grey: shutting down', '57P01'))
    }
  }

  private forget(): void {
    this.total--
    const waiter = this.waiters.shift()
    if (waiter) {
      clearTimeout(waiter.timer)
      this.open().then(waiter.resolve, waiter.reject)
    }
  }

  private async open(): Promise<BackendConnection> {
    this.total++
    try {
      const conn = await BackendConnection.connect(this.node, this.credentials, {
        timeoutMs: this.options.connectTimeoutMs,
        applicationName: this.options.applicationName,
      })
      this.parameters ??= new Map(conn.parameters)
      conn.onClose = (err) => {
        const at = this.idle.indexOf(conn)
        if (at >= 0) {
          this.idle.splice(at, 1)
          this.total--
        }
        if (err) this.log.warn({ err, node: this.node.region }, 'backend connection failed')
      }
      return conn
    } catch (err) {
      this.total--
      this.unhealthyUntil = Date.now() + UNHEALTHY_FOR_MS
      throw err
    }
  }
}
