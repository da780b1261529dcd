import { randomBytes } from 'node:crypto'
import { createConnection, type Socket } from 'node:net'
import { serialize } from 'pg-protocol/dist/serializer'
import { encodeScramNonce } from '../auth/scram-syntax.js'
import { continueScramClient, finishScramClient, startScramClient, type ScramClientState } from '../auth/scram-client.js'
import { md5SaltedResponse } from '../auth/md5-auth.js'
import { BackendMessageType } from '../protocol/backend-message-type.js'
import {
  BackendScanner,
  parseAuthenticationRequest,
  parseBackendKeyData,
  parseNoticeFields,
  parseParameterStatus,
  type BackendFrame,
} from '../protocol/backend-scanner.js'

export interface BackendNode {
  /** The region this PostgreSQL serves. */
  region: string
  host: string
  port: number
}

export interface BackendCredentials {
  user: string
  password: string
  database: string
}

export class BackendError extends Error {
  constructor(
    message: string,
    /** SQLSTATE to give the client. */
    readonly sqlState: string,
  ) {
    super(message)
  }
}

/**
 * One authenticated connection to a PostgreSQL server. After start-up, every frame it receives is
 * handed to `onFrame`, set by whichever client session holds the connection.
 */
export class BackendConnection {
  readonly parameters = new Map<string, string>()
  processId = 0
  secretKey: Buffer = Buffer.alloc(0)
  /** Named statements this server has prepared, name → SQL; sessions share the server, so names collide. */
  readonly prepared = new Map<string, string>()
  /** The SET statements this server runs with, as one text: compared to a session's before use. */
  appliedSettings = ''
  onFrame: ((frame: BackendFrame) => void) | null = null
  onClose: ((error: Error | null) => void) | null = null
  /** Called after each chunk's frames, so a relay can uncork once per chunk. */
  onChunkEnd: (() => void) | null = null
  private readonly scanner = new BackendScanner()
  private closed = false

  private constructor(
    readonly node: BackendNode,
    private readonly socket: Socket,
  ) {}

  get isClosed(): boolean {
    return this.closed
  }

  static connect(
    node: BackendNode,
    credentials: BackendCredentials,
    options: { timeoutMs: number; applicationName: string },
  ): Promise<BackendConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: node.host, port: node.port })
      socket.setNoDelay(true)
      const conn = new BackendConnection(node, socket)
      let scram: ScramClientState | null = null
      let settled = false
      const fail = (err: Error): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      const timer = setTimeout(
        () =>
          fail(
            new BackendError(
              `grey: PostgreSQL ${node.region} (${node.host}:${node.port}) did not finish start-up within ${options.timeoutMs} ms`,
              '08001',
            ),
          ),
        options.timeoutMs,
      )
      socket.on('error', (err) => {
        if (!settled)
          fail(new BackendError(`grey: cannot connect to PostgreSQL ${node.region} (${node.host}:${node.port}): ${err.message}`, '08001'))
        else conn.close(err)
      })
      socket.on('close', () => {
        if (!settled) fail(new BackendError(`grey: PostgreSQL ${node.region} closed the connection during start-up`, '08001'))
        else conn.close(null)
      })
      socket.on('data', (chunk: Buffer) => {
        try {
          conn.scanner.push(chunk)
          for (let frame = conn.scanner.next(); frame; frame = conn.scanner.next()) {
            if (settled) {
              conn.onFrame?.(frame)
              continue
            }
            switch (frame.type) {
              case BackendMessageType.Authentication: {
                const request = parseAuthenticationRequest(frame)
                switch (request.type) {
                  case 'Ok':
                    if (scram && scram.phase !== 'verified')
                      throw new BackendError(`grey: PostgreSQL ${node.region} skipped the SCRAM server proof`, '28000')
                    break
                  case 'CleartextPassword':
                    socket.write(serialize.password(credentials.password))
                    break
                  case 'MD5Password':
                    socket.write(serialize.password(md5SaltedResponse({ password: credentials.password }, credentials.user, request.salt)))
                    break
                  case 'SASL': {
                    const start = startScramClient({
                      password: credentials.password,
                      clientNonce: encodeScramNonce(randomBytes(18)),
                      serverMechanisms: request.mechanisms,
                    })
                    if (!start.ok) throw new BackendError(`grey: ${start.failure.message}`, '28000')
                    scram = start.state
                    socket.write(serialize.sendSASLInitialResponseMessage(start.mechanism, start.data.toString('latin1')))
                    break
                  }
                  case 'SASLContinue': {
                    if (!scram) throw new BackendError('grey: SASLContinue before SASL', '08P01')
                    const step = continueScramClient(scram, request.data)
                    if (!step.ok)
                      throw new BackendError(`grey: SCRAM with PostgreSQL ${node.region} failed: ${step.failure.message}`, '28000')
                    scram = step.state
                    socket.write(serialize.sendSCRAMClientFinalMessage(step.data.toString('latin1')))
                    break
                  }
                  case 'SASLFinal': {
                    if (!scram) throw new BackendError('grey: SASLFinal before SASL', '08P01')
                    const done = finishScramClient(scram, request.data)
                    if (!done.ok)
                      throw new BackendError(
                        `grey: PostgreSQL ${node.region} failed the SCRAM server proof: ${done.failure.message}`,
                        '28000',
                      )
                    scram = done.state
                    break
                  }
                  default:
                    throw new BackendError(`grey: PostgreSQL ${node.region} asks for an authentication method Grey does not speak`, '28000')
                }
                break
              }
              case BackendMessageType.ParameterStatus: {
                const p = parseParameterStatus(frame)
                conn.parameters.set(p.name, p.value)
                break
              }
              case BackendMessageType.BackendKeyData: {
                const k = parseBackendKeyData(frame)
                conn.processId = k.processId
                conn.secretKey = k.secretKey
                break
              }
              case BackendMessageType.ErrorResponse: {
                const f = parseNoticeFields(frame)
                throw new BackendError(
                  `grey: PostgreSQL ${node.region} refused Grey's connection: ${f.message ?? 'unknown error'}`,
                  f.code ?? '08001',
                )
              }
              case BackendMessageType.ReadyForQuery:
                settled = true
                clearTimeout(timer)
                resolve(conn)
                break
              default:
                break
            }
          }
          conn.onChunkEnd?.()
        } catch (err) {
          if (!settled) fail(err instanceof Error ? err : new Error(String(err)))
          else conn.close(err instanceof Error ? err : new Error(String(err)))
        }
      })
      socket.write(
        serialize.startup({
          user: credentials.user,
          database: credentials.database,
          application_name: options.applicationName,
          client_encoding: 'UTF8',
        }),
      )
    })
  }

  write(data: Buffer): void {
    if (!this.closed) this.socket.write(data)
  }

  /** Ends the connection politely (Terminate) and reports it closed. */
  terminate(): void {
    if (this.closed) return
    this.socket.end(serialize.end())
    this.close(null)
  }

  close(error: Error | null): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
    this.onClose?.(error)
  }
}

/** Sends a CancelRequest for `conn`'s current query on a connection of its own, as PostgreSQL wants. */
export function cancelBackendQuery(conn: BackendConnection): void {
  const socket = createConnection({ host: conn.node.host, port: conn.node.port })
  const body = Buffer.alloc(16)
  body.writeInt32BE(16, 0)
  body.writeInt32BE(80877102, 4)
  body.writeInt32BE(conn.processId, 8)
  conn.secretKey.copy(body, 12, 0, 4)
  socket.on('error', () => undefined)
  socket.end(body)
}
