import type { ClusterView } from '../consensus/cluster-view.js'

/**
 * The seam for protocol front ends (PostgreSQL, CQL): the process shell starts them, asks them to
 * stop accepting on SIGTERM and waits for their sessions to finish, up to the drain timeout.
 */
export interface FrontEnd {
  readonly name: string
  /** host:port it listens on, once started. */
  readonly address: string | null
  /**
   * `cluster`: the effective cluster (config overridden by the Raft log), read per routing decision. `cutOff`: why this
   * Grey is cut off from the Raft majority, or null (always null without Raft); writes are refused while it says so.
   */
  start(cluster: () => ClusterView, cutOff?: () => string | null): Promise<void>
  stopAccepting(): Promise<void>
  /** Open client sessions; those inside a transaction are waited for when draining. */
  activeSessions(): number
  /** Sections it adds to /status (the PostgreSQL front end: `replication`). */
  status?(): Record<string, unknown>
  /** Close whatever is left, telling clients why. */
  closeAll(reason: string): Promise<void>
}
