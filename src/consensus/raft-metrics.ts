// The Raft metrics of the seed card, registered on the process's registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export interface RaftMetrics {
  /** grey_raft_term */
  readonly term: Gauge
  /** grey_raft_leader_changes_total: each time this member learns of a new leader. */
  readonly leaderChanges: Counter
  /** grey_raft_is_leader: 1 while this member leads, else 0 (sum over members: 1 when the group has a leader). */
  readonly isLeader: Gauge
  /** grey_raft_commit_index */
  readonly commitIndex: Gauge
  /** grey_raft_append_latency_seconds: writing and fsyncing the entries of one Ready to the log file. */
  readonly appendSeconds: Histogram
}

export function createRaftMetrics(registry: Registry): RaftMetrics {
  return {
    term: new Gauge({ name: 'grey_raft_term', help: 'Current Raft term of this member.', registers: [registry] }),
    leaderChanges: new Counter({
      name: 'grey_raft_leader_changes_total',
      help: 'Times this member learned of a new Raft leader.',
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: 'grey_raft_is_leader',
      help: '1 while this member is the Raft leader, else 0.',
      registers: [registry],
    }),
    commitIndex: new Gauge({
      name: 'grey_raft_commit_index',
      help: 'Highest Raft log index known to be committed.',
      registers: [registry],
    }),
    appendSeconds: new Histogram({
      name: 'grey_raft_append_latency_seconds',
      help: 'Time to append a batch of Raft entries to the log file and fsync it.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  }
}
