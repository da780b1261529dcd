import type { BackendCredentials, BackendNode } from './backend-connection.js'
import { AdminConnection, queryOnce } from './query-once.js'

export interface PrimaryConfirmerOptions {
  readonly credentials: BackendCredentials
  /** Connections kept open to each candidate: questions in flight at once, so a far Grey asks every few ms. */
  readonly perCandidate: number
  /** How long opening a kept connection may take (a login across the WAN). */
  readonly connectTimeoutMs: number
  /** How long one question may take. */
  readonly timeoutMs: number
  /** Called when `region`'s node answers that it is out of recovery, for the epoch it was asked about. */
  readonly outOfRecovery: (region: string, epoch: number, kept: boolean) => void
}

interface Candidate {
  /** Kept connections not asking anything now. */
  readonly idle: AdminConnection[]
  /** Kept connections, idle or asking, and those being opened. */
  kept: number
  /** The questions to this candidate not answered yet, over kept connections or a fresh one. */
  readonly asking: Set<Promise<void>>
  /** The question over a fresh connection, when none is kept: one at a time. */
  fresh: boolean
}

const SQL = 'SELECT pg_is_in_recovery()::text'

/**
 * Asks a new primary whether it has left recovery, after a failover, for the writes held until it has. Keeps
 * `perCandidate` connections open to each failover candidate, so that a question costs one round trip instead of a
 * login across the WAN, and so that several questions can be in flight: a Grey a 150 ms round trip away that asks every
 * 25 ms sees the promotion about 25 ms after the answer could first say so, not up to a round trip and a poll later.
 * Without a kept connection (none opened yet, or all broke) it asks over a fresh one, one question at a time.
 */
export class PrimaryConfirmer {
  readonly #candidates = new Map<string, Candidate>()
  #closed = false

  constructor(private readonly o: PrimaryConfirmerOptions) {}

  /** Opens connections to `node` until `perCandidate` are kept (a failed open is tried again at the next call). */
  keep(node: BackendNode): void {
    const c = this.#candidate(node)
    for (; c.kept < this.o.perCandidate; c.kept++) {
      AdminConnection.open(node, this.o.credentials, { timeoutMs: this.o.connectTimeoutMs, applicationName: 'grey failover' }).then(
        (admin) => (this.#closed ? admin.close() : c.idle.push(admin)),
        () => c.kept--,
      )
    }
  }

  /** Asks `node` once, in the background, unless every kept connection to it is asking already. */
  ask(node: BackendNode, epoch: number): void {
    const c = this.#candidate(node)
    const admin = c.idle.pop()
    if (admin) {
      this.#track(
        c,
        admin.query(SQL, this.o.timeoutMs).then(
          ([inRecovery]) => {
            if (this.#closed) return admin.close()
            c.idle.push(admin)
            if (inRecovery === 'false') this.o.outOfRecovery(node.region, epoch, true)
          },
          () => {
            // Broken or slow: dropped; keep() replaces it at the next warm-up.
            admin.close()
            c.kept--
          },
        ),
      )
      return
    }
    if (c.kept > 0 || c.fresh) return
    c.fresh = true
    this.#track(
      c,
      queryOnce(node, this.o.credentials, SQL, { timeoutMs: this.o.timeoutMs, applicationName: 'grey failover' })
        .then(([inRecovery]) => {
          if (inRecovery === 'false') this.o.outOfRecovery(node.region, epoch, false)
        })
        .catch(() => undefined) // not reachable yet: asked again by the next poll
        .finally(() => (c.fresh = false)),
    )
  }

  /**
   * Settles once every question to `region` asked so far has its answer (or timed out), so that a write whose hold ends
   * while the answer is on its way (a fresh login across the WAN takes several round trips) still gets it.
   */
  async answered(region: string): Promise<void> {
    await Promise.all([...(this.#candidates.get(region)?.asking ?? [])])
  }

  #track(c: Candidate, question: Promise<void>): void {
    c.asking.add(question)
    void question.finally(() => c.asking.delete(question))
  }

  close(): void {
    this.#closed = true
    for (const c of this.#candidates.values()) for (const admin of c.idle.splice(0)) admin.close()
  }

  #candidate(node: BackendNode): Candidate {
    let c = this.#candidates.get(node.region)
    if (c === undefined) {
      c = { idle: [], kept: 0, asking: new Set(), fresh: false }
      this.#candidates.set(node.region, c)
    }
    return c
  }
}
