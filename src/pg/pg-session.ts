import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { TLSSocket, type SecureContext } from 'node:tls'
import type { Logger } from 'pino'
import { serialize } from 'pg-protocol/dist/serializer'
import type { ConsistencyLevel } from '../config/config-schema.js'
import { decidePgRoute, type PgRouteDecision } from '../routing/decide-pg-route.js'
import { classifySql, type SqlClassification } from '../routing/sql-classifier.js'
import { chooseAuth, isLoopbackAddress, type ClientAuthConfig } from './auth/auth-method.js'
import type { PgAuthError } from './auth/auth-failure.js'
import { verifyMd5Response } from './auth/md5-auth.js'
import { encodeScramNonce } from './auth/scram-syntax.js'
import { scramServerMechanisms, startScramServer, stepScramServer, type ScramServerState } from './auth/scram-server.js'
import { BackendError, cancelBackendQuery, type BackendConnection } from './backend/backend-connection.js'
import type { BackendPool } from './backend/backend-pool.js'
import { BackendMessageType } from './protocol/backend-message-type.js'
import { readyForQueryStatus, type BackendFrame } from './protocol/backend-scanner.js'
import * as msg from './protocol/backend-serializer.js'
import { parsePasswordMessage, parseSaslInitialResponse, type FrontendMessage, type RegularMessage } from './protocol/frontend-messages.js'
import { FrontendParser } from './protocol/frontend-parser.js'
import { ProtocolError } from './protocol/protocol-error.js'

/** What a session needs from the front end that owns it. */
export interface PgSessionContext {
  region: string
  database: string
  auth: ClientAuthConfig
  defaultConsistency: ConsistencyLevel
  writingFunctions: readonly string[]
  primary: BackendPool
  localReplica: BackendPool | null
  /** TLS toward clients when a certificate is configured; SSLRequest is answered 'N' otherwise. */
  tls: SecureContext | null
  log: Logger
  /** Counts a routing decision (grey_query_routing_total). */
  routed(decision: PgRouteDecision): void
  /** Finds the session a CancelRequest names, by the key Grey handed out. */
  findByKey(processId: number, secretKey: Buffer): PgSession | undefined
}

