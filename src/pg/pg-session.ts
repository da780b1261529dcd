import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { TLSSocket, type SecureContext } from 'node:tls'
import type { Logger } from 'pino'
import { serialize } from 'pg-protocol/dist/serializer'
import type { ConsistencyLevel, RoutingRule } from '../config/config-schema.js'
import { matchRoutingRule } from '../routing/match-routing-rule.js'
import { HlcRemoteAheadError, type HybridLogicalClock } from '../clock/hlc.js'
import { EMPTY_TOKEN, formatToken, mergeTokens, parseToken, TokenParseError, type CausalityToken } from '../routing/causality-token.js'
import { decidePgRoute, requestedPgConsistency, type PgRouteDecision } from '../routing/decide-pg-route.js'
import { parseLsn } from '../topology/lsn.js'
import { classifySql, type SqlClassification } from '../routing/sql-classifier.js'
import type { BackendErrorKind } from '../admin/metrics.js'
import { chooseAuth, isLoopbackAddress, type ClientAuthConfig, type ClientAuthMethod } from './auth/auth-method.js'
import type { PgAuthError } from './auth/auth-failure.js'
import { verifyMd5Response } from './auth/md5-auth.js'
import { encodeScramNonce } from './auth/scram-syntax.js'
import { scramServerMechanisms, startScramServer, stepScramServer, type ScramServerState } from './auth/scram-server.js'
import { BackendError, cancelBackendQuery, type BackendConnection } from './backend/backend-connection.js'
import { queryBackend } from './backend/backend-query.js'
import type { BackendPool } from './backend/backend-pool.js'
import { BackendMessageType } from './protocol/backend-message-type.js'
import {
  dataRowFirstColumn,
  FrameAssembler,
  parseNoticeFields,
  readyForQueryStatus,
  type BackendFrame,
} from './protocol/backend-scanner.js'
import * as msg from './protocol/backend-serializer.js'
import { parsePasswordMessage, parseSaslInitialResponse, type FrontendMessage, type RegularMessage } from './protocol/frontend-messages.js'
import { FrontendParser } from './protocol/frontend-parser.js'
import { ProtocolError } from './protocol/protocol-error.js'
import { sqlLiteral } from '../routing/sql-literal.js'
import { decideQueueable, type QueueDecision } from '../partition/decide-queueable.js'
import type { QueueInput } from '../partition/partition-queue.js'
import type { QueuedWrite } from '../partition/queued-write.js'
import { fenceQueueAdvice, QUEUED_SQLSTATE, queuedMessage } from '../partition/replay-plan.js'

/** What a session needs from the front end that owns it. */
export interface PgSessionContext {
  region: string
  database: string
  auth: ClientAuthConfig
  defaultConsistency: ConsistencyLevel
  /** routing.max_staleness, for bounded reads without a max_staleness hint. */
  maxStalenessMs: number
  /** The routing rules in force (the cluster view's: configured, or replaced through the Raft log). */
  rules(): readonly RoutingRule[]
  /** routing.session_wait: how long a session read waits for the local replica to replay its token. */
  sessionWaitMs: number
  /** The process's HLC: tokens carry it, and tokens a client brings are merged into it. */
  clock: HybridLogicalClock
  /** A session found this position replayed on that replica. */
  noteReplicaApplied(region: string, lsn: bigint): void
  writingFunctions: readonly string[]
  /** The PostgreSQL primary and this region's replica as the cluster view names them now. */
  nodes(): PgNodes
  /**
   * Waits until the primary the cluster names is known to take writes (out of recovery after a failover) and, with
   * `afterEpoch`, until a failover has replaced the primary of that epoch; null then, else why not after
   * failover.failover_hold.
   */
  awaitPrimary(afterEpoch: number | null): Promise<string | null>
  /** Why statements for the primary are refused now (this region is cut off from the Raft majority), or null. */
  writeFence(): string | null
  /** The partition write queue (partition.queue): its tables and how to queue; null when partition.queue.store is none. */
  queue: PgWriteQueue | null
  /** TLS toward clients when a certificate is configured; SSLRequest is answered 'N' otherwise. */
  tls: SecureContext | null
  log: Logger
  limits: { maxMessageSize: number; handshakeTimeoutMs: number; clientIdleTimeoutMs: number }
  /** transaction: server connections go back to the pool after each transaction; session: kept until the client leaves. */
  poolMode: 'transaction' | 'session'
  /** Looks up a user the config does not list (proxy.auth.auth_query); null when none is configured. */
  lookupUser: ((user: string) => Promise<ClientAuthMethod | null>) | null
  observe: PgSessionObserver
  /** Finds the session a CancelRequest names, by the key Grey handed out. */
  findByKey(processId: number, secretKey: Buffer): PgSession | undefined
}

/** What a session needs of the partition write queue. */
export interface PgWriteQueue {
  /** partition.queue.tables */
  readonly tables: ReadonlySet<string>
  /** Stores the write durably: the stored write, or why it could not be queued. */
  enqueue(input: QueueInput): Promise<QueuedWrite | string>
}

const NO_TABLES: ReadonlySet<string> = new Set()

export interface PgNodes {
  readonly primary: BackendPool
  /** Null when this region has no PostgreSQL node or its node is the primary. */
  readonly localReplica: BackendPool | null
  /** The local replica's measured lag (null while unknown), whether reads must avoid it, the position it has replayed. */
  readonly replicaLag: { readonly seconds: number | null; readonly banned: boolean; readonly appliedLsn: bigint | null }
  /** The PostgreSQL failover epoch of `primary`. */
  readonly epoch: number
  /** Why a read from the local replica may be stale now (lag beyond max_lag_warning, the primary out of reach), or null. */
  readonly staleBecause: string | null
}

/** What a session reports for metrics: routing decisions, statement times, backend failures. */
export interface PgSessionObserver {
  routed(decision: PgRouteDecision, kind: 'read' | 'write'): void
  statementDone(kind: 'read' | 'write', target: 'primary' | 'replica', seconds: number): void
  /** A read served with the stale flag. */
  staleRead(region: string): void
  backendError(region: string, kind: BackendErrorKind): void
  /** The server aborted a statement that lost to a concurrent transaction. */
  conflict(kind: PgConflictKind): void
  /** A commit's wait for the synchronous standby was cancelled: committed on `region`, not known to be replicated. */
  unconfirmedCommit(region: string): void
}

export type PgConflictKind = 'serialization_failure' | 'deadlock'
/** The SQLSTATEs of a lost conflict: the transaction was rolled back so that a concurrent one could go on. */
const CONFLICTS: ReadonlyMap<string, PgConflictKind> = new Map([
  ['40001', 'serialization_failure'],
  ['40P01', 'deadlock'],
])
/**
 * PostgreSQL's WARNING when a commit stops waiting for the synchronous standby (a cancel, statement_timeout, or the
 * backend being terminated): "canceling [the] wait for synchronous replication …; the transaction has already
 * committed locally, but might not have been replicated to the standby".
 */
const SYNC_WAIT_CANCELLED = /^canceling (the )?wait for synchronous replication/

