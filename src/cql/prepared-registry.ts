import type { CqlType } from './protocol/cql-type.js'

/** What Grey remembers of a prepared statement: enough to re-prepare it on any node and to route its executions. */
export interface PreparedStatement {
  query: string
  /** The keyspace of the connection it was prepared on (its id depends on it). */
  keyspace: string | null
  /** The types of its bind markers, from the node's PREPARED answer (to read affinity keys from bound values). */
  variables?: CqlType[]
}

/**
 * Prepared statements by id, shared by every session of a Grey: Cassandra derives the id from the
 * query and keyspace, so one id means one statement everywhere. Bounded: the oldest are forgotten
 * first, and a forgotten id gets UNPREPARED, which drivers answer by preparing again.
 */
export class PreparedStatementRegistry {
  private readonly statements = new Map<string, PreparedStatement>()

  constructor(private readonly capacity = 100_000) {}

  get size(): number {
    return this.statements.size
  }

  remember(id: Buffer, statement: PreparedStatement): void {
    const key = id.toString('hex')
    this.statements.delete(key)
    this.statements.set(key, statement)
    if (this.statements.size > this.capacity) {
      const oldest = this.statements.keys().next().value
      if (oldest !== undefined) this.statements.delete(oldest)
    }
  }

  find(id: Buffer): PreparedStatement | undefined {
    return this.statements.get(id.toString('hex'))
  }
}
