import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { CassandraConnection, CqlResponseFrame } from './backend/cassandra-connection.js'
import { lwtNotApplied } from './lwt-not-applied.js'
import { CassandraError } from './backend/cassandra-connection.js'
import { CoalescingWriter } from './coalescing-writer.js'
import { CqlErrorCode } from './protocol/cql-error-code.js'
import { CqlProtocolError } from './protocol/cql-protocol-error.js'
import { decodeRequest } from './protocol/decode-request.js'
import { decodeResponse } from './protocol/decode-response.js'
import { encodeResponse } from './protocol/encode-response.js'
import { FrameFlag, restampStreamId, type CqlVersion } from './protocol/frame-header.js'
import { FrameSplitter, type SplitFrame } from './protocol/frame-splitter.js'
import type {
  DecodedBatchRequest,
  DecodedExecuteRequest,
  DecodedQueryRequest,
  ParameterOffsets,
  PrepareRequest,
  QueryParameters,
} from './protocol/request-messages.js'
import type { ResponseMessage } from './protocol/response-messages.js'
import { rewriteFrameQueryParameters, type ParameterChange } from './protocol/rewrite-query-parameters.js'
import { unsupportedVersionError } from './protocol/unsupported-version-error.js'
import type { CqlStatementKind } from '../routing/classify-cql.js'
import type { GreyHints } from '../routing/grey-hints.js'
import {
  EMPTY_TOKEN,
  formatToken,
  mergeTokens,
  observeCql,
  parseToken,
  TokenParseError,
  type CausalityToken,
} from '../routing/causality-token.js'
import { HlcRemoteAheadError, type HlcTimestamp } from '../clock/hlc.js'
import { addResponseExtras } from './protocol/add-response-extras.js'
import { boundValueText } from './bound-value-text.js'
import type { CustomPayload } from './protocol/request-messages.js'
import type { PreparedStatementRegistry } from './prepared-registry.js'
import type { CqlQueueInput } from '../partition/cql-write-replayer.js'
import { decideCqlQueueable } from '../partition/decide-cql-queueable.js'
import { queuedCqlValues, type CqlQueuedWrite } from '../partition/queued-write.js'
import { fenceQueueAdvice, queuedMessage } from '../partition/replay-plan.js'

/** What a statement is, for routing and stamping (src/routing/classify-cql.ts). */
export interface CqlStatementInfo {
  access: 'read' | 'write'
  /** What the statement is: SELECT, INSERT, UPDATE, DELETE, BATCH, USE, DDL, … */
  kind: CqlStatementKind
  /** INSERT/UPDATE/DELETE/BATCH: stamped with Grey's HLC unless it sets USING TIMESTAMP. */
  stampable: boolean
  /** Counter updates and lightweight transactions are not idempotent: never retried on another node. */
  idempotent: boolean
  ddl: boolean
  /** The table the statement names (null for a batch over several), and its keyspace when the text names one. */
  table: string | null
  keyspace: string | null
  systemTable: 'local' | 'peers' | 'peers_v2' | null
  useKeyspace: string | null
  lightweightTransaction: boolean
  hints: GreyHints
}

/** Where a request goes and at which consistency (src/routing/decide-cql-route.ts). */
export interface CqlRoute {
  region: string
  /** The consistency to send (null: the request carries none). */
  consistency: number | null
  reason: string
  /** Why the answer may be stale (it then carries a warning), or null. */
  stale: string | null
}

/**
 * Route reasons of requests that must meet every other strong request (a quorum in the primary DC, a Paxos round):
 * a Grey cut off from the Raft majority refuses them, as it refuses PostgreSQL writes, since the majority side may
 * have moved the primary region meanwhile. Eventual and session requests stay in the local DC and go on.
 */
const FENCED_REASONS: ReadonlySet<string> = new Set([
  'lightweight transaction in primary dc',
  'serial consistency in primary dc',
  'strong in primary dc',
  'strong quorum from local dc',
  'bounded served as strong',
])

/** The custom-payload key of a request's causality token (the CQL form of PostgreSQL's SET grey.after). */
export const TOKEN_REQUEST_KEY = 'grey.after'
/** The custom-payload key of the token Grey returns (the CQL form of SHOW grey.token). */
export const TOKEN_RESPONSE_KEY = 'grey.token'

