import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Endpoint } from '../lab-plan.js'
import { DelayedPipe } from './delayed-pipe.js'
import { CASSANDRA_HANDSHAKE_PEEK_BYTES } from './cassandra-handshake-sender.js'

export interface RelaySpec {
  name: string
  listen: Endpoint
  target: Endpoint
  /** Region of the connecting side, or null to learn it from the first bytes (Cassandra's handshake). */
  from: string | null
  to: string
}

/** What a relay asks of the emulator: delays, cuts, and who a connecting address belongs to. */
export interface WanLinks {
  delayMs(from: string, to: string): number
  isCut(from: string, to: string): boolean
  /** The calling region named in a connection's first bytes, if they say. */
  regionOfFirstBytes(firstBytes: Buffer): string | undefined
}

/** How long a relay without a fixed source waits for the bytes that name the caller. */
const FIRST_BYTES_TIMEOUT_MS = 5000

interface RelayedConnection {
  from: string
  pipes: DelayedPipe[]
  resumeOnHeal: (() => void) | null
  client: Socket
}

/** One cross-region path: a TCP listener that forwards to its target through two DelayedPipes. */
export class WanRelay {
  private server: Server | null = null
  private readonly connections = new Set<RelayedConnection>()

  constructor(
    readonly spec: RelaySpec,
    private readonly links: WanLinks,
    private readonly log: Logger,
  ) {}

  get connectionCount(): number {
    return this.connections.size
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true }, (client) => this.accept(client))
      server.once('error', reject)
      server.listen(this.spec.listen.port, this.spec.listen.host, () => {
        server.off('error', reject)
        server.on('error', (err) => this.log.error({ err, relay: this.spec.name }, 'relay listener failed'))
        this.server = server
        resolve()
      })
    })
  }

  /** Called when partitions change: held connections proceed, held pipes flow again. */
  linksChanged(): void {
    for (const conn of this.connections) {
      if (this.links.isCut(conn.from, this.spec.to)) continue
      if (conn.resumeOnHeal) {
        const resume = conn.resumeOnHeal
        conn.resumeOnHeal = null
        resume()
      }
      for (const pipe of conn.pipes) pipe.pump()
    }
  }

  close(): Promise<void> {
    for (const conn of this.connections) {
      for (const pipe of conn.pipes) pipe.close()
      conn.client.destroy()
    }
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined)
    if (this.spec.from !== null) return this.route(client, this.spec.from)
    let first = Buffer.alloc(0)
    const decide = (): void => {
      clearTimeout(timer)
      client.off('data', onData)
      client.pause()
      if (first.length > 0) client.unshift(first)
      const from = this.links.regionOfFirstBytes(first)
      if (from === undefined) this.log.warn({ relay: this.spec.name }, 'the caller did not name its region; relaying without delay')
      this.route(client, from ?? this.spec.to)
    }
    const onData = (chunk: Buffer): void => {
      first = Buffer.concat([first, chunk])
      if (first.length >= CASSANDRA_HANDSHAKE_PEEK_BYTES) decide()
    }
    const timer = setTimeout(decide, FIRST_BYTES_TIMEOUT_MS)
    client.on('data', onData)
    client.resume()
  }

  private route(client: Socket, from: string): void {
    const conn: RelayedConnection = { from, pipes: [], resumeOnHeal: null, client }
    this.connections.add(conn)
    client.on('close', () => this.connections.delete(conn))
    // A new connection across a cut link hangs (no SYN-ACK from the far side), as in a real partition.
    const open = (): void => {
      const delay = this.links.delayMs(from, this.spec.to)
      setTimeout(() => this.connectUpstream(conn), delay)
    }
    if (this.links.isCut(from, this.spec.to)) conn.resumeOnHeal = open
    else open()
  }

  private connectUpstream(conn: RelayedConnection): void {
    const { client, from } = conn
    if (client.destroyed) return
    const upstream = createConnection({ host: this.spec.target.host, port: this.spec.target.port })
    upstream.setNoDelay(true)
    client.setNoDelay(true)
    upstream.on('error', (err) => {
      this.log.debug({ err, relay: this.spec.name }, 'upstream connection failed')
    })
    const to = this.spec.to
    const outbound = { delayMs: () => this.links.delayMs(from, to), isCut: () => this.links.isCut(from, to) }
    const inbound = { delayMs: () => this.links.delayMs(to, from), isCut: () => this.links.isCut(to, from) }
    conn.pipes.push(new DelayedPipe(client, upstream, outbound), new DelayedPipe(upstream, client, inbound))
    client.resume()
  }
}
