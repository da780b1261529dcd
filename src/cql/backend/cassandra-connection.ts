import { createConnection, type Socket } from 'node:net'
import { CoalescingWriter } from '../coalescing-writer.js'
import { CqlErrorCode } from '../protocol/cql-error-code.js'
import { decodeResponse } from '../protocol/decode-response.js'
import { encodeRequest } from '../protocol/encode-request.js'
import { CqlOpcode, restampStreamId, type CqlVersion, type FrameHeader } from '../protocol/frame-header.js'
import { FrameSplitter } from '../protocol/frame-splitter.js'
import type { RequestMessage } from '../protocol/request-messages.js'
import type { ResponseMessage } from '../protocol/response-messages.js'

export interface CassandraNode {
  /** The Grey region this node serves, and its Cassandra datacenter. */
  region: string
  datacenter: string
  host: string
  port: number
}

export interface CassandraCredentials {
  user?: string | undefined
  password?: string | undefined
}

/** A whole response frame from the server; `frame` is header and body, ready to relay once its stream id is restamped. */
export interface CqlResponseFrame {
  header: FrameHeader
  frame: Buffer
  body: Buffer
}

export class CassandraError extends Error {
  constructor(
    message: string,
    /** The CQL error code to give a client. */
    readonly code: number = CqlErrorCode.ServerError,
  ) {
    super(message)
  }
}

/** v4 spec §2.3: stream ids are signed 16-bit; the negative ones are the server's (events). */
const MAX_STREAMS = 32768
const HEARTBEAT_IDLE_MS = 30_000
const HEARTBEAT_TIMEOUT_MS = 10_000

interface Pending {
  resolve(frame: CqlResponseFrame): void
  reject(err: Error): void
}

/**
 * One connection to a Cassandra node, multiplexed: every request gets a free stream id of this
 * connection, and its response is matched back by that id. Idle connections send OPTIONS as a
 * heartbeat; a connection that stops answering is closed and every pending request fails.
 */
export class CassandraConnection {
  private readonly splitter = new FrameSplitter({ direction: 'response' })
  private readonly pending = new Map<number, Pending>()
  private readonly freeStreams: number[] = []
  private nextStream = 0
  private closed = false
  private lastActivity = Date.now()
  private readonly heartbeat: NodeJS.Timeout
  private readonly out: CoalescingWriter
  /** Server-pushed events (stream -1), for the connection that REGISTERed. */
  onEvent: ((frame: CqlResponseFrame) => void) | null = null
  onClose: ((error: Error | null) => void) | null = null
  /** What the server said in SUPPORTED (CQL_VERSION, …). */
  supported = new Map<string, string[]>()

