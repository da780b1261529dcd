import { serialize } from 'pg-protocol/dist/serializer'
import { BackendMessageType } from '../protocol/backend-message-type.js'
import { dataRowFirstColumn, FrameAssembler, parseNoticeFields, type BackendFrame } from '../protocol/backend-scanner.js'
import type { BackendConnection } from './backend-connection.js'

/** What one of Grey's own simple queries returned: the first column of each row, or the server's error. */
export interface BackendQueryResult {
  readonly rows: readonly (string | null)[]
  readonly error: string | null
}

/**
 * Runs a simple query of Grey's own on a server connection no client is using (a session's replica check), and
 * resolves at its ReadyForQuery; rejects when the connection closes first.
 */
export function queryBackend(conn: BackendConnection, sql: string): Promise<BackendQueryResult> {
  return new Promise((resolve, reject) => {
    // A connection that closed between queries (its server died) would never answer, nor close again.
    if (conn.isClosed) return reject(new Error('grey: the server connection is closed'))
    const rows: (string | null)[] = []
    let error: string | null = null
    const assembler = new FrameAssembler()
    conn.onFrame = (piece: BackendFrame) => {
      if (piece.type !== BackendMessageType.DataRow && piece.type !== BackendMessageType.ErrorResponse) {
        if (piece.type === BackendMessageType.ReadyForQuery && piece.tail) {
          conn.onFrame = null
          conn.onClose = null
          resolve({ rows, error })
        }
        return
      }
      const frame = assembler.push(piece)
      if (!frame) return
      if (frame.type === BackendMessageType.DataRow) rows.push(dataRowFirstColumn(frame))
      else error = parseNoticeFields(frame).message ?? 'unknown error'
    }
    conn.onClose = (err) => {
      conn.onFrame = null
      reject(err ?? new Error('grey: the server connection closed during a query of Grey’s own'))
    }
    conn.write(serialize.query(sql))
  })
}
