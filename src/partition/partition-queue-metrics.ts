// The partition queue's metrics, registered on the process's registry.
import { Counter, Gauge, type Registry } from 'prom-client'

export type QueueOutcome = 'queued' | 'replayed' | 'duplicate' | 'dead_letter'

export interface PartitionQueueMetrics {
  /** grey_partition_queue_depth{protocol}: writes queued and not replayed yet. */
  readonly depth: Gauge<'protocol'>
  /** grey_partition_queue_writes_total{protocol,outcome}: queued; replayed; duplicate (found replayed already: PostgreSQL's marker table; CQL replays are idempotent, so never); dead_letter. */
  readonly writes: Counter<'protocol' | 'outcome'>
}

/** One set per registry: the PostgreSQL and the CQL front end of one process both count on it. */
const created = new WeakMap<Registry, PartitionQueueMetrics>()

export function createPartitionQueueMetrics(registry: Registry): PartitionQueueMetrics {
  const existing = created.get(registry)
  if (existing !== undefined) return existing
  const depth = new Gauge({
    name: 'grey_partition_queue_depth',
    help: 'Writes this Grey queued durably while cut off from the Raft majority, not replayed yet.',
    labelNames: ['protocol'] as const,
    registers: [registry],
  })
  const writes = new Counter({
    name: 'grey_partition_queue_writes_total',
    help: 'Partition queue writes by outcome: queued, replayed, duplicate (replayed before), dead_letter (failed for good).',
    labelNames: ['protocol', 'outcome'] as const,
    registers: [registry],
  })
  // Exported at 0 from the start, so dashboards and alerts have a series before the first partition.
  for (const protocol of ['pg', 'cql'] as const) {
    depth.set({ protocol }, 0)
    for (const outcome of ['queued', 'replayed', 'duplicate', 'dead_letter'] as const) writes.inc({ protocol, outcome }, 0)
  }
  const metrics = { depth, writes }
  created.set(registry, metrics)
  return metrics
}
