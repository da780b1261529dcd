import { BackendConnection, type BackendCredentials, type BackendNode } from './backend-connection.js'
import { queryBackend } from './backend-query.js'

export interface AdminQueryOptions {
  readonly timeoutMs: number
  readonly applicationName: string
}

/**
 * A connection of Grey's own for administrative statements (failover: replay positions, ALTER SYSTEM, pg_promote),
 * run one after another. Each query must answer within `timeoutMs`, else the connection is closed and it throws; a
 * PostgreSQL error throws too. Returns the first column of each row.
 */
export class AdminConnection {
  /** Called when the connection breaks between queries (see onIdleLoss). */
  private idleLoss: (() => void) | null = null

  private constructor(private readonly conn: BackendConnection) {}

  static async open(node: BackendNode, credentials: BackendCredentials, options: AdminQueryOptions): Promise<AdminConnection> {
    return new AdminConnection(await BackendConnection.connect(node, credentials, options))
  }

  async query(sql: string, timeoutMs: number): Promise<readonly (string | null)[]> {
    const timer = setTimeout(() => this.conn.close(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    try {
      const result = await queryBackend(this.conn, sql)
      if (result.error !== null) throw new Error(result.error)
      return result.rows
    } finally {
      clearTimeout(timer)
      // Broken during the query: its rejection said so. Else watched again between queries.
      if (!this.conn.isClosed) this.watchIdle()
    }
  }

  /**
   * Calls `lost` (once) when the server closes the connection or it breaks while no query runs on it: a killed
   * server resets its connections at once, long before the next query would find out. A query that breaks rejects.
   */
  onIdleLoss(lost: () => void): void {
    this.idleLoss = lost
    this.watchIdle()
  }

  private watchIdle(): void {
    if (this.idleLoss === null) return
    if (this.conn.isClosed) return void this.lost()
    this.conn.onClose = () => this.lost()
  }

  private lost(): void {
    const lost = this.idleLoss
    this.idleLoss = null
    lost?.()
  }

  /** Says goodbye (Terminate) and closes; a connection already closed stays so. */
  close(): void {
    this.idleLoss = null
    this.conn.onClose = null
    this.conn.terminate()
  }
}

/** One query on a connection opened and closed here. */
export async function queryOnce(
  node: BackendNode,
  credentials: BackendCredentials,
  sql: string,
  options: AdminQueryOptions,
): Promise<readonly (string | null)[]> {
  const admin = await AdminConnection.open(node, credentials, options)
  try {
    return await admin.query(sql, options.timeoutMs)
  } finally {
    admin.close()
  }
}