/** What a session needs from its front end. */
export interface CqlSessionContext {
  log: Logger
  limits: { maxFrameBytes: number; maxStreamsPerClient: number; handshakeTimeoutMs: number }
  /** Users that may log in (SASL PLAIN); null: no authentication asked. */
  authenticate: ((user: string, password: string, loopback: boolean) => Promise<boolean>) | null
  registry: PreparedStatementRegistry
  describe(query: string): CqlStatementInfo
  /** Decides the route of a request; `avoid` lists regions that just failed it; `token` is what the request carries. */
  route(
    info: CqlStatementInfo,
    consistency: number | null,
    serialConsistency: number | null,
    avoid: readonly string[],
    token: CausalityToken | null,
    home: string | null,
  ): CqlRoute
  /** The home region of the row a statement names (routing.affinity), or null. */
  affinityHome(info: CqlStatementInfo, query: string, bound: (marker: number) => string | null): string | null
  /** The process's HLC: tokens carry it, and tokens a client brings are merged into it. */
  clock: { now(): HlcTimestamp; update(remote: HlcTimestamp): HlcTimestamp | HlcRemoteAheadError }
  /** Token entries older than this are dropped: every DC that is up has them by then. */
  tokenHorizonMs: number
  /** The time a token records for a request `region`'s DC answered just now (src/cql/cql-front-end.ts). */
  observedAt(region: string, kind: 'read' | 'write'): HlcTimestamp
  /** A connection to the node of `region`, in `keyspace`, speaking `version`. */
  connection(region: string, version: CqlVersion, keyspace: string | null): Promise<CassandraConnection>
  /** The region's node failed a request: routing avoids it for a while. */
  nodeFailed(region: string): void
  /** Answers system.local / system.peers as Grey (the driver's only node); relays nothing else. */
  systemTable(table: 'local' | 'peers', response: CqlResponseFrame): ResponseMessage | null
  supportedOptions(): Map<string, string[]>
  /** Write timestamp in microseconds from Grey's HLC. */
  stampMicros(): bigint
  /** Why strong requests are refused here (this region is cut off from the Raft majority), or null. */
  writeFence(): string | null
  /** The partition write queue (partition.queue): its keyspaces and how to queue; null when partition.queue.store is none. */
  queue: CqlWriteQueue | null
  /** Waits until every node reports the same schema version (after DDL). */
  awaitSchemaAgreement(connection: CassandraConnection): Promise<void>
  observe: {
    routed(route: CqlRoute, kind: 'read' | 'write'): void
    statementDone(kind: 'read' | 'write', region: string, seconds: number): void
    staleRead(region: string): void
    backendError(region: string, kind: 'connect' | 'lost'): void
    /** A conditional write was not applied: a concurrent write won, or its condition failed. */
    lwtNotApplied(): void
  }
}

/** What a session needs of the partition write queue. */
export interface CqlWriteQueue {
  /** partition.queue.keyspaces */
  readonly keyspaces: ReadonlySet<string>
  /** Stores the write durably: the stored write, or why it could not be queued. */
  enqueue(input: CqlQueueInput): Promise<CqlQueuedWrite | string>
}

const NO_KEYSPACES: ReadonlySet<string> = new Set()

/** A QUERY, EXECUTE or BATCH on its way to Cassandra: the frame and what routing and rewriting need of it. */
interface ForwardedRequest {
  readonly frame: SplitFrame
  readonly info: CqlStatementInfo
  readonly consistency: number
  readonly serialConsistency: number | undefined
  /** Where the consistency and timestamp sit in the frame, for rewriting them in place. */
  readonly offsets: ParameterOffsets
  readonly keyspace: string | null
  readonly payload: CustomPayload | undefined
  /** The home DC of the row it names (affinity rules), or null. */
  readonly home: string | null
  /** A QUERY's text, or the prepared text an EXECUTE names, with its parameters (to queue it); null for a BATCH. */
  readonly statement: { readonly query: string; readonly parameters: QueryParameters } | null
}

const PASSWORD_AUTHENTICATOR = 'org.apache.cassandra.auth.PasswordAuthenticator'
/** Attempts of one request on different nodes when a node fails under it (idempotent requests only). */
const MAX_ATTEMPTS = 3

type Phase = 'startup' | 'authenticating' | 'ready' | 'closed'