  private constructor(
    readonly node: CassandraNode,
    readonly version: CqlVersion,
    readonly keyspace: string | null,
    private readonly socket: Socket,
  ) {
    socket.setNoDelay(true)
    this.out = new CoalescingWriter(socket)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.close(err))
    socket.on('close', () =>
      this.close(new CassandraError(`grey: Cassandra ${node.region} (${node.host}:${node.port}) closed the connection`)),
    )
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_IDLE_MS / 3)
    this.heartbeat.unref()
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Requests waiting for their response. */
  get inFlight(): number {
    return this.pending.size
  }

  /** Connects, authenticates with SASL PLAIN when asked, and switches to `keyspace` when given. */
  static async connect(
    node: CassandraNode,
    credentials: CassandraCredentials,
    options: { version: CqlVersion; keyspace: string | null; timeoutMs: number },
  ): Promise<CassandraConnection> {
    const socket = createConnection({ host: node.host, port: node.port })
    const conn = new CassandraConnection(node, options.version, options.keyspace, socket)
    const timer = setTimeout(
      () =>
        conn.close(
          new CassandraError(
            `grey: Cassandra ${node.region} (${node.host}:${node.port}) did not finish start-up within ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    )
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', (err) =>
          reject(new CassandraError(`grey: cannot connect to Cassandra ${node.region} (${node.host}:${node.port}): ${err.message}`)),
        )
        socket.once('close', () => reject(new CassandraError(`grey: Cassandra ${node.region} closed the connection during start-up`)))
      })
      const supported = await conn.call({ type: 'OPTIONS' })
      if (supported.type === 'SUPPORTED') conn.supported = supported.options
      const cqlVersion = conn.supported.get('CQL_VERSION')?.[0] ?? '3.0.0'
      let reply = await conn.call({ type: 'STARTUP', options: new Map([['CQL_VERSION', cqlVersion]]) })
      if (reply.type === 'AUTHENTICATE') {
        const token = Buffer.from(`\0${credentials.user ?? ''}\0${credentials.password ?? ''}`, 'utf8')
        reply = await conn.call({ type: 'AUTH_RESPONSE', token })
        if (reply.type === 'ERROR') {
          throw new CassandraError(
            `grey: Cassandra ${node.region} refused Grey's credentials (cluster.cassandra): ${reply.message}`,
            reply.code,
          )
        }
        if (reply.type !== 'AUTH_SUCCESS') throw new CassandraError(`grey: Cassandra ${node.region} asked for more than SASL PLAIN`)
      } else if (reply.type !== 'READY') {
        throw new CassandraError(`grey: Cassandra ${node.region} refused STARTUP: ${reply.type === 'ERROR' ? reply.message : reply.type}`)
      }
      if (options.keyspace !== null) {
        const use = await conn.call({
          type: 'QUERY',
          query: `USE "${options.keyspace.replaceAll('"', '""')}"`,
          parameters: { consistency: 1, skipMetadata: false },
        })
        if (use.type === 'ERROR') throw new CassandraError(use.message, use.code)
      }
      return conn
    } catch (err) {
      conn.close(err as Error)
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends a request Grey built itself and decodes the answer. */
  async call(message: RequestMessage): Promise<ResponseMessage> {
    const response = await this.send(encodeRequest(message, 0, { version: this.version }))
    return decodeResponse(response.header, response.body).message
  }

  /**
   * Sends one request frame (its stream id is replaced by one of this connection's, in place) and
   * resolves with the response frame. Rejects when the connection dies first.
   */
  send(frame: Buffer): Promise<CqlResponseFrame> {
    if (this.closed)
      return Promise.reject(new CassandraError(`grey: the connection to Cassandra ${this.node.region} is closed`, CqlErrorCode.Overloaded))
    const stream = this.freeStreams.pop() ?? (this.nextStream < MAX_STREAMS ? this.nextStream++ : -1)
    if (stream < 0) {
      return Promise.reject(
        new CassandraError(`grey: all ${MAX_STREAMS} streams to Cassandra ${this.node.region} are busy`, CqlErrorCode.Overloaded),
      )
    }
    restampStreamId(frame, stream)
    return new Promise((resolve, reject) => {
      this.pending.set(stream, { resolve, reject })
      this.out.write(frame)
    })
  }

  close(error: Error | null): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    this.socket.destroy()
    // Socket errors become CassandraErrors: the session retries idempotent requests on another node for those.
    const err =
      error instanceof CassandraError
        ? error
        : new CassandraError(`grey: the connection to Cassandra ${this.node.region} was lost${error ? `: ${error.message}` : ''}`)
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.onClose?.(error)
  }

  private onData(chunk: Buffer): void {
    this.lastActivity = Date.now()
    try {
      this.splitter.push(chunk)
      for (let out = this.splitter.next(); out; out = this.splitter.next()) {
        if (out.type !== 'frame')
          throw new CassandraError(`grey: Cassandra ${this.node.region} sent a frame Grey cannot read (${out.type})`)
        const { header } = out
        if (header.stream < 0) {
          if (header.opcode === CqlOpcode.Event) this.onEvent?.(out)
          continue
        }
        const waiting = this.pending.get(header.stream)
        if (!waiting) continue
        this.pending.delete(header.stream)
        this.freeStreams.push(header.stream)
        waiting.resolve(out)
      }
    } catch (err) {
      this.close(err as Error)
    }
  }

  private beat(): void {
    if (this.closed || Date.now() - this.lastActivity < HEARTBEAT_IDLE_MS) return
    const timeout = setTimeout(
      () =>
        this.close(new CassandraError(`grey: Cassandra ${this.node.region} did not answer a heartbeat within ${HEARTBEAT_TIMEOUT_MS} ms`)),
      HEARTBEAT_TIMEOUT_MS,
    )
    timeout.unref()
    this.call({ type: 'OPTIONS' }).then(
      () => clearTimeout(timeout),
      () => clearTimeout(timeout),
    )
  }
}