/** Replies to a message Grey sent on its own, kept from the client. `simple`: part of an injected simple Query. */
interface Swallowed {
  type: number
  simple: boolean
}

/** A parameter whose type the client left open is described as text (PostgreSQL would infer it; Grey has not asked). */
const TEXT_OID = 25

const CONSISTENCIES: readonly string[] = ['strong', 'bounded', 'session', 'eventual']
/** The primary's WAL insert position: at or past the commit record of a transaction that just committed. */
const COMMIT_POSITION_QUERY = 'SELECT pg_current_wal_insert_lsn()::text'

/** A client message batch that must reach one backend together: up to Sync, or one simple Query. */
interface Flight {
  messages: RegularMessage[]
  /** SQL texts of its Query and Parse messages (and of Parses it re-issues), for routing. */
  sql: string[]
}

/**
 * One client connection: start-up and authentication, then transaction pooling — between
 * transactions each flight may go to another backend; inside one it stays on the same backend.
 */
export class PgSession {
  readonly processId = randomBytes(4).readInt32BE(0) & 0x7fffffff
  readonly secretKey = randomBytes(4)
  private readonly parser: FrontendParser
  private phase: 'startup' | 'auth' | 'ready' | 'closed' = 'startup'
  private user = ''
  private scram: ScramServerState | null = null
  private md5: { salt: Buffer; check: (response: string) => boolean } | null = null
  /** The session's own level (SET grey.consistency, the startup option); null leaves it to the rules and the default. */
  private consistency: ConsistencyLevel | null = null
  /** From the startup packet, for routing rules that match application_name. */
  private applicationName = ''
  /** A held-back BEGIN: sent with the next statement, so that statement decides the route. */
  private heldBegin: { sql: string; readOnly: boolean } | null = null
  private backend: BackendConnection | null = null
  private backendPool: BackendPool | null = null
  /** Session pooling: the server connection this client keeps on each node it has used. */
  private readonly kept = new Map<BackendPool, BackendConnection>()
  /** The handshake deadline, then the idle deadline (proxy.limits). */
  private timer: NodeJS.Timeout | null = null
  private pinnedBy: string | null = null
  private readonly flights: Flight[] = []
  private pending: RegularMessage[] = []
  private busy = false
  /** Backend frames to drop from the client stream: replies to what Grey injected. */
  private swallow: Swallowed[] = []
  /** Named statements of this session: name → the client's Parse bytes and SQL, re-issued where missing. */
  private readonly prepared = new Map<string, { raw: Buffer; sql: string; paramTypes: number[] }>()
  /** SET statements in force for this session, replayed on every backend it uses. */
  private settings: string[] = []
  /** `settings` joined: what a server connection's appliedSettings must equal for it to need no replay. */
  private settingsKey = ''
  /** What this session has written or been told to wait for (SET grey.after, after= hints); SHOW grey.token. */
  private token: CausalityToken = EMPTY_TOKEN
  /** The commit position the last trailer query returned. */
  private trailerLsn: bigint | null = null
  /**
   * A read ran on a primary in this region without the trailer query; the token has not caught up with what it read.
   * Settled (one local round trip) only when the token is next needed: a read that may go to a replica, SHOW grey.token.
   */
  private primaryReadUnsettled = false
  /** The stale flag of the flight being routed when Grey serves it against the usual rule (a cut-off region). */
  private flightStale: string | null = null
  /** The client has its ReadyForQuery; the trailer's replies are still due. */
  private trailerPending = false
  /** Ends the relay in progress without its ReadyForQuery (the client left while the trailer was due). */
  private abandonRelay: (() => void) | null = null
  private readonly log: Logger