/**
 * One CQL client connection. Requests are handled concurrently (the protocol multiplexes them by
 * stream id); each is routed on its own, sent on a shared backend connection under a stream id of
 * that connection, and its response relayed back with the client's stream id.
 */
export class CqlSession {
  private readonly splitter: FrameSplitter
  private phase: Phase = 'startup'
  private version: CqlVersion = 4
  private keyspace: string | null = null
  private readonly inFlight = new Set<number>()
  private readonly events = new Set<string>()
  private readonly handshakeTimer: NodeJS.Timeout
  private readonly log: Logger
  private readonly out: CoalescingWriter

  constructor(
    private readonly socket: Socket,
    private readonly ctx: CqlSessionContext,
    private readonly onEnd: (session: CqlSession) => void,
  ) {
    this.log = ctx.log.child({ client: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` })
    this.splitter = new FrameSplitter({ direction: 'request', maxBodyBytes: ctx.limits.maxFrameBytes })
    this.out = new CoalescingWriter(socket)
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => this.end())
    this.handshakeTimer = setTimeout(() => {
      if (this.phase !== 'ready')
        this.protocolError(0, `grey: the client did not finish start-up within ${ctx.limits.handshakeTimeoutMs} ms`)
    }, ctx.limits.handshakeTimeoutMs)
    this.handshakeTimer.unref()
  }

  /** Requests in flight: draining waits for them. */
  get busy(): boolean {
    return this.inFlight.size > 0
  }

  /** An event frame from the cluster, for the types this client registered for. */
  deliverEvent(kind: string, frame: Buffer): void {
    if (this.phase !== 'ready' || !this.events.has(kind)) return
    const copy = Buffer.from(frame)
    // Events come from Grey's own v4 connection; a v3 client gets the same body under its version byte.
    copy[0] = 0x80 | this.version
    this.socket.write(copy)
  }

  close(reason: string): void {
    if (this.phase === 'closed') return
    this.socket.end(this.error(0, CqlErrorCode.ServerError, reason))
    this.end()
  }

  private onData(chunk: Buffer): void {
    try {
      this.splitter.push(chunk)
      for (let out = this.splitter.next(); out && this.phase !== 'closed'; out = this.splitter.next()) {
        switch (out.type) {
          case 'unsupported-version':
            // v4 spec §8 (and ARCHITECTURE §5): answer in a version the client can read, then close; it reconnects lower.
            this.log.debug({ version: out.version }, 'unsupported protocol version; the driver will downgrade')
            this.socket.end(unsupportedVersionError(out.version, out.stream))
            this.end()
            return
          case 'frame-too-large':
            this.socket.write(
              this.error(
                out.header.stream,
                CqlErrorCode.Invalid,
                `Request is too big: length ${out.header.bodyLength} exceeds maximum allowed length ${out.maxBodyBytes}.`,
              ),
            )
            break
          case 'frame':
            this.version = out.header.version as CqlVersion
            this.onFrame(out)
        }
      }
    } catch (err) {
      if (err instanceof CqlProtocolError) return this.protocolError(err.streamId ?? 0, err.message)
      this.log.error({ err }, 'CQL session failed')
      this.protocolError(0, `grey: ${(err as Error).message}`)
    }
  }

  private protocolError(stream: number, message: string): void {
    if (this.phase === 'closed') return
    this.log.info({ err: message }, 'protocol error; closing the client connection')
    this.socket.end(this.error(stream, CqlErrorCode.ProtocolError, message))
    this.end()
  }

  private error(stream: number, code: number, message: string): Buffer {
    return encodeResponse({ type: 'ERROR', code, message }, stream, { version: this.version })
  }

  /** `warnings`: v4 only (the caller checks the version). */
  private reply(stream: number, message: ResponseMessage, warnings?: string[]): void {
    if (this.phase === 'closed') return
    this.out.write(
      encodeResponse(message, stream, warnings === undefined ? { version: this.version } : { version: this.version, warnings }),
    )
  }

  private onFrame(frame: SplitFrame): void {
    const { header } = frame
    if ((header.flags & FrameFlag.Compression) !== 0) throw new CqlProtocolError('grey: compression was not negotiated', header.stream)
    if (this.inFlight.has(header.stream)) {
      throw new CqlProtocolError(`grey: stream ${header.stream} is already in use by a request in flight`, header.stream)
    }
    if (this.inFlight.size >= this.ctx.limits.maxStreamsPerClient) {
      this.socket.write(
        this.error(
          header.stream,
          CqlErrorCode.Overloaded,
          `grey: more than ${this.ctx.limits.maxStreamsPerClient} requests in flight on one connection; wait for responses or open another connection`,
        ),
      )
      return
    }
    const request = decodeRequest(header, frame.body)
    if (this.phase !== 'ready' && request.type !== 'STARTUP' && request.type !== 'OPTIONS' && request.type !== 'AUTH_RESPONSE') {
      throw new CqlProtocolError(
        `grey: ${request.type} before the connection was ready; send STARTUP (and authenticate) first`,
        header.stream,
      )
    }
    switch (request.type) {
      case 'OPTIONS':
        return this.reply(header.stream, { type: 'SUPPORTED', options: this.ctx.supportedOptions() })
      case 'STARTUP':
        if (this.phase !== 'startup') throw new CqlProtocolError('grey: STARTUP sent twice', header.stream)
        if (request.options.has('COMPRESSION')) {
          throw new CqlProtocolError(
            `grey: compression (${request.options.get('COMPRESSION')}) is not supported; connect without it (SUPPORTED lists none)`,
            header.stream,
          )
        }
        if (this.ctx.authenticate) {
          this.phase = 'authenticating'
          return this.reply(header.stream, { type: 'AUTHENTICATE', authenticator: PASSWORD_AUTHENTICATOR })
        }
        this.ready()
        return this.reply(header.stream, { type: 'READY' })
      case 'AUTH_RESPONSE':
        if (this.phase !== 'authenticating') throw new CqlProtocolError('grey: AUTH_RESPONSE without an AUTHENTICATE', header.stream)
        return this.track(header.stream, this.authenticate(header.stream, request.token))
      case 'REGISTER':
        for (const e of request.events) this.events.add(e)
        return this.reply(header.stream, { type: 'READY' })
      case 'QUERY':
        return this.track(header.stream, this.query(frame, request))
      case 'PREPARE':
        return this.track(header.stream, this.prepare(frame, request))
      case 'EXECUTE':
        return this.track(header.stream, this.execute(frame, request))
      case 'BATCH':
        return this.track(header.stream, this.batch(frame, request))
    }
  }

  private ready(): void {
    this.phase = 'ready'
    clearTimeout(this.handshakeTimer)
  }

  /** Runs one request's work; a failure becomes an ERROR on its stream, never an exception out of the session. */
  private track(stream: number, work: Promise<void>): void {
    this.inFlight.add(stream)
    work
      .catch((err: unknown) => {
        const e = err instanceof CassandraError ? err : new CassandraError(`grey: ${(err as Error).message}`)
        if (!(err instanceof CassandraError)) this.log.error({ err }, 'request failed inside Grey')
        if (this.phase !== 'closed') this.socket.write(this.error(stream, e.code, e.message))
      })
      .finally(() => this.inFlight.delete(stream))
  }

  private async authenticate(stream: number, token: Buffer | null): Promise<void> {
    // SASL PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.
    const parts = (token ?? Buffer.alloc(0)).toString('utf8').split('\0')
    const [user, password] = parts.length === 3 ? [parts[1]!, parts[2]!] : ['', '']
    const loopback = /^(127\.|::1$|::ffff:127\.)/.test(this.socket.remoteAddress ?? '')
    const ok = user !== '' && (await this.ctx.authenticate!(user, password, loopback))
    if (!ok) {
      this.log.info({ user }, 'CQL client authentication failed')
      this.reply(stream, { type: 'ERROR', code: CqlErrorCode.BadCredentials, message: 'Provided username and/or password are incorrect' })
      return
    }
    this.ready()
    this.reply(stream, { type: 'AUTH_SUCCESS', token: null })
  }

  private async query(frame: SplitFrame, request: DecodedQueryRequest): Promise<void> {
    const stream = frame.header.stream
    const info = this.ctx.describe(request.query)
    if (info.useKeyspace !== null) {
      // Grey's backend connections are per keyspace: opening one for it checks that it exists.
      await this.ctx.connection(this.ctx.route(info, null, null, [], null, null).region, this.version, info.useKeyspace)
      this.keyspace = info.useKeyspace
      return this.reply(stream, { type: 'RESULT', kind: 'Set_keyspace', keyspace: info.useKeyspace })
    }
    if (info.systemTable === 'peers_v2') {
      // Cassandra before 4.0 answers so, and drivers fall back to system.peers.
      return this.reply(stream, { type: 'ERROR', code: CqlErrorCode.Invalid, message: 'unconfigured table peers_v2' })
    }
    await this.forward({
      frame,
      info,
      consistency: request.parameters.consistency,
      serialConsistency: request.parameters.serialConsistency,
      offsets: request.offsets,
      keyspace: this.keyspace,
      payload: request.customPayload,
      home: this.ctx.affinityHome(info, request.query, (i) => boundValueText(request.parameters.values?.[i], undefined)),
      statement: { query: request.query, parameters: request.parameters },
    })
  }

  private async prepare(frame: SplitFrame, request: PrepareRequest): Promise<void> {
    const info = this.ctx.describe(request.query)
    const route = this.ctx.route(info, null, null, [], null, null)
    const connection = await this.ctx.connection(route.region, this.version, this.keyspace)
    const response = await connection.send(frame.frame)
    const decoded = decodeResponse(response.header, response.body).message
    if (decoded.type === 'RESULT' && decoded.kind === 'Prepared') {
      this.ctx.registry.remember(Buffer.from(decoded.id), {
        query: request.query,
        keyspace: this.keyspace,
        variables: decoded.metadata.columns.map((c) => c.type),
      })
    }
    this.relay(frame.header.stream, response)
  }

  private async execute(frame: SplitFrame, request: DecodedExecuteRequest): Promise<void> {
    const statement = this.ctx.registry.find(request.id)
    if (!statement) {
      // Not prepared through this Grey (or forgotten): the driver prepares again and retries.
      return this.reply(frame.header.stream, {
        type: 'ERROR',
        code: CqlErrorCode.Unprepared,
        message: 'grey: unknown prepared statement id; prepare it again',
        details: { kind: 'unprepared', id: request.id },
      })
    }
    const info = this.ctx.describe(statement.query)
    await this.forward({
      frame,
      info,
      consistency: request.parameters.consistency,
      serialConsistency: request.parameters.serialConsistency,
      offsets: request.offsets,
      keyspace: statement.keyspace,
      payload: request.customPayload,
      home: this.ctx.affinityHome(info, statement.query, (i) => boundValueText(request.parameters.values?.[i], statement.variables?.[i])),
      statement: { query: statement.query, parameters: request.parameters },
    })
  }

  private async batch(frame: SplitFrame, request: DecodedBatchRequest): Promise<void> {
    let stampable = request.batchType !== 2
    let idempotent = request.batchType !== 2
    let lightweightTransaction = false
    let hints: GreyHints = { problems: [] }
    for (const s of request.statements) {
      const query = s.kind === 'query' ? s.query : this.ctx.registry.find(s.id)?.query
      if (query === undefined && s.kind === 'prepared') {
        return this.reply(frame.header.stream, {
          type: 'ERROR',
          code: CqlErrorCode.Unprepared,
          message: 'grey: unknown prepared statement id in the batch; prepare it again',
          details: { kind: 'unprepared', id: s.id },
        })
      }
      const info = this.ctx.describe(query!)
      stampable &&= info.stampable
      idempotent &&= info.idempotent
      lightweightTransaction ||= info.lightweightTransaction
      // The first statement that carries hints speaks for the batch.
      if (hints.consistency === undefined && hints.route === undefined) hints = info.hints
    }
    const info: CqlStatementInfo = {
      access: 'write',
      kind: 'batch',
      stampable,
      idempotent,
      ddl: false,
      table: null,
      keyspace: null,
      systemTable: null,
      useKeyspace: null,
      lightweightTransaction,
      hints,
    }
    await this.forward({
      frame,
      info,
      consistency: request.consistency,
      serialConsistency: request.serialConsistency,
      offsets: request.offsets,
      keyspace: this.keyspace,
      payload: request.customPayload,
      home: null,
      statement: null,
    })
  }

  /**
   * Routes, rewrites (consistency raised, HLC timestamp) and sends a QUERY/EXECUTE/BATCH, re-preparing
   * on a node that answers UNPREPARED, and retrying an idempotent request on another node when its
   * node fails under it. The write timestamp is fixed before the first attempt, so a retried write
   * is the same write (Cassandra's last-write-wins makes the replay exact).
   */
  private async forward(request: ForwardedRequest): Promise<void> {
    const { frame, info, consistency, serialConsistency, offsets, keyspace, payload, home } = request
    const stream = frame.header.stream
    const avoid: string[] = []
    const token = this.requestToken(info, payload)
    const stamp = info.stampable ? this.ctx.stampMicros() : undefined
    const kind = info.access
    for (let attempt = 1; ; attempt++) {
      const route = this.ctx.route(info, consistency, serialConsistency ?? null, avoid, token, home)
      const fence = FENCED_REASONS.has(route.reason) ? this.ctx.writeFence() : null
      if (fence !== null) return this.queueOrRefuse(request, fence)
      this.ctx.observe.routed(route, kind)
      this.log.debug({ region: route.region, reason: route.reason, consistency: route.consistency }, 'routed')
      const change: ParameterChange = {}
      if (route.consistency !== null && route.consistency !== consistency) change.consistency = route.consistency
      if (stamp !== undefined) change.timestamp = stamp
      const outgoing =
        change.consistency !== undefined || change.timestamp !== undefined
          ? rewriteFrameQueryParameters(frame.frame, offsets, change)
          : frame.frame
      const started = process.hrtime.bigint()
      try {
        const connection = await this.ctx.connection(route.region, this.version, keyspace)
        let response = await connection.send(outgoing)
        response = await this.reprepareIfNeeded(connection, outgoing, response)
        if (info.systemTable === 'local' || info.systemTable === 'peers') {
          const answer = this.ctx.systemTable(info.systemTable, response)
          if (answer) return this.reply(stream, answer)
        }
        if (info.ddl) await this.ctx.awaitSchemaAgreement(connection)
        this.ctx.observe.statementDone(kind, route.region, Number(process.hrtime.bigint() - started) / 1e9)
        if (info.lightweightTransaction && lwtNotApplied(response)) this.ctx.observe.lwtNotApplied()
        return this.relay(stream, this.withExtras(response, route, kind, token))
      } catch (err) {
        const lost = err instanceof CassandraError && err.code !== CqlErrorCode.Invalid && err.code !== CqlErrorCode.BadCredentials
        if (!lost) throw err
        this.ctx.nodeFailed(route.region)
        this.ctx.observe.backendError(route.region, 'lost')
        avoid.push(route.region)
        if (!info.idempotent || attempt >= MAX_ATTEMPTS) {
          throw new CassandraError(
            `grey: Cassandra ${route.region} failed during the request (${(err as Error).message})${info.idempotent ? '' : '; it is not idempotent, so Grey did not retry it: it may or may not have been applied'}`,
            CqlErrorCode.ServerError,
          )
        }
        this.log.info({ region: route.region, attempt }, 'node failed under a request; retrying on another node')
      }
    }
  }

  /**
   * Cut off from the Raft majority: a write that opted in (the queue hint, partition.queue.keyspaces) and can be queued is
   * stored durably and answered with a Void result and a warning that it is queued — never as committed; anything else
   * is refused. A server error, not Unavailable: drivers replace an Unavailable's message with their own about replicas.
   */
  private async queueOrRefuse(request: ForwardedRequest, fence: string): Promise<void> {
    const stream = request.frame.header.stream
    const refuse = (message: string): void => this.reply(stream, { type: 'ERROR', code: CqlErrorCode.ServerError, message })
    if (request.info.access === 'read') return refuse(fence)
    const queue = this.ctx.queue
    const decision = decideCqlQueueable({
      info: request.info,
      sessionKeyspace: request.keyspace,
      keyspaces: queue?.keyspaces ?? NO_KEYSPACES,
      storeConfigured: queue !== null,
      version: this.version,
    })
    if (!decision.queue) return refuse(fence + fenceQueueAdvice(decision, queue !== null, 'cql'))
    // decideCqlQueueable queues no BATCH, the one request without a single statement.
    const { query, parameters } = request.statement!
    const queued = await queue!.enqueue({
      keyspace: decision.keyspace,
      query,
      values: queuedCqlValues(parameters.values ?? []),
      names: parameters.names ?? null,
      consistency: request.consistency,
    })
    if (typeof queued === 'string') return refuse(`${fence}. ${queued}`)
    this.log.info({ id: queued.id, hlc: queued.hlc, why: decision.why }, 'CQL write queued while cut off from the Raft majority')
    this.reply(stream, { type: 'RESULT', kind: 'Void' }, [queuedMessage(queued.region, queued)])
  }

  /**
   * The causality token a request carries (custom payload grey.after and an after= hint, merged), merged into the process's
   * HLC; null when it carries none. A token Grey cannot use fails the request with Invalid (0x2200) and a sentence.
   */
  private requestToken(info: CqlStatementInfo, payload: CustomPayload | undefined): CausalityToken | null {
    const fromPayload = payload?.get(TOKEN_REQUEST_KEY)
    // grey.after may hold several tokens, separated by commas or spaces: a session's own and one handed to it.
    const texts = [...(fromPayload ? fromPayload.toString('utf8').split(/[\s,]+/) : []), info.hints.after]
    let token: CausalityToken | null = null
    for (const text of texts) {
      if (text === undefined || text === '') continue
      const parsed = parseToken(text)
      if (parsed instanceof TokenParseError) throw new CassandraError(parsed.message, CqlErrorCode.Invalid)
      const merged = this.ctx.clock.update(parsed.hlc)
      if (merged instanceof HlcRemoteAheadError) {
        throw new CassandraError(`grey: the token's clock is from the future: ${merged.message}`, CqlErrorCode.Invalid)
      }
      token = mergeTokens(token ?? EMPTY_TOKEN, parsed)
    }
    // A client that asks for tokens without having one yet sends grey.token with any value.
    if (token === null && payload?.has(TOKEN_RESPONSE_KEY)) token = EMPTY_TOKEN
    return token
  }

