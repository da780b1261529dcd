// TCP between Raft peers. Each node listens for its peers' connections and opens one connection to each peer it
// sends to, so a pair of nodes talks over two connections, one per direction. A connection opens with a Hello
// frame naming the caller; every frame is authenticated (raft-frame.ts) and numbered, and carries the sender's HLC
// stamp, which the receiver merges into its clock. A frame that fails the HMAC or the order closes the connection
// and is logged (once a minute per remote host). Outbound frames wait in a bounded queue while a peer is
// unreachable, the oldest dropped first (Raft retransmits what matters); reconnects back off from 50 ms to 1 s.
import { randomBytes } from 'node:crypto'
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { HlcRemoteAheadError, type HybridLogicalClock } from '../clock/hlc.js'
import { formatHostPort, hostPort } from '../config/host-port.js'
import { encodeFrame, FrameDecoder } from './raft-frame.js'
import { raftNodeId } from './raft-node-id.js'
import { decodeWireFrame, encodeWireFrame, type DeliveredPayload, type Hello, type PeerPayload, type WireFrame } from './raft-wire.js'
import type { NodeId } from './raft-message.js'
import { monotonicMs } from '../clock/monotonic-ms.js'

export interface RaftTransportOptions {
  readonly self: { readonly name: string; readonly id: NodeId }
  /** Where to listen; port 0 picks a free one (see `address`). */
  readonly listen: { readonly host: string; readonly port: number }
  readonly secret: string
  readonly clock: HybridLogicalClock
  readonly log: Logger
  /** Where a peer listens, or null when it is unknown (its frames are dropped). */
  addressOf(id: NodeId): string | null
  /** An authenticated payload from peer `from`. */
  receive(from: NodeId, payload: DeliveredPayload): void
  /** Frames queued per peer while it is unreachable. Default 1024. */
  readonly queueLimit?: number
  readonly backoffMs?: { readonly initial: number; readonly max: number }
  /** Refusals and clock warnings are logged at most this often per remote host or peer. Default 60 s. */
  readonly warnIntervalMs?: number
  /** A connected link that sent nothing for this long sends a ping. Default 1 s. */
  readonly keepaliveMs?: number
}

/** A Hello older than this (or this far in the future) is refused: with the connection id, it stops replays. */
const HELLO_MAX_AGE_MS = 60_000
/** Bytes a connection may hold unsent before it is taken as stalled, dropped and reopened. */
const STALLED_BYTES = 8 * 1024 * 1024
const WARN_INTERVAL_MS = 60_000

export class RaftTransport {
  readonly #options: RaftTransportOptions
  readonly #links = new Map<NodeId, PeerLink>()
  readonly #inbound = new Set<Socket>()
  readonly #lastContact = new Map<NodeId, number>()
  /** Connection ids seen in Hellos, with when they may be forgotten. */
  readonly #seenConnections = new Map<string, number>()
  readonly #warnedAt = new Map<string, { at: number; suppressed: number }>()
  #server: Server | null = null
  #keepalive: NodeJS.Timeout | null = null
  #address: string
  #closed = false

  constructor(options: RaftTransportOptions) {
    this.#options = options
    this.#address = formatHostPort(options.listen)
  }

  /** The address it listens on (with the port the kernel picked, when listen asked for port 0). */
  get address(): string {
    return this.#address
  }

  async start(): Promise<void> {
    const { host, port } = this.#options.listen
    const server = createServer((socket) => this.#accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.#options.log.error({ err }, 'raft listener failed'))
    this.#server = server
    const keepaliveMs = this.#options.keepaliveMs ?? 1000
    this.#keepalive = setInterval(() => {
      for (const link of this.#links.values()) link.keepalive(keepaliveMs)
    }, keepaliveMs)
    this.#address = formatHostPort({ host, port: (server.address() as AddressInfo).port })
  }

  send(to: NodeId, payload: PeerPayload): void {
    this.#link(to)?.enqueue(payload)
  }

