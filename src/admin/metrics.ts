import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

export type Protocol = 'pg' | 'cql'
/** Why a backend let a client down; a bounded set. */
export type BackendErrorKind = 'connect' | 'lost' | 'pool_timeout' | 'statement'

/** What a connection pool reports when /metrics is scraped. */
export interface PoolGauge {
  protocol: Protocol
  node: string
  active(): number
  max(): number
}

export interface GreyMetrics {
  registry: Registry
  /** grey_query_routing_total: one per routing decision, with its reason. */
  routing: Counter<'protocol' | 'kind' | 'target' | 'region' | 'reason'>
  /** grey_statement_duration_seconds: from the client's statement to the backend's last reply. */
  statementSeconds: Histogram<'protocol' | 'kind' | 'target'>
  backendErrors: Counter<'protocol' | 'region' | 'kind'>
  /** grey_db_writes_total: write statements that completed, by protocol and the region that served them. */
  dbWrites: Counter<'protocol' | 'region'>
  /**
   * grey_conflicts_total: writes that lost a conflict with a concurrent write, by protocol and kind — PostgreSQL
   * serialization failures (40001) and deadlocks (40P01), Cassandra lightweight transactions not applied.
   */
  conflicts: Counter<'protocol' | 'kind'>
  /** grey_unconfirmed_commits_total: PostgreSQL commits whose wait for the synchronous standby was cancelled. */
  unconfirmedCommits: Counter<'region'>
  /** grey_stale_reads_total: reads served with the stale flag (a WARNING notice / a CQL warning), by serving region. */
  staleReads: Counter<'protocol' | 'region'>
  /** Registers a pool for grey_connection_pool_active / _max. */
  watchPool(pool: PoolGauge): void
  /** Registers a Cassandra DC for grey_cassandra_latency_seconds / grey_cassandra_up. */
  watchCassandra(dc: CassandraGauge): void
}

/** What a Cassandra DC's probe reports when /metrics is scraped. */
export interface CassandraGauge {
  region: string
  datacenter: string
  latencyMs(): number | null
  healthy(): boolean
}

/** One registry per process; metric names follow the seed card, labels stay bounded. */
export function createMetrics(info: { region: string; instance: string; version: string }): GreyMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'grey_' })
  const build = new Gauge({
    name: 'grey_info',
    help: 'Constant 1, labelled with this Grey instance and its region.',
    labelNames: ['region', 'instance', 'version'],
    registers: [registry],
  })
  build.set(info, 1)
  const pools: PoolGauge[] = []
  const poolGauge = (name: string, help: string, read: (p: PoolGauge) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['protocol', 'node'],
      registers: [registry],
      collect() {
        for (const p of pools) this.set({ protocol: p.protocol, node: p.node }, read(p))
      },
    })
  }
  const dcs: CassandraGauge[] = []
  new Gauge({
    name: 'grey_cassandra_latency_seconds',
    help: "Round trip of the last health probe (OPTIONS) to each Cassandra DC's coordinator, from this Grey.",
    labelNames: ['region', 'datacenter'],
    registers: [registry],
    collect() {
      this.reset()
      for (const dc of dcs) {
        const ms = dc.latencyMs()
        if (ms !== null) this.set({ region: dc.region, datacenter: dc.datacenter }, ms / 1000)
      }
    },
  })
  new Gauge({
    name: 'grey_cassandra_up',
    help: 'Whether each Cassandra DC is taking requests from this Grey (1) or marked down after failures (0).',
    labelNames: ['region', 'datacenter'],
    registers: [registry],
    collect() {
      for (const dc of dcs) this.set({ region: dc.region, datacenter: dc.datacenter }, dc.healthy() ? 1 : 0)
    },
  })
  poolGauge('grey_connection_pool_active', 'Server connections in use by a client, per backend node.', (p) => p.active())
  poolGauge('grey_connection_pool_max', 'Most server connections Grey opens to a backend node.', (p) => p.max())
  return {
    registry,
    routing: new Counter({
      name: 'grey_query_routing_total',
      help: 'Routing decisions, by protocol, kind (read | write), target (primary | replica), region and reason.',
      labelNames: ['protocol', 'kind', 'target', 'region', 'reason'],
      registers: [registry],
    }),
    statementSeconds: new Histogram({
      name: 'grey_statement_duration_seconds',
      help: 'Time from a client statement (or batch up to Sync) leaving Grey to its last reply, by protocol, kind and target.',
      labelNames: ['protocol', 'kind', 'target'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    backendErrors: new Counter({
      name: 'grey_backend_errors_total',
      help: 'Backend failures seen by clients: connect, lost (mid-statement), pool_timeout, statement (an error the server returned).',
      labelNames: ['protocol', 'region', 'kind'],
      registers: [registry],
    }),
    dbWrites: new Counter({
      name: 'grey_db_writes_total',
      help: 'Write statements that completed, by protocol and the region that served them.',
      labelNames: ['protocol', 'region'],
      registers: [registry],
    }),
    conflicts: conflictsCounter(registry),
    unconfirmedCommits: new Counter({
      name: 'grey_unconfirmed_commits_total',
      help: 'PostgreSQL commits acknowledged without the synchronous standby (the wait was cancelled): not durable across a failover.',
      labelNames: ['region'],
      registers: [registry],
    }),
    staleReads: new Counter({
      name: 'grey_stale_reads_total',
      help: 'Reads served with the stale flag: from a replica lagging beyond max_lag_warning, or while the primary is out of reach.',
      labelNames: ['protocol', 'region'],
      registers: [registry],
    }),
    watchPool: (pool) => void pools.push(pool),
    watchCassandra: (dc) => void dcs.push(dc),
  }
}

/** Every protocol and kind is exported from the start at 0, so rates and the conflict-rate alert have a series. */
function conflictsCounter(registry: Registry): Counter<'protocol' | 'kind'> {
  const counter = new Counter({
    name: 'grey_conflicts_total',
    help: 'Writes that lost a conflict with a concurrent write: PostgreSQL serialization failures and deadlocks, Cassandra lightweight transactions not applied.',
    labelNames: ['protocol', 'kind'],
    registers: [registry],
  })
  for (const kind of ['serialization_failure', 'deadlock']) counter.inc({ protocol: 'pg', kind }, 0)
  counter.inc({ protocol: 'cql', kind: 'lwt_not_applied' }, 0)
  return counter
}
