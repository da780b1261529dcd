import { serialize } from 'pg-protocol/dist/serializer'
import type { HlcTimestamp } from '../clock/hlc.js'
import { BackendConnection, type BackendCredentials, type BackendNode } from '../pg/backend/backend-connection.js'
import { BackendMessageType } from '../pg/protocol/backend-message-type.js'
import { commandCompleteTag, FrameAssembler, parseNoticeFields, type BackendFrame } from '../pg/protocol/backend-scanner.js'
import { paramValue, type PgQueuedWrite, type QueuedWriteBase } from './queued-write.js'
import { CREATE_APPLIED_TABLE, markerIsNew, replayFailure, replayPrelude } from './replay-plan.js'
import type { ReplayOutcome, ReplaySession, WriteReplayer } from './write-replayer.js'

/** What a PostgreSQL session queues; the queue adds the id, the HLC stamp and the time. */
export type PgQueueInput = Omit<PgQueuedWrite, keyof QueuedWriteBase | 'protocol'>

export interface PgReplayOptions {
  /** Each replay step must answer within this, else the connection is dropped and the replay retried later. */
  readonly statementTimeoutMs: number
  /** The PostgreSQL primary the cluster view names now. */
  readonly primary: () => BackendNode
  readonly credentials: BackendCredentials
}

type Exchange = { tags: string[]; error: { code: string | null; message: string } | null }

/** Replays PostgreSQL writes to the primary, each in a transaction of its own that records its id: exactly once. */
export class PgWriteReplayer implements WriteReplayer<PgQueuedWrite, PgQueueInput> {
  readonly protocol = 'pg'

  constructor(private readonly o: PgReplayOptions) {}

  entry(base: QueuedWriteBase, _stamp: HlcTimestamp, input: PgQueueInput): PgQueuedWrite {
    return { ...base, protocol: 'pg', ...input }
  }

  target(): string {
    return `PostgreSQL primary ${this.o.primary().region}`
  }

  async open(): Promise<ReplaySession<PgQueuedWrite>> {
    const conn = await BackendConnection.connect(this.o.primary(), this.o.credentials, {
      timeoutMs: this.o.statementTimeoutMs,
      applicationName: 'grey partition queue',
    })
    try {
      const created = await this.exchange(conn, serialize.query(CREATE_APPLIED_TABLE))
      if (created.error) throw new Error(created.error.message)
    } catch (error) {
      conn.terminate()
      throw error
    }
    return { replay: (write) => this.replayOne(conn, write), close: () => conn.terminate() }
  }

  /** Replays one write in a transaction of its own; a lost connection throws (the pass stops). */
  private async replayOne(conn: BackendConnection, write: PgQueuedWrite): Promise<ReplayOutcome> {
    const prelude = await this.exchange(conn, serialize.query(replayPrelude(write)))
    let failure = prelude.error
    const isNew = failure === null && markerIsNew(prelude.tags[prelude.tags.length - 1])
    if (failure === null && isNew) {
      const statement =
        write.mode === 'simple'
          ? serialize.query(write.sql)
          : Buffer.concat([
              serialize.parse({ text: write.sql, types: [...write.paramTypes] }),
              serialize.bind({ values: write.params.map(paramValue) }),
              serialize.execute(),
              serialize.sync(),
            ])
      failure = (await this.exchange(conn, statement)).error
    }
    const end = await this.exchange(conn, serialize.query(failure === null ? 'COMMIT' : 'ROLLBACK'))
    // COMMIT itself can fail (a deferred constraint): that is the write's failure too.
    failure ??= end.error
    if (failure === null) return isNew ? 'replayed' : 'duplicate'
    if (replayFailure(failure.code) === 'transient') return { transient: failure.message }
    return { permanent: `${failure.code}: ${failure.message}` }
  }

  /** Sends `bytes` and collects the command tags and the first error up to ReadyForQuery; a lost connection throws. */
  private exchange(conn: BackendConnection, bytes: Buffer): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      if (conn.isClosed) return reject(new Error('the connection to the primary is closed'))
      const tags: string[] = []
      let error: Exchange['error'] = null
      const assembler = new FrameAssembler()
      const timer = setTimeout(() => conn.close(new Error(`no answer within ${this.o.statementTimeoutMs} ms`)), this.o.statementTimeoutMs)
      conn.onFrame = (piece: BackendFrame) => {
        if (piece.type === BackendMessageType.ReadyForQuery) {
          if (!piece.tail) return
          clearTimeout(timer)
          conn.onFrame = null
          conn.onClose = null
          return resolve({ tags, error })
        }
        if (piece.type !== BackendMessageType.CommandComplete && piece.type !== BackendMessageType.ErrorResponse) return
        const frame = assembler.push(piece)
        if (!frame) return
        if (frame.type === BackendMessageType.CommandComplete) tags.push(commandCompleteTag(frame))
        else if (error === null) {
          const f = parseNoticeFields(frame)
          error = { code: f.code ?? null, message: f.message ?? 'unknown error' }
        }
      }
      conn.onClose = (err) => {
        clearTimeout(timer)
        conn.onFrame = null
        reject(err ?? new Error('the connection to the primary closed'))
      }
      conn.write(bytes)
    })
  }
}
