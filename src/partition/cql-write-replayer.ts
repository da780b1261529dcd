import { toCassandraMicros } from '../clock/cassandra-micros.js'
import type { HlcTimestamp } from '../clock/hlc.js'
import { CassandraConnection, CassandraError, type CassandraCredentials, type CassandraNode } from '../cql/backend/cassandra-connection.js'
import { cqlReplayFailure, cqlReplayRequest } from './cql-replay-plan.js'
import type { CqlQueuedWrite, QueuedWriteBase } from './queued-write.js'
import type { ReplayOutcome, ReplaySession, WriteReplayer } from './write-replayer.js'

/** What a CQL session queues; the queue adds the id, the HLC stamp (and the write timestamp from it) and the time. */
export type CqlQueueInput = Omit<CqlQueuedWrite, keyof QueuedWriteBase | 'protocol' | 'timestampMicros'>

export interface CqlReplayOptions {
  /** The node a write goes to now and the consistency it is sent at: routed as the client's request would be. */
  readonly route: (write: CqlQueuedWrite) => { readonly node: CassandraNode; readonly consistency: number }
  readonly credentials: CassandraCredentials
  /** Each replayed write must be answered within this, else its connection is closed and the pass retried later. */
  readonly timeoutMs: number
}

/**
 * Replays CQL writes through Grey's own protocol code on connections of their own (one per node and keyspace, for the
 * pass): the client's value bytes go back unchanged, so no value is decoded and re-encoded on the way.
 */
export class CqlWriteReplayer implements WriteReplayer<CqlQueuedWrite, CqlQueueInput> {
  readonly protocol = 'cql'

  constructor(private readonly o: CqlReplayOptions) {}

  entry(base: QueuedWriteBase, stamp: HlcTimestamp, input: CqlQueueInput): CqlQueuedWrite {
    return { ...base, protocol: 'cql', ...input, timestampMicros: toCassandraMicros(stamp).toString() }
  }

  target(): string {
    return 'Cassandra'
  }

  async open(): Promise<ReplaySession<CqlQueuedWrite>> {
    const connections = new Map<string, Promise<CassandraConnection>>()
    const connection = (node: CassandraNode, keyspace: string): Promise<CassandraConnection> => {
      const key = `${node.region}/${keyspace}`
      let open = connections.get(key)
      if (open === undefined) {
        open = CassandraConnection.connect(node, this.o.credentials, { version: 4, keyspace, timeoutMs: this.o.timeoutMs })
        connections.set(key, open)
        // A connection that could not open is tried again by the next write that needs it.
        open.catch(() => connections.delete(key))
      }
      return open
    }
    return {
      replay: (write) => this.replayOne(write, connection),
      close: () => {
        for (const open of connections.values()) void open.then((c) => c.close(null)).catch(() => undefined)
      },
    }
  }

  private async replayOne(
    write: CqlQueuedWrite,
    connection: (node: CassandraNode, keyspace: string) => Promise<CassandraConnection>,
  ): Promise<ReplayOutcome> {
    const { node, consistency } = this.o.route(write)
    let timer: NodeJS.Timeout | undefined
    try {
      const conn = await connection(node, write.keyspace)
      timer = setTimeout(
        () =>
          conn.close(new CassandraError(`grey: Cassandra ${node.region} did not answer a replayed write within ${this.o.timeoutMs} ms`)),
        this.o.timeoutMs,
      )
      const answer = await conn.call(cqlReplayRequest(write, consistency))
      if (answer.type !== 'ERROR') return 'replayed'
      const reason = `Cassandra ${node.region} error 0x${answer.code.toString(16).padStart(4, '0')}: ${answer.message}`
      return cqlReplayFailure(answer.code) === 'permanent' ? { permanent: reason } : { transient: reason }
    } catch (error) {
      // Opening the connection in a keyspace that does not exist fails with Invalid: the write cannot succeed either.
      const code = error instanceof CassandraError ? error.code : null
      const reason = (error as Error).message
      return code !== null && cqlReplayFailure(code) === 'permanent' ? { permanent: reason } : { transient: reason }
    } finally {
      clearTimeout(timer)
    }
  }
}