  constructor(
    private socket: Socket,
    private readonly ctx: PgSessionContext,
    private readonly onEnd: (session: PgSession) => void,
  ) {
    this.parser = new FrontendParser({ phase: 'startup', maxMessageLength: ctx.limits.maxMessageSize })
    this.setTimer(
      ctx.limits.handshakeTimeoutMs,
      '08P01',
      `grey: start-up and authentication did not finish within ${ctx.limits.handshakeTimeoutMs} ms`,
    )
    this.log = ctx.log.child({ client: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` })
    socket.setNoDelay(true)
    this.listen(socket)
  }

  private readonly onChunk = (chunk: Buffer): void => this.onData(chunk)

  private listen(socket: Socket): void {
    socket.on('data', this.onChunk)
    socket.on('error', () => undefined)
    socket.on('close', () => this.end())
  }

  /** In a transaction or pinned: draining waits for it. */
  get busyWithBackend(): boolean {
    return this.backend !== null
  }

  cancel(): void {
    if (this.backend) cancelBackendQuery(this.backend)
  }

  /**
   * The session's server connection is on `region`, a primary the Raft log has replaced and that no longer answers:
   * it is closed, so that the statement held there ends now with 08006 and `why`, not at the client's timeout.
   */
  abandonBackendOn(region: string, why: string): void {
    if (this.backend?.node.region === region && !this.backend.isClosed) this.backend.close(new Error(why))
  }

  close(reason: string): void {
    if (this.phase === 'closed') return
    this.socket.end(msg.errorResponse({ severity: 'FATAL', code: '57P01', message: reason }))
    this.end()
  }

  /** One deadline at a time: the handshake's, then the idle client's. */
  private setTimer(ms: number, code: string, message: string): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (ms <= 0) return
    this.timer = setTimeout(() => {
      this.log.info({ code }, message)
      this.fatal(code, message)
    }, ms)
    this.timer.unref()
  }

  /** Once ready, the handshake deadline gives way to the idle one (none when client_idle_timeout is 0). */
  private armIdleTimer(): void {
    const ms = this.ctx.limits.clientIdleTimeoutMs
    if (this.phase !== 'ready') return
    const inTransaction = this.backend !== null && this.pinnedBy === null
    this.setTimer(
      ms,
      inTransaction ? '25P03' : '57P05',
      `grey: the client was idle${inTransaction ? ' in a transaction' : ''} for more than ${ms} ms (proxy.limits.client_idle_timeout); reconnect`,
    )
  }

  private onData(chunk: Buffer): void {
    if (this.timer && this.phase === 'ready') {
      clearTimeout(this.timer)
      this.timer = null
    }
    try {
      this.parser.push(chunk)
      for (let m = this.parser.read(); m; m = this.parser.read()) this.onMessage(m)
      if (!this.busy && this.flights.length === 0) this.armIdleTimer()
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError(`grey: ${(err as Error).message}`)
      this.log.info({ err: e.message }, 'protocol error; closing the client connection')
      this.socket.end(msg.errorResponse({ severity: 'FATAL', code: e.sqlState, message: e.message }))
      this.end()
    }
  }

  private onMessage(m: FrontendMessage): void {
    switch (this.phase) {
      case 'startup':
        return this.onStartup(m)
      case 'auth':
        return this.onAuth(m)
      case 'ready':
        return this.onRegular(m as RegularMessage)
      case 'closed':
        return
    }
  }

  private fatal(code: string, message: string): void {
    this.socket.end(msg.errorResponse({ severity: 'FATAL', code, message }))
    this.end()
  }

  private onStartup(m: FrontendMessage): void {
    switch (m.type) {
      case 'SSLRequest': {
        const tls = this.ctx.tls
        // Bytes sent before the handshake were not encrypted: refuse them (CVE-2021-23214).
        if (this.parser.pendingBytes > 0) return this.fatal('08P01', 'grey: data after an SSLRequest, before the TLS handshake')
        if (!tls) {
          // No certificate configured: 'N', and the client goes on in plain text or gives up, as it chose.
          this.socket.write(msg.sslResponse(false))
          return
        }
        this.socket.write(msg.sslResponse(true))
        this.socket.off('data', this.onChunk)
        const secure = new TLSSocket(this.socket, { isServer: true, secureContext: tls })
        this.socket = secure
        this.listen(secure)
        return
      }
      case 'GSSENCRequest':
        this.socket.write(msg.sslResponse(false))
        return
      case 'CancelRequest': {
        this.ctx.findByKey(m.processId, m.secretKey)?.cancel()
        this.end()
        return
      }
      case 'StartupMessage': {
        const params = m.parameters
        this.user = params.get('user') ?? ''
        if (this.user === '') return this.fatal('28000', 'grey: no user name given in the start-up packet')
        const database = params.get('database') ?? this.user
        if (params.get('replication') !== undefined && params.get('replication') !== 'false') {
          return this.fatal('0A000', 'grey: replication connections are not proxied; connect to PostgreSQL directly')
        }
        if (database !== this.ctx.database) {
          return this.fatal('3D000', `grey: database "${database}" is not served here; this Grey serves "${this.ctx.database}"`)
        }
        const fromOptions = /(?:^|\s)(?:-c\s*|--)grey\.consistency=(\w+)/.exec(params.get('options') ?? '')?.[1]
        if (fromOptions !== undefined) {
          if (!CONSISTENCIES.includes(fromOptions)) {
            return this.fatal(
              '22023',
              `grey: grey.consistency must be one of ${CONSISTENCIES.join(', ')}; the connection string says "${fromOptions}"`,
            )
          }
          this.consistency = fromOptions as ConsistencyLevel
        }
        this.applicationName = params.get('application_name') ?? ''
        this.phase = 'auth'
        void this.beginAuth()
        return
      }
      default:
        return this.fatal('08P01', 'grey: expected a start-up packet')
    }
  }

  private async beginAuth(): Promise<void> {
    let auth = this.ctx.auth
    if (!auth.users.has(this.user) && this.ctx.lookupUser) {
      try {
        const found = await this.ctx.lookupUser(this.user)
        if (found) auth = { ...auth, users: new Map([[this.user, found]]) }
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'auth_query failed')
        return this.fatal('08001', 'grey: cannot look up the user on PostgreSQL right now (auth_query failed); retry shortly')
      }
      if (this.phase !== 'auth') return
    }
    const decision = chooseAuth(this.user, auth, isLoopbackAddress(this.socket.remoteAddress))
    this.log.debug({ user: this.user, method: decision.method, reason: decision.reason }, 'client authentication')
    switch (decision.method) {
      case 'trust':
        return void this.authenticated()
      case 'scram-sha-256':
        this.scram = startScramServer({
          username: this.user,
          verifier: decision.verifier,
          doomed: decision.doomed,
          serverNonce: encodeScramNonce(randomBytes(18)),
        })
        this.socket.write(msg.authenticationSASL(scramServerMechanisms(undefined)))
        return
      case 'md5': {
        const salt = randomBytes(4)
        const { secret, doomed } = decision
        this.md5 = { salt, check: (response) => verifyMd5Response({ secret, user: this.user, salt, response, doomed }).ok }
        this.socket.write(msg.authenticationMD5Password(salt))
      }
    }
  }

  private onAuth(m: FrontendMessage): void {
    if (m.type !== 'AuthenticationResponse') return this.fatal('08P01', 'grey: expected a password message')
    if (this.md5) {
      return this.md5.check(parsePasswordMessage(m.data)) ? void this.authenticated() : this.passwordFailed()
    }
    if (!this.scram) return this.fatal('08P01', 'grey: unexpected password message')
    const input =
      this.scram.phase === 'awaiting-client-first'
        ? ({ type: 'SASLInitialResponse', ...parseSaslInitialResponse(m.data) } as const)
        : ({ type: 'SASLResponse', data: m.data } as const)
    const step = stepScramServer(this.scram, input)
    this.scram = step.state
    switch (step.output.type) {
      case 'sasl-continue':
        this.socket.write(msg.authenticationSASLContinue(step.output.data))
        return
      case 'sasl-final':
        this.socket.write(msg.authenticationSASLFinal(step.output.data))
        return void this.authenticated()
      case 'failed':
        this.log.info({ user: this.user, why: step.output.failure.logDetail }, 'client authentication failed')
        return this.fatalFields(step.output.failure.error)
    }
  }

  private fatalFields(error: PgAuthError): void {
    this.socket.end(
      msg.errorResponse({
        severity: error.severity,
        code: error.sqlstate,
        message: error.message,
        ...(error.detail ? { detail: error.detail } : {}),
      }),
    )
    this.end()
  }

  private passwordFailed(): void {
    this.fatal('28P01', `password authentication failed for user "${this.user}"`)
  }

  /** AuthenticationOk, the server's parameters (from a live connection), our key, ReadyForQuery. */
  private async authenticated(): Promise<void> {
    this.socket.write(msg.authenticationOk())
    const nodes = this.ctx.nodes()
    const pool = nodes.localReplica?.healthy ? nodes.localReplica : nodes.primary
    try {
      if (!pool.parameters) pool.release(await pool.acquire())
    } catch (err) {
      const e = err as BackendError
      this.ctx.observe.backendError(pool.node.region, e.sqlState === '53300' ? 'pool_timeout' : 'connect')
      return this.fatal(e.sqlState ?? '08001', e.message)
    }
    if (this.phase === 'closed') return
    const out: Buffer[] = []
    for (const [name, value] of pool.parameters ?? []) {
      if (name !== 'application_name' && name !== 'is_superuser' && name !== 'session_authorization')
        out.push(msg.parameterStatus(name, value))
    }
    out.push(msg.parameterStatus('session_authorization', this.user))
    out.push(msg.backendKeyData(this.processId, this.secretKey))
    out.push(msg.readyForQuery('I'))
    this.socket.write(Buffer.concat(out))
    this.phase = 'ready'
    this.armIdleTimer()
  }

  private onRegular(m: RegularMessage): void {
    switch (m.type) {
      case 'Terminate':
        return this.end()
      case 'FunctionCall':
        this.socket.write(
          Buffer.concat([
            msg.errorResponse({
              severity: 'ERROR',
              code: '0A000',
              message: 'grey: the fast-path function call protocol is not supported; call the function with SELECT',
            }),
            msg.readyForQuery(this.transactionStatus()),
          ]),
        )
        return
      case 'CopyData':
      case 'CopyDone':
      case 'CopyFail':
        // COPY IN streams straight to the backend that asked for it.
        this.backend?.write(m.raw)
        return
      case 'Query':
        this.pending.push(m)
        this.flights.push({ messages: this.pending, sql: this.pending.flatMap(sqlOf) })
        this.pending = []
        break
      case 'Sync':
        this.pending.push(m)
        this.flights.push({ messages: this.pending, sql: this.pending.flatMap(sqlOf) })
        this.pending = []
        break
      case 'Flush':
        // A flush asks for replies so far; the messages go out now, on a backend kept until the Sync.
        this.pending.push(m)
        this.flights.push({ messages: this.pending, sql: this.pending.flatMap(sqlOf) })
        this.pending = []
        break
      default:
        this.pending.push(m)
        return
    }
    void this.pump()
  }

  private transactionStatus(): 'I' | 'T' {
    return this.backend || this.heldBegin ? 'T' : 'I'
  }

  /** Runs queued flights one after another; each waits for its ReadyForQuery (or is a Flush). */
  private async pump(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      for (let flight = this.flights.shift(); flight && this.phase === 'ready'; flight = this.flights.shift()) {
        await this.runFlight(flight)
      }
    } finally {
      this.busy = false
    }
    if (this.flights.length === 0) this.armIdleTimer()
  }

  private classify(sql: string): SqlClassification {
    return classifySql(sql, { writingFunctions: this.ctx.writingFunctions })
  }

  private async runFlight(flight: Flight): Promise<void> {
    const simple = flight.messages.length === 1 && flight.messages[0]?.type === 'Query' ? flight.sql[0] : undefined
    if (simple !== undefined && this.primaryReadUnsettled && this.showsToken(simple)) await this.settlePrimaryRead()
    if (simple !== undefined && this.answerLocally(simple)) return
    const texts = [...flight.sql]
    // A Bind of a statement this flight parses is classified by that Parse's text (in flight.sql), not by an older
    // statement of the same name: the unnamed one is parsed anew by most drivers in every round trip.
    const parsedInFlight = new Set(flight.messages.flatMap((m) => (m.type === 'Parse' ? [m.name] : [])))
    for (const m of flight.messages) {
      const known = m.type === 'Bind' && !parsedInFlight.has(m.statement) ? this.prepared.get(m.statement) : undefined
      if (known) texts.push(known.sql)
    }
    const classes = texts.map((s) => this.classify(s))
    const kind = classes.some((c) => c.access === 'write') ? 'write' : 'read'
    if (!this.backend && !(await this.routeFlight(classes, kind, texts, flight.messages))) return
    const backend = this.backend!
    const nodes = this.ctx.nodes()
    const target = this.backendPool === nodes.primary ? 'primary' : 'replica'
    const out: Buffer[] = []
    this.swallow = []
    if (backend.appliedSettings !== this.settingsKey) {
      // Back to the connection's defaults (RESET ALL leaves ROLE alone; DISCARD ALL does the same pair), then
      // this session's SETs: one simple query whose replies the client never sees.
      this.injectSimple(out, ['SET SESSION AUTHORIZATION DEFAULT', 'RESET ALL', ...this.settings])
      backend.appliedSettings = this.settingsKey
    }
    if (this.heldBegin) {
      this.injectSimple(out, [this.heldBegin.sql])
      this.heldBegin = null
    }
    const parsedHere = new Set<string>()
    for (const m of flight.messages) {
      if (m.type === 'Parse' && m.name === '') {
        // The unnamed statement too: drivers such as lib/pq and pgx parse it in one round trip and bind it in the next,
        // which transaction pooling may send to another server.
        this.prepared.set('', { raw: Buffer.from(m.raw), sql: m.query, paramTypes: m.paramTypes })
        parsedHere.add('')
      } else if (m.type === 'Parse') {
        this.prepared.set(m.name, { raw: Buffer.from(m.raw), sql: m.query, paramTypes: m.paramTypes })
        // Another session may have left this name on the shared server: close it first, silently.
        if (backend.prepared.has(m.name)) this.inject(out, serialize.close({ type: 'S', name: m.name }), BackendMessageType.CloseComplete)
        backend.prepared.set(m.name, m.query)
        parsedHere.add(m.name)
      }
      const needs = m.type === 'Bind' ? m.statement : m.type === 'Describe' && m.kind === 'S' ? m.name : null
      const known = needs === null || parsedHere.has(needs) ? undefined : this.prepared.get(needs)
      if (known && needs === '') {
        // Any simple query (other sessions', Grey's own) replaces a server's unnamed statement: always parse it again,
        // in the same round trip; its ParseComplete is not relayed.
        this.inject(out, known.raw, BackendMessageType.ParseComplete)
        parsedHere.add('')
      } else if (known && needs !== null && backend.prepared.get(needs) !== known.sql) {
        // Re-issue this session's Parse on a server that lacks it (or has another statement of that name).
        if (backend.prepared.has(needs)) this.inject(out, serialize.close({ type: 'S', name: needs }), BackendMessageType.CloseComplete)
        this.inject(out, known.raw, BackendMessageType.ParseComplete)
        backend.prepared.set(needs, known.sql)
        parsedHere.add(needs)
      }
      if (m.type === 'Close' && m.kind === 'S') {
        this.prepared.delete(m.name)
        backend.prepared.delete(m.name)
      }
      out.push(m.raw)
    }
    const waitsForReady = flight.messages.some((m) => m.type === 'Query' || m.type === 'Sync')
    const pinsNow = classes.find((c) => c.pins !== null)?.pins ?? null
    if (pinsNow && !this.pinnedBy) {
      this.pinnedBy = pinsNow
      this.log.debug({ reason: pinsNow }, 'session pinned to its backend')
    }
    // On the primary, the position after the flight comes back in the same round trip, from a query of Grey's own
    // behind the client's whose replies the client never sees: after a write it covers the commit (read-your-writes),
    // after a read what was read (monotonic reads, once the session is back on a replica). Not behind COPY: the
    // server would take it for the copy's data; a COPY that wrote asks once more afterwards.
    // A read on a primary in this region skips it: the position is asked for later, and only if the token is needed.
    const copies = classes.some((c) => c.statementKinds.includes('CopyStmt'))
    const commits = kind === 'write' || classes.some((c) => c.transaction?.kind === 'commit')
    const readsLocalPrimary = !commits && backend.node.region === this.ctx.region
    const trailer = target === 'primary' && waitsForReady && !copies && !readsLocalPrimary
    if (trailer) out.push(serialize.query(COMMIT_POSITION_QUERY))
    // The stale flag: a WARNING ahead of the results of a read its replica may serve stale.
    const stale = this.flightStale ?? (target === 'replica' ? nodes.staleBecause : null)
    this.flightStale = null
    if (stale !== null) {
      this.socket.write(msg.noticeResponse({ severity: 'WARNING', code: '01000', message: stale }))
      this.ctx.observe.staleRead(this.backendPool!.node.region)
    }
    const startedAt = process.hrtime.bigint()
    const status = await this.relay(backend, Buffer.concat(out), waitsForReady, trailer)
    if (status === null) return
    if (status === 'ok-flush') return
    this.ctx.observe.statementDone(kind, target, Number(process.hrtime.bigint() - startedAt) / 1e9)
    if (status === 'I' && target === 'primary' && (trailer || commits)) await this.advanceToken(backend, trailer)
    else if (target === 'primary' && readsLocalPrimary) this.primaryReadUnsettled = true
    this.recordSettings(classes, status)
    if (status === 'I' && !this.pinnedBy) this.releaseBackend()
    else this.relayBetweenStatements(backend)
  }

  /** Picks the backend for a flight that starts outside a transaction; false when none could be had (the client was told). */
  private async routeFlight(
    classes: SqlClassification[],
    kind: 'read' | 'write',
    texts: readonly string[],
    messages: readonly RegularMessage[],
  ): Promise<boolean> {
    const classification = classes.find((c) => c.access === 'write') ?? classes[0] ?? this.classify('SELECT')
    // A statement's after= hint joins the session's token: later reads must not see less than it did.
    for (const c of classes) {
      const problem = c.hints.after === undefined ? null : this.adoptToken(c.hints.after)
      if (problem !== null) {
        this.heldBegin = null
        this.socket.write(
          Buffer.concat([msg.errorResponse({ severity: 'ERROR', code: '22023', message: problem }), msg.readyForQuery('I')]),
        )
        return false
      }
    }
    let nodes = this.ctx.nodes()
    if (this.primaryReadUnsettled && nodes.localReplica !== null) {
      await this.settlePrimaryRead()
      nodes = this.ctx.nodes()
    }
    // Configured rules rank below the session's own setting.
    const rules = this.ctx.rules()
    const rule =
      this.consistency === null && rules.length > 0
        ? matchRoutingRule(rules, {
            tables: classes.flatMap((c) => c.tables),
            statement: texts.join('; '),
            user: this.user,
            applicationName: this.applicationName,
            keyspace: null,
          })
        : null
    const sessionConsistency = this.consistency ?? rule?.consistency ?? this.ctx.defaultConsistency
    let decision = decidePgRoute({
      classification,
      sessionConsistency,
      readOnlyTransaction: this.heldBegin?.readOnly ?? false,
      primary: { region: nodes.primary.node.region, healthy: nodes.primary.healthy },
      localReplica: nodes.localReplica
        ? {
            region: nodes.localReplica.node.region,
            healthy: nodes.localReplica.healthy,
            lagSeconds: nodes.replicaLag.seconds,
            banned: nodes.replicaLag.banned,
            appliedLsn: nodes.replicaLag.appliedLsn,
          }
        : null,
      maxStalenessMs: rule?.maxStalenessMs ?? this.ctx.maxStalenessMs,
      token: this.token.lsn > 0n ? this.token : null,
      epoch: nodes.epoch,
    })
    let pool = decision.target === 'primary' ? nodes.primary : (nodes.localReplica ?? nodes.primary)
    const toPrimary = pool === nodes.primary
    if (toPrimary) {
      const fence = this.ctx.writeFence()
      // Only a plain eventual read: not one that also names a token or a staleness bound the old primary cannot vouch for.
      const { hints } = classification
      const eventual =
        requestedPgConsistency(hints, sessionConsistency) === 'eventual' && hints.after === undefined && hints.maxStalenessMs === undefined
      if (fence !== null && kind === 'read' && eventual && pool.node.region === this.ctx.region) {
        // Cut off, this region's own node is read as it is: it may no longer be the primary, so the read is flagged.
        this.flightStale = `grey: stale read: ${this.ctx.region} is cut off from the Raft majority; this read was served by the local PostgreSQL, which may no longer be the primary`
        const backend = await this.acquire(pool)
        this.ctx.observe.routed(decision, kind)
        if (!backend) {
          this.flightStale = null
          return false
        }
        this.backend = backend
        this.backendPool = pool
        return true
      }
      if (fence !== null) return this.queueOrRefuse(messages, classes, fence)
      // After a failover, the new primary takes writes once it has left recovery; until then (up to failover_hold) wait.
      const problem = await this.ctx.awaitPrimary(null)
      if (problem !== null) return this.refuseFlight('57P03', problem)
      pool = this.ctx.nodes().primary
    }
    let backend = toPrimary ? await this.acquirePrimary(pool) : await this.acquire(pool)
    if (backend && decision.waitFor) {
      if (!(await this.awaitReplay(backend, pool, decision.waitFor.lsn))) {
        if (!backend.isClosed) this.putBack(pool, backend)
        decision = decision.waitFor.behind
        pool = nodes.primary
        backend = await this.acquire(pool)
      }
    }
    this.ctx.observe.routed(decision, kind)
    this.log.debug({ route: decision.region, target: decision.target, reason: decision.reason, rule: rule?.rule }, 'routed')
    if (!backend) return false
    this.backend = backend
    this.backendPool = pool
    return true
  }

  /** The connection this client keeps on `pool` (session pooling), else one from the pool; null when none (the client was told). */
  private async acquire(pool: BackendPool): Promise<BackendConnection | null> {
    const got = await this.tryAcquire(pool)
    if (!(got instanceof Error)) return got
    this.refuseFlight(got.sqlState ?? '08006', got.message)
    return null
  }

  /**
   * A connection to the primary. When the primary does not take it (a crash, a partition), a failover may be under
   * way: the flight waits up to failover_hold for the next epoch's primary instead of failing at once.
   */
  private async acquirePrimary(pool: BackendPool): Promise<BackendConnection | null> {
    const epoch = this.ctx.nodes().epoch
    const got = await this.tryAcquire(pool)
    if (!(got instanceof Error)) return got
    if (got.sqlState === '53300') {
      this.refuseFlight('53300', got.message)
      return null
    }
    const problem = await this.ctx.awaitPrimary(epoch)
    if (problem !== null) {
      this.refuseFlight('57P03', `${got.message}; ${problem}`)
      return null
    }
    return this.acquire(this.ctx.nodes().primary)
  }

  private async tryAcquire(pool: BackendPool): Promise<BackendConnection | BackendError> {
    const kept = this.kept.get(pool)
    if (kept) {
      this.kept.delete(pool)
      if (!kept.isClosed) return kept
      pool.discard(kept)
    }
    try {
      return await pool.acquire()
    } catch (err) {
      const e = err as BackendError
      this.ctx.observe.backendError(pool.node.region, e.sqlState === '53300' ? 'pool_timeout' : 'connect')
      return e
    }
  }

  /**
   * Cut off from the Raft majority: a write that opted in (the queue hint, partition.queue.tables) and can be queued is
   * stored durably and answered as queued — never as committed; anything else is refused with 25006.
   */
  private async queueOrRefuse(messages: readonly RegularMessage[], classes: SqlClassification[], fence: string): Promise<false> {
    const queue = this.ctx.queue
    const decision = decideQueueable({
      messages,
      classes,
      inTransaction: this.heldBegin !== null,
      tables: queue?.tables ?? NO_TABLES,
      storeConfigured: queue !== null,
      prepared: (name) => this.prepared.get(name),
    })
    if (!decision.queue) return this.refuseFlight('25006', fence + fenceQueueAdvice(decision, queue !== null))
    const queued = await queue!.enqueue({
      user: this.user,
      database: this.ctx.database,
      sql: decision.sql,
      mode: decision.mode,
      paramTypes: decision.paramTypes,
      params: decision.params,
      settings: [...this.settings],
    })
    if (typeof queued === 'string') return this.refuseFlight('25006', `${fence}. ${queued}`)
    this.log.info({ id: queued.id, hlc: queued.hlc, why: decision.why }, 'write queued while cut off from the Raft majority')
    this.socket.write(this.queuedReply(messages, decision, queued))
    return false
  }

  /** The replies a queued write gets: those of a statement that wrote 0 rows, with the WARNING that it is only queued. */
  private queuedReply(messages: readonly RegularMessage[], decision: Extract<QueueDecision, { queue: true }>, queued: QueuedWrite): Buffer {
    const warning = msg.noticeResponse({ severity: 'WARNING', code: QUEUED_SQLSTATE, message: queuedMessage(this.ctx.region, queued) })
    const out: Buffer[] = []
    for (const m of messages) {
      switch (m.type) {
        case 'Query':
          out.push(warning, msg.commandComplete(decision.tag), msg.readyForQuery('I'))
          break
        case 'Parse':
          // Bound later on a server that lacks it, the statement is re-issued from here.
          this.prepared.set(m.name, { raw: Buffer.from(m.raw), sql: m.query, paramTypes: m.paramTypes })
          out.push(msg.parseComplete())
          break
        case 'Bind':
          out.push(msg.bindComplete())
          break
        case 'Describe':
          if (m.kind === 'S') out.push(msg.parameterDescription(decision.paramTypes.map((t) => (t === 0 ? TEXT_OID : t))))
          out.push(msg.noData())
          break
        case 'Execute':
          out.push(warning, msg.commandComplete(decision.tag))
          break
        default:
          // decideQueueable lets nothing else through but the Sync that ends the round trip.
          out.push(msg.readyForQuery('I'))
      }
    }
    return Buffer.concat(out)
  }

  /** Ends the flight with an error and ReadyForQuery, the statement not run. */
  private refuseFlight(code: string, message: string): false {
    this.heldBegin = null
    this.socket.write(Buffer.concat([msg.errorResponse({ severity: 'ERROR', code, message }), msg.readyForQuery('I')]))
    return false
  }

  /** A connection taken but not used: kept by session pooling, else back to its pool. */
  private putBack(pool: BackendPool, backend: BackendConnection): void {
    if (this.ctx.poolMode === 'session') this.kept.set(pool, backend)
    else pool.release(backend)
  }

  /**
   * Session reads: asks the replica how far it has replayed until it reaches `lsn` (true) or routing.session_wait
   * runs out (false). Each ask is one local round trip; what it learns is shared with the other sessions.
   */
  private async awaitReplay(backend: BackendConnection, pool: BackendPool, lsn: bigint): Promise<boolean> {
    const deadline = Date.now() + this.ctx.sessionWaitMs
    for (;;) {
      let replayed: bigint | null
      try {
        const r = await queryBackend(backend, 'SELECT pg_last_wal_replay_lsn()::text')
        replayed = r.error === null ? parseLsn(r.rows[0]) : null
      } catch {
        pool.discard(backend)
        return false
      }
      if (replayed !== null) this.ctx.noteReplicaApplied(pool.node.region, replayed)
      if (replayed !== null && replayed >= lsn) return true
      if (replayed === null || Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }

  /**
   * Between statements a held server connection (in a transaction, pinned, or kept by session pooling)
   * may still speak: LISTEN's notifications, notices, parameter changes go to the client as they come.
   */
  private relayBetweenStatements(backend: BackendConnection): void {
    backend.onFrame = (frame) => {
      if (
        frame.type === BackendMessageType.NotificationResponse ||
        frame.type === BackendMessageType.NoticeResponse ||
        frame.type === BackendMessageType.ParameterStatus
      )
        this.socket.write(frame.buffer.subarray(frame.offset, frame.offset + frame.length))
    }
  }

  /** Adds a message Grey sends on its own; its reply of type `replyType` is kept from the client. */
  private inject(out: Buffer[], message: Buffer, replyType: number): void {
    out.push(message)
    this.swallow.push({ type: replyType, simple: false })
  }

  /** Adds a simple Query of Grey's own (several statements); its replies, up to its ReadyForQuery, are kept from the client. */
  private injectSimple(out: Buffer[], statements: string[]): void {
    out.push(serialize.query(statements.join(';')))
    for (const _ of statements) this.swallow.push({ type: BackendMessageType.CommandComplete, simple: true })
    this.swallow.push({ type: BackendMessageType.ReadyForQuery, simple: true })
  }

  /** Statements the proxy answers itself: a held-back BEGIN, its immediate end, grey.* settings. */
  private answerLocally(sql: string): boolean {
    const c = this.classify(sql)
    if (c.greySetting) {
      this.socket.write(this.greySettingReply(c))
      return true
    }
    if (this.backend || c.statementKinds.length !== 1) return false
    if (c.transaction?.kind === 'begin' && !this.heldBegin) {
      this.heldBegin = { sql, readOnly: c.transaction.readOnly === true }
      this.socket.write(Buffer.concat([msg.commandComplete('BEGIN'), msg.readyForQuery('T')]))
      return true
    }
    if (this.heldBegin && (c.transaction?.kind === 'commit' || c.transaction?.kind === 'rollback')) {
      // Nothing ran: there is nothing to commit or roll back on any server.
      this.heldBegin = null
      this.socket.write(
        Buffer.concat([msg.commandComplete(c.transaction.kind === 'commit' ? 'COMMIT' : 'ROLLBACK'), msg.readyForQuery('I')]),
      )
      return true
    }
    return false
  }

  private greySettingReply(c: SqlClassification): Buffer {
    const s = c.greySetting!
    const ready = msg.readyForQuery(this.transactionStatus())
    if (s.problem) return Buffer.concat([msg.errorResponse({ severity: 'ERROR', code: '22023', message: s.problem }), ready])
    if (s.name === 'grey.token' || s.name === 'grey.after') return Buffer.concat([this.tokenSettingReply(s.action, s.value), ready])
    if (s.name !== 'grey.consistency') {
      return Buffer.concat([
        msg.errorResponse({ severity: 'ERROR', code: '0A000', message: `grey: ${s.name} is not available yet in this version of Grey` }),
        ready,
      ])
    }
    switch (s.action) {
      case 'set':
        this.consistency = (s.value ?? null) as ConsistencyLevel | null
        return Buffer.concat([msg.commandComplete('SET'), ready])
      case 'reset':
        this.consistency = null
        return Buffer.concat([msg.commandComplete('RESET'), ready])
      case 'show':
        return Buffer.concat([
          msg.rowDescription([{ name: s.name, typeOid: 25, typeSize: -1 }]),
          msg.dataRow([this.consistency ?? this.ctx.defaultConsistency]),
          msg.commandComplete('SHOW'),
          ready,
        ])
    }
  }

  /**
   * After a flight on the primary outside a transaction: the session's token moves to the primary's position (from
   * the trailer query, or — after a COPY that wrote — from one more query) and the HLC's time now.
   */
  private async advanceToken(backend: BackendConnection, fromTrailer: boolean): Promise<void> {
    let lsn = fromTrailer ? this.trailerLsn : null
    if (!fromTrailer && !backend.isClosed) {
      const r = await queryBackend(backend, COMMIT_POSITION_QUERY).catch(() => null)
      lsn = r?.error === null ? parseLsn(r.rows[0]) : null
    }
    this.trailerLsn = null
    if (lsn === null) {
      this.log.warn('the commit position of a write could not be read; the session token did not advance')
      return
    }
    this.token = mergeTokens(this.token, { epoch: this.ctx.nodes().epoch, lsn, hlc: this.ctx.clock.now(), cql: {} })
  }

  /** Whether a simple query is SHOW grey.token / grey.after, which prints the token. */
  private showsToken(sql: string): boolean {
    const s = this.classify(sql).greySetting
    return s !== null && s.action === 'show' && (s.name === 'grey.token' || s.name === 'grey.after')
  }

  /**
   * Brings the token up to a read that ran on this region's primary without the trailer query: the primary's position
   * now is at least the one that read saw. One round trip to the local primary; on failure the token stays behind
   * (the primary is out of reach, so nothing newer can be read from it either) and the log says so.
   */
  private async settlePrimaryRead(): Promise<void> {
    this.primaryReadUnsettled = false
    const nodes = this.ctx.nodes()
    const got = await this.tryAcquire(nodes.primary)
    if (got instanceof Error) {
      this.log.warn({ err: got.message }, 'the position of a read on the primary could not be read; the session token did not advance')
      return
    }
    const r = await queryBackend(got, COMMIT_POSITION_QUERY).catch(() => null)
    const lsn = r?.error === null ? parseLsn(r.rows[0]) : null
    if (got.isClosed) nodes.primary.discard(got)
    else this.putBack(nodes.primary, got)
    if (lsn === null) {
      this.log.warn('the position of a read on the primary could not be read; the session token did not advance')
      return
    }
    this.token = mergeTokens(this.token, { epoch: nodes.epoch, lsn, hlc: this.ctx.clock.now(), cql: {} })
  }

  /** SHOW grey.token / grey.after print the session's token; SET grey.after merges one in; RESET grey.after forgets it. */
  private tokenSettingReply(action: 'set' | 'reset' | 'show', value: string | undefined): Buffer {
    if (action === 'show') {
      return Buffer.concat([
        msg.rowDescription([{ name: 'grey.token', typeOid: 25, typeSize: -1 }]),
        msg.dataRow([formatToken(this.token)]),
        msg.commandComplete('SHOW'),
      ])
    }
    if (action === 'reset') {
      this.token = EMPTY_TOKEN
      return msg.commandComplete('RESET')
    }
    const problem = this.adoptToken(value ?? '')
    return problem === null ? msg.commandComplete('SET') : msg.errorResponse({ severity: 'ERROR', code: '22023', message: problem })
  }

  /** Merges a token a client brought into the session's and the HLC; a sentence when it cannot be used. */
  private adoptToken(text: string): string | null {
    const token = parseToken(text)
    if (token instanceof TokenParseError) return token.message
    const merged = this.ctx.clock.update(token.hlc)
    if (merged instanceof HlcRemoteAheadError) return `grey: the token's clock is from the future: ${merged.message}`
    this.token = mergeTokens(this.token, token)
    return null
  }

  /** A session-level SET that succeeded outside a transaction becomes part of the session. */
  private recordSettings(classes: SqlClassification[], status: 'I' | 'T' | 'E'): void {
    if (status !== 'I') return
    let changed = false
    for (const c of classes) {
      for (const change of c.session) {
        if ('local' in change && change.local) continue
        changed = true
        if (change.kind === 'reset_all' || (change.kind === 'discard' && change.what === 'all')) this.settings = []
        else if (change.kind === 'reset') this.settings = this.settings.filter((s) => !s.toLowerCase().startsWith(`set ${change.name}`))
        else if (change.kind === 'set')
          this.settings = [
            ...this.settings.filter((s) => !s.toLowerCase().startsWith(`set ${change.name} `)),
            `SET ${change.name} TO ${change.value === null ? 'DEFAULT' : sqlLiteral(change.value)}`,
          ]
      }
    }
    if (changed) this.settingsKey = this.settings.join(';')
    if (changed && this.backend) this.backend.appliedSettings = this.settingsKey
  }

  /**
   * Sends `bytes` and relays the backend's frames to the client until ReadyForQuery (or, for a
   * Flush-ended batch, until the bytes went out). Returns the transaction status, or null when the
   * backend was lost (the client has been told).
   */
  private relay(
    backend: BackendConnection,
    bytes: Buffer,
    waitsForReady: boolean,
    trailer = false,
  ): Promise<'I' | 'T' | 'E' | 'ok-flush' | null> {
    return new Promise((resolve) => {
      /** Once the client's ReadyForQuery went out, the frames answer the trailer query: its status waits here. */
      let clientStatus: 'I' | 'T' | 'E' | null = null
      const assembler = new FrameAssembler()
      this.abandonRelay = () => resolve(null)
      const socket = this.socket
      // Consecutive frames of one backend chunk go out as one write (STYLE §8): the run [runStart, runEnd) of runBuffer.
      let runBuffer: Buffer | null = null
      let runStart = 0
      let runEnd = 0
      const flush = (): void => {
        if (runBuffer) socket.write(runStart === 0 && runEnd === runBuffer.length ? runBuffer : runBuffer.subarray(runStart, runEnd))
        runBuffer = null
      }
      let errorForwarded = false
      /** The parts of a failed injected simple query's ErrorResponse, turned into a warning for the client. */
      let injectedError: Buffer[] | null = null
      backend.onFrame = (frame: BackendFrame) => {
        if (clientStatus !== null) {
          if (frame.type === BackendMessageType.DataRow) {
            const whole = assembler.push(frame)
            if (whole) this.trailerLsn = parseLsn(dataRowFirstColumn(whole))
          } else if (frame.type === BackendMessageType.ReadyForQuery && frame.tail) {
            this.relayBetweenStatements(backend)
            backend.onClose = null
            this.trailerPending = false
            this.abandonRelay = null
            resolve(clientStatus)
          } else if (frame.type === BackendMessageType.NotificationResponse || frame.type === BackendMessageType.NoticeResponse) {
            this.socket.write(frame.buffer.subarray(frame.offset, frame.offset + frame.length))
          }
          return
        }
        const expected = this.swallow[0]
        if (injectedError) {
          injectedError.push(Buffer.from(frame.buffer.subarray(frame.offset, frame.offset + frame.length)))
          if (frame.tail) {
            this.warnInjectedFailed(Buffer.concat(injectedError))
            injectedError = null
          }
          return
        }
        if (expected && frame.head && frame.type === expected.type) {
          if (frame.tail) this.swallow.shift()
          return
        }
        if (expected && frame.type === BackendMessageType.ErrorResponse) {
          if (expected.simple) {
            // Grey's own simple query failed: the server goes on to its ReadyForQuery and then the client's messages.
            while (this.swallow[0]?.type !== BackendMessageType.ReadyForQuery) this.swallow.shift()
            injectedError = [Buffer.from(frame.buffer.subarray(frame.offset, frame.offset + frame.length))]
            if (frame.tail) {
              this.warnInjectedFailed(Buffer.concat(injectedError))
              injectedError = null
            }
            return
          }
          // An injected extended message failed: the client sees the error; the server skips to the client's Sync.
          this.swallow = []
        }
        if (runBuffer === frame.buffer && runEnd === frame.offset) runEnd += frame.length
        else {
          flush()
          runBuffer = frame.buffer
          runStart = frame.offset
          runEnd = frame.offset + frame.length
        }
        if (frame.type === BackendMessageType.ErrorResponse) {
          errorForwarded = true
          const conflict = frame.head && frame.tail ? CONFLICTS.get(parseNoticeFields(frame).code ?? '') : undefined
          if (conflict !== undefined) this.ctx.observe.conflict(conflict)
        } else if (frame.type === BackendMessageType.NoticeResponse && frame.head && frame.tail) {
          if (SYNC_WAIT_CANCELLED.test(parseNoticeFields(frame).message ?? '')) {
            flush()
            this.warnUnconfirmedCommit(backend)
          }
        }
        if (frame.type === BackendMessageType.ReadyForQuery && frame.tail && frame.head) {
          flush()
          if (trailer) {
            this.trailerLsn = null
            clientStatus = readyForQueryStatus(frame)
            this.trailerPending = true
            return
          }
          // Frames after it in this chunk (a notification) must not be lost before the session decides what to keep.
          this.relayBetweenStatements(backend)
          backend.onClose = null
          resolve(readyForQueryStatus(frame))
        }
      }
      backend.onChunkEnd = flush
      backend.onClose = (err) => {
        flush()
        // Lost while answering the trailer: the client's statement is done; it hears of the loss on its next one.
        if (clientStatus !== null) {
          this.trailerPending = false
          return resolve(clientStatus)
        }
        this.backendLost(backend, err, errorForwarded)
        resolve(null)
      }
      if (backend.isClosed) {
        // It died between statements (idle in a transaction): nothing was sent, the client learns now.
        this.backendLost(backend, null, false)
        return resolve(null)
      }
      backend.write(bytes)
      if (!waitsForReady) resolve('ok-flush')
    })
  }

  /**
   * Right behind PostgreSQL's own warning, Grey's: the commit is not durable in Grey's sense (a failover may promote a
   * standby without it), so the client must not take it as done. Counted, logged, and the session token does not
   * treat it as replicated any more than PostgreSQL does.
   */
  private warnUnconfirmedCommit(backend: BackendConnection): void {
    const region = backend.node.region
    this.ctx.observe.unconfirmedCommit(region)
    this.log.warn({ node: region }, 'a commit was acknowledged without the synchronous standby')
    this.socket.write(
      msg.noticeResponse({
        severity: 'WARNING',
        code: '01000',
        message:
          `grey: this commit is not known to be durable: PostgreSQL ${region} committed it, but its wait for the synchronous ` +
          'standby was cancelled, so a failover may promote a standby without it. Treat it as uncertain: read it back ' +
          'with consistency=strong before relying on it, and do not count it as done',
      }),
    )
  }

  /** A statement Grey replayed (a SET, the held-back BEGIN) failed: the client hears it as a warning. */
  private warnInjectedFailed(errorResponse: Buffer): void {
    const f = parseNoticeFields({
      type: BackendMessageType.ErrorResponse,
      buffer: errorResponse,
      offset: 0,
      length: errorResponse.length,
      frameLength: errorResponse.length,
      head: true,
      tail: true,
    })
    const message = `grey: replaying this session's state on PostgreSQL ${this.backend?.node.region ?? ''} failed: ${f.message ?? 'unknown error'}`
    this.log.warn({ code: f.code, err: f.message }, 'replaying session state failed')
    // The server's state is now unknown to Grey: whoever uses this connection next starts from a reset.
    if (this.backend) this.backend.appliedSettings = '\0unknown'
    this.socket.write(msg.noticeResponse({ severity: 'WARNING', code: f.code ?? '01000', message }))
  }

  /** The session's server connection is gone: tell the client, forget the connection, go on. */
  private backendLost(backend: BackendConnection, err: Error | null, clientHasError: boolean): void {
    backend.onClose = null
    this.backendPool?.discard(backend)
    this.backend = null
    this.backendPool = null
    this.pinnedBy = null
    this.ctx.observe.backendError(backend.node.region, 'lost')
    const detail = err ? `: ${err.message}` : ''
    this.log.warn({ node: backend.node.region, err: err?.message }, 'backend lost while serving a client')
    // The server's own last words (e.g. FATAL 57P01) already answered the statement: only end it.
    if (clientHasError) return void this.socket.write(msg.readyForQuery('I'))
    this.socket.write(
      Buffer.concat([
        msg.errorResponse({
          severity: 'ERROR',
          code: '08006',
          message: `grey: the connection to PostgreSQL ${backend.node.region} was lost${detail}; any open transaction is rolled back. Retry: the next statement goes to a healthy server`,
        }),
        msg.readyForQuery('I'),
      ]),
    )
  }

  private releaseBackend(): void {
    const backend = this.backend
    const pool = this.backendPool
    this.backend = null
    this.backendPool = null
    if (!backend || !pool) return
    if (this.ctx.poolMode === 'session') {
      this.kept.set(pool, backend)
      this.relayBetweenStatements(backend)
    } else pool.release(backend)
  }

  private end(): void {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    if (this.timer) clearTimeout(this.timer)
    const backend = this.backend
    if (backend && this.backendPool) {
      // Mid-statement the server's state is unknown: the connection is not reused. Idle (pinned), it is reset and
      // reused — also when only the trailer's replies are still due (the client had its answer and left at once).
      if (this.trailerPending && this.flights.length === 0) {
        this.abandonRelay?.()
        this.backendPool.releaseAfterReset(backend, 1)
      } else if (this.busy || this.flights.length > 0 || this.pinnedBy === null) this.backendPool.discard(backend)
      else this.backendPool.releaseAfterReset(backend)
    }
    for (const [pool, conn] of this.kept) pool.releaseAfterReset(conn)
    this.kept.clear()
    this.backend = null
    this.socket.destroy()
    this.onEnd(this)
  }
}

function sqlOf(m: RegularMessage): string[] {
  return m.type === 'Query' ? [m.query] : m.type === 'Parse' ? [m.query] : []
}