const CONSISTENCIES: readonly string[] = ['strong', 'bounded', 'session', 'eventual']

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
  private readonly parser = new FrontendParser({ phase: 'startup' })
  private phase: 'startup' | 'auth' | 'ready' | 'closed' = 'startup'
  private user = ''
  private scram: ScramServerState | null = null
  private md5: { salt: Buffer; check: (response: string) => boolean } | null = null
  private consistency: ConsistencyLevel
  /** A held-back BEGIN: sent with the next statement, so that statement decides the route. */
  private heldBegin: { sql: string; readOnly: boolean } | null = null
  private backend: BackendConnection | null = null
  private backendPool: BackendPool | null = null
  private pinnedBy: string | null = null
  private readonly flights: Flight[] = []
  private pending: RegularMessage[] = []
  private busy = false
  /** Backend frames to drop from the client stream: replies to what Grey injected. */
  private swallow: number[] = []
  /** Named statements of this session: name → the client's Parse bytes and SQL, re-issued where missing. */
  private readonly prepared = new Map<string, { raw: Buffer; sql: string }>()
  /** SET statements in force for this session, replayed on every backend it uses. */
  private settings: string[] = []
  private readonly log: Logger

  constructor(
    private socket: Socket,
    private readonly ctx: PgSessionContext,
    private readonly onEnd: (session: PgSession) => void,
  ) {
    this.consistency = ctx.defaultConsistency
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

  close(reason: string): void {
    if (this.phase === 'closed') return
    this.socket.end(msg.errorResponse({ severity: 'FATAL', code: '57P01', message: reason }))
    this.end()
  }

  private onData(chunk: Buffer): void {
    try {
      this.parser.push(chunk)
      for (let m = this.parser.read(); m; m = this.parser.read()) this.onMessage(m)
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
        this.phase = 'auth'
        this.beginAuth()
        return
      }
      default:
        return this.fatal('08P01', 'grey: expected a start-up packet')
    }
  }

  private beginAuth(): void {
    const decision = chooseAuth(this.user, this.ctx.auth, isLoopbackAddress(this.socket.remoteAddress))
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
    const pool = this.ctx.localReplica?.healthy ? this.ctx.localReplica : this.ctx.primary
    try {
      if (!pool.parameters) pool.release(await pool.acquire())
    } catch (err) {
      const e = err as BackendError
      return this.fatal(e.sqlState ?? '08001', e.message)
    }
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
  }

  private classify(sql: string): SqlClassification {
    return classifySql(sql, { writingFunctions: this.ctx.writingFunctions })
  }

  private async runFlight(flight: Flight): Promise<void> {
    const simple = flight.messages.length === 1 && flight.messages[0]?.type === 'Query' ? flight.sql[0] : undefined
    if (simple !== undefined && this.answerLocally(simple)) return
    const classes = flight.sql.map((s) => this.classify(s))
    for (const m of flight.messages) {
      if (m.type === 'Bind') {
        const known = this.prepared.get(m.statement)
        if (known) classes.push(this.classify(known.sql))
      }
    }
    if (!this.backend) {
      const write = classes.find((c) => c.access === 'write')
      const first = classes[0]
      const classification = write ?? first ?? this.classify('SELECT')
      const decision = decidePgRoute({
        classification,
        sessionConsistency: this.consistency,
        readOnlyTransaction: this.heldBegin?.readOnly ?? false,
        primary: { region: this.ctx.primary.node.region, healthy: this.ctx.primary.healthy },
        localReplica: this.ctx.localReplica ? { region: this.ctx.localReplica.node.region, healthy: this.ctx.localReplica.healthy } : null,
      })
      this.ctx.routed(decision)
      this.log.debug({ route: decision.region, target: decision.target, reason: decision.reason }, 'routed')
      const pool = decision.target === 'primary' ? this.ctx.primary : (this.ctx.localReplica ?? this.ctx.primary)
      try {
        this.backend = await pool.acquire()
        this.backendPool = pool
      } catch (err) {
        const e = err as BackendError
        this.heldBegin = null
        this.socket.write(
          Buffer.concat([
            msg.errorResponse({ severity: 'ERROR', code: e.sqlState ?? '08006', message: e.message }),
            msg.readyForQuery('I'),
          ]),
        )
        return
      }
    }
    const backend = this.backend
    const out: Buffer[] = []
    this.swallow = []
    if (backend.appliedSettings !== this.settings.join(';')) {
      // RESET ALL then this session's SETs, in one simple query whose replies the client never sees.
      const sql = ['RESET ALL', ...this.settings].join(';')
      out.push(serialize.query(sql))
      this.swallow.push(
        ...Array<number>(this.settings.length + 1).fill(BackendMessageType.CommandComplete),
        BackendMessageType.ReadyForQuery,
      )
      backend.appliedSettings = this.settings.join(';')
    }
    if (this.heldBegin) {
      out.push(serialize.query(this.heldBegin.sql))
      this.swallow.push(BackendMessageType.CommandComplete, BackendMessageType.ReadyForQuery)
      this.heldBegin = null
    }
    const parsedHere = new Set<string>()
    for (const m of flight.messages) {
      if (m.type === 'Parse' && m.name !== '') {
        this.prepared.set(m.name, { raw: Buffer.from(m.raw), sql: m.query })
        // Another session may have left this name on the shared server: close it first, silently.
        if (backend.prepared.has(m.name)) this.inject(out, serialize.close({ type: 'S', name: m.name }), BackendMessageType.CloseComplete)
        backend.prepared.set(m.name, m.query)
        parsedHere.add(m.name)
      }
      const needs = m.type === 'Bind' ? m.statement : m.type === 'Describe' && m.kind === 'S' ? m.name : ''
      const known = needs === '' || parsedHere.has(needs) ? undefined : this.prepared.get(needs)
      if (known && backend.prepared.get(needs) !== known.sql) {
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
    const status = await this.relay(backend, Buffer.concat(out), waitsForReady)
    if (status === null) return
    if (status === 'ok-flush') return
    this.recordSettings(classes, status)
    if (status === 'I' && !this.pinnedBy) this.releaseBackend()
  }

  /** Adds a message Grey sends on its own; its reply of type `replyType` is kept from the client. */
  private inject(out: Buffer[], message: Buffer, replyType: number): void {
    out.push(message)
    this.swallow.push(replyType)
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
    if (s.name !== 'grey.consistency') {
      return Buffer.concat([
        msg.errorResponse({ severity: 'ERROR', code: '0A000', message: `grey: ${s.name} is not available yet in this version of Grey` }),
        ready,
      ])
    }
    switch (s.action) {
      case 'set':
        this.consistency = (s.value ?? this.ctx.defaultConsistency) as ConsistencyLevel
        return Buffer.concat([msg.commandComplete('SET'), ready])
      case 'reset':
        this.consistency = this.ctx.defaultConsistency
        return Buffer.concat([msg.commandComplete('RESET'), ready])
      case 'show':
        return Buffer.concat([
          msg.rowDescription([{ name: s.name, typeOid: 25, typeSize: -1 }]),
          msg.dataRow([this.consistency]),
          msg.commandComplete('SHOW'),
          ready,
        ])
    }
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
            `SET ${change.name} TO ${change.value === null ? 'DEFAULT' : quoteLiteral(change.value)}`,
          ]
      }
    }
    if (changed && this.backend) this.backend.appliedSettings = this.settings.join(';')
  }

  /**
   * Sends `bytes` and relays the backend's frames to the client until ReadyForQuery (or, for a
   * Flush-ended batch, until the bytes went out). Returns the transaction status, or null when the
   * backend was lost (the client has been told).
   */
  private relay(backend: BackendConnection, bytes: Buffer, waitsForReady: boolean): Promise<'I' | 'T' | 'E' | 'ok-flush' | null> {
    return new Promise((resolve) => {
      const socket = this.socket
      let corked = false
      let errorForwarded = false
      backend.onFrame = (frame: BackendFrame) => {
        if (this.swallow.length > 0 && frame.head && frame.type === this.swallow[0]) {
          if (frame.tail) this.swallow.shift()
          return
        }
        if (this.swallow.length > 0 && frame.type === BackendMessageType.ErrorResponse) {
          // Something Grey injected failed: the client sees the error and the server skips the rest of the flight.
          // (Known gap: an injected simple query's own ReadyForQuery then reaches the client too.)
          this.swallow = []
        }
        if (!corked) {
          socket.cork()
          corked = true
        }
        socket.write(frame.buffer.subarray(frame.offset, frame.offset + frame.length))
        if (frame.type === BackendMessageType.ErrorResponse) errorForwarded = true
        if (frame.type === BackendMessageType.ReadyForQuery && frame.tail && frame.head) {
          backend.onFrame = null
          backend.onClose = null
          socket.uncork()
          corked = false
          resolve(readyForQueryStatus(frame))
        }
      }
      backend.onChunkEnd = () => {
        if (corked) {
          socket.uncork()
          corked = false
        }
      }
      backend.onClose = (err) => {
        if (corked) socket.uncork()
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

  /** The session's server connection is gone: tell the client, forget the connection, go on. */
  private backendLost(backend: BackendConnection, err: Error | null, clientHasError: boolean): void {
    backend.onClose = null
    this.backendPool?.discard(backend)
    this.backend = null
    this.backendPool = null
    this.pinnedBy = null
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
    if (this.backend && this.backendPool) this.backendPool.release(this.backend)
    this.backend = null
    this.backendPool = null
  }

  private end(): void {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    const backend = this.backend
    if (backend && this.backendPool) {
      // Mid-transaction or mid-protocol: the server state is unknown, so the connection is not reused.
      this.backendPool.discard(backend)
    }
    this.backend = null
    this.socket.destroy()
    this.onEnd(this)
  }
}

function sqlOf(m: RegularMessage): string[] {
  return m.type === 'Query' ? [m.query] : m.type === 'Parse' ? [m.query] : []
}

function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