  /**
   * A successful response, with the session's new token (custom payload grey.token) when the request was a write or
   * carried a token, and a warning when the route said the answer may be stale (v4; v3 has neither).
   */
  private withExtras(response: CqlResponseFrame, route: CqlRoute, kind: 'read' | 'write', token: CausalityToken | null): Buffer {
    const stale = route.stale !== null && kind === 'read'
    if (stale) this.ctx.observe.staleRead(route.region)
    const isResult = response.header.opcode === 0x08
    if (!isResult || (!stale && token === null && kind === 'read')) return response.frame
    const warnings = stale ? [`grey: stale read: ${route.stale}`] : []
    const customPayload = new Map<string, Uint8Array>()
    if (token !== null || kind === 'write') {
      const at = this.ctx.observedAt(route.region, kind)
      const next = observeCql(token ?? EMPTY_TOKEN, route.region, at, at.wallMs - this.ctx.tokenHorizonMs)
      customPayload.set(TOKEN_RESPONSE_KEY, Buffer.from(formatToken(next)))
    }
    return addResponseExtras(response.header, response.frame, { warnings, customPayload })
  }

  /** An UNPREPARED from the node: prepare the statement there (in its keyspace) and send the request again. */
  private async reprepareIfNeeded(
    connection: CassandraConnection,
    outgoing: Buffer,
    response: CqlResponseFrame,
  ): Promise<CqlResponseFrame> {
    if (response.header.opcode !== 0x00) return response
    const decoded = decodeResponse(response.header, response.body).message
    if (decoded.type !== 'ERROR' || decoded.details?.kind !== 'unprepared') return response
    const statement = this.ctx.registry.find(decoded.details.id)
    if (!statement) return response
    const there =
      statement.keyspace === connection.keyspace
        ? connection
        : await this.ctx.connection(connection.node.region, this.version, statement.keyspace)
    const prepared = await there.call({ type: 'PREPARE', query: statement.query })
    if (prepared.type === 'ERROR') return response
    this.log.debug({ node: connection.node.region }, 're-prepared a statement on a node that lacked it')
    return connection.send(outgoing)
  }

  private relay(stream: number, response: CqlResponseFrame | Buffer): void {
    if (this.phase === 'closed') return
    const frame = Buffer.isBuffer(response) ? response : response.frame
    restampStreamId(frame, stream)
    this.out.write(frame)
  }

  private end(): void {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    clearTimeout(this.handshakeTimer)
    this.socket.destroy()
    this.onEnd(this)
  }
}