  /** Opens the connection to `to` now, so that the first message (a vote request, say) does not wait for it. */
  connect(to: NodeId): void {
    this.#link(to)?.open()
  }

  #link(to: NodeId): PeerLink | null {
    if (this.#closed) return null
    let link = this.#links.get(to)
    if (link === undefined) {
      link = new PeerLink(to, this.#options, this)
      this.#links.set(to, link)
    }
    return link
  }

  /** When the last authentic frame from `id` came, on the monotonic clock (monotonicMs), or null. */
  lastContact(id: NodeId): number | null {
    return this.#lastContact.get(id) ?? null
  }

  /** Frames dropped so far because a peer's queue was full. */
  droppedFrames(): number {
    let dropped = 0
    for (const link of this.#links.values()) dropped += link.dropped
    return dropped
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#keepalive !== null) clearInterval(this.#keepalive)
    for (const link of this.#links.values()) link.close()
    for (const socket of this.#inbound) socket.destroy()
    const server = this.#server
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Logs at most once per warnIntervalMs and key, counting what it held back. */
  warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = monotonicMs()
    const last = this.#warnedAt.get(key)
    if (last !== undefined && now - last.at < (this.#options.warnIntervalMs ?? WARN_INTERVAL_MS)) {
      last.suppressed++
      return
    }
    this.#warnedAt.set(key, { at: now, suppressed: 0 })
    this.#options.log.warn({ ...fields, suppressedSinceLastWarning: last?.suppressed ?? 0 }, message)
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy()
      return
    }
    this.#inbound.add(socket)
    socket.setNoDelay(true)
    const remote = socket.remoteAddress ?? 'unknown'
    const decoder = new FrameDecoder(this.#options.secret)
    let peer: { name: string; id: NodeId } | null = null
    let lastSeq = 0
    const refuse = (reason: string): void => {
      this.warn(`inbound ${remote}`, { remote, peer: peer?.name ?? null, reason }, 'raft connection refused')
      socket.destroy()
    }
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = decoder.push(chunk)
      for (const bytes of frames) {
        const frame = decodeWireFrame(bytes)
        if (frame instanceof Error) return refuse(frame.message)
        if (frame.seq !== lastSeq + 1) return refuse(`frame ${frame.seq} after ${lastSeq} (replayed or reordered)`)
        lastSeq = frame.seq
        if (peer === null) {
          const hello = this.#checkHello(frame.body)
          if (typeof hello === 'string') return refuse(hello)
          peer = { name: hello.from, id: hello.nodeId }
        } else if (frame.body.kind === 'hello') {
          return refuse('a second hello')
        }
        this.#lastContact.set(peer.id, monotonicMs())
        this.#mergeClock(frame, peer.name)
        if (frame.body.kind !== 'hello' && frame.body.kind !== 'ping') this.#options.receive(peer.id, frame.body)
      }
      if (error !== null) refuse(error)
    })
    socket.on('error', () => undefined)
    socket.on('close', () => this.#inbound.delete(socket))
  }

  /** The caller's Hello, or why it is refused. */
  #checkHello(hello: WireFrame['body']): Hello | string {
    if (hello.kind !== 'hello') return `a ${hello.kind} frame before the hello`
    if (hello.nodeId !== raftNodeId(hello.from)) return `node "${hello.from}" calls itself ${hello.nodeId}, not ${raftNodeId(hello.from)}`
    const now = Date.now()
    if (Math.abs(now - hello.sentAtMs) > HELLO_MAX_AGE_MS) {
      return `a hello sent ${Math.round((now - hello.sentAtMs) / 1000)} s from now (a replay, or clocks far apart)`
    }
    for (const [id, expiry] of this.#seenConnections) if (expiry < now) this.#seenConnections.delete(id)
    if (this.#seenConnections.has(hello.connection)) return 'a connection id seen before (a replay)'
    this.#seenConnections.set(hello.connection, now + 2 * HELLO_MAX_AGE_MS)
    return hello
  }

  #mergeClock(frame: WireFrame, peer: string): void {
    const merged = this.#options.clock.update(frame.hlc)
    if (merged instanceof HlcRemoteAheadError) this.warn(`hlc ${peer}`, { peer, aheadMs: merged.aheadMs }, merged.message)
  }
}

/** The outbound connection to one peer, its queue and its reconnects. */
class PeerLink {
  dropped = 0
  readonly #id: NodeId
  readonly #options: RaftTransportOptions
  readonly #transport: RaftTransport
  readonly #queueLimit: number
  readonly #backoff: { readonly initial: number; readonly max: number }
  #queue: PeerPayload[] = []
  #socket: Socket | null = null
  #connected = false
  #seq = 0
  #retryMs: number
  #openedAt = 0
  #lastWriteAt = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false

  constructor(id: NodeId, options: RaftTransportOptions, transport: RaftTransport) {
    this.#id = id
    this.#options = options
    this.#transport = transport
    this.#queueLimit = options.queueLimit ?? 1024
    this.#backoff = options.backoffMs ?? { initial: 50, max: 1000 }
    this.#retryMs = this.#backoff.initial
  }

  enqueue(payload: PeerPayload): void {
    this.#queue.push(payload)
    if (this.#queue.length > this.#queueLimit) {
      this.#queue.shift()
      this.dropped++
    }
    if (this.#connected) this.#flush()
    else this.open()
  }

  open(): void {
    if (this.#socket === null && this.#timer === null) this.#connect()
  }

  /** Sends a ping when connected and idle for `idleMs`. */
  keepalive(idleMs: number): void {
    if (this.#connected && monotonicMs() - this.#lastWriteAt >= idleMs) this.#write([{ kind: 'ping' }])
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#socket?.destroy()
  }

  #connect(): void {
    this.#timer = null
    if (this.#closed) return
    const address = this.#options.addressOf(this.#id)
    if (address === null) {
      // Nobody to call: drop what waits, and try again when something new is sent.
      this.dropped += this.#queue.length
      this.#queue = []
      return
    }
    const { host, port } = hostPort(address)
    const socket = createConnection({ host, port })
    this.#socket = socket
    this.#openedAt = monotonicMs()
    socket.setNoDelay(true)
    socket.on('connect', () => {
      this.#connected = true
      this.#seq = 0
      const { self } = this.#options
      const connection = randomBytes(12).toString('hex')
      this.#write([{ kind: 'hello', from: self.name, nodeId: self.id, connection, sentAtMs: Date.now() }])
      this.#flush()
    })
    // Nothing is read on this connection; a peer that answers is broken and is not listened to.
    socket.on('data', () => undefined)
    socket.on('error', (err) => this.#options.log.debug({ err, peer: this.#id, address }, 'raft connection failed'))
    socket.on('close', () => {
      this.#connected = false
      this.#socket = null
      if (this.#closed) return
      // A connection that lived a while was a healthy one: start the backoff over.
      if (monotonicMs() - this.#openedAt >= this.#backoff.max) this.#retryMs = this.#backoff.initial
      this.#timer = setTimeout(() => this.#connect(), this.#retryMs)
      this.#retryMs = Math.min(this.#retryMs * 2, this.#backoff.max)
    })
  }

  #flush(): void {
    const queue = this.#queue
    this.#queue = []
    this.#write(queue)
  }

  #write(bodies: readonly WireFrame['body'][]): void {
    const socket = this.#socket as Socket
    const { secret, clock } = this.#options
    this.#lastWriteAt = monotonicMs()
    socket.cork()
    for (const body of bodies) socket.write(encodeFrame(secret, encodeWireFrame({ seq: ++this.#seq, hlc: clock.now(), body })))
    socket.uncork()
    if (socket.writableLength > STALLED_BYTES) {
      this.#transport.warn(`stalled ${this.#id}`, { peer: this.#id }, 'raft connection stalled; reopening it')
      socket.destroy()
    }
  }
}
