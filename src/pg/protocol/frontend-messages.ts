import { BufferReader } from './buffer-reader.js'
import { ProtocolError } from './protocol-error.js'

/** Startup-phase packets have no type byte; the Int32 after the length tells them apart. */
export const SSL_REQUEST_CODE = 80877103 // 1234 << 16 | 5679
export const GSSENC_REQUEST_CODE = 80877104 // 1234 << 16 | 5680
export const CANCEL_REQUEST_CODE = 80877102 // 1234 << 16 | 5678

/** Type bytes of the messages a client sends after startup. */
export const FrontendMessageType = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: only the auth phase says which. */
  AuthenticationResponse: 0x70, // p
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const

/** Every message keeps its exact bytes (type byte and length included) so that the proxy can forward them. */
interface Framed {
  /** A view into the received chunk, not a copy: copy it (`Buffer.from(raw)`) before keeping it for long. */
  raw: Buffer
}

export interface SSLRequest extends Framed {
  type: 'SSLRequest'
}

export interface GSSENCRequest extends Framed {
  type: 'GSSENCRequest'
}

/** Sent on a fresh connection; the server answers nothing and closes it. */
export interface CancelRequest extends Framed {
  type: 'CancelRequest'
  processId: number
  /** 4 bytes up to protocol 3.0; protocol 3.2 allows 1 to 256. */
  secretKey: Buffer
}

export interface StartupMessage extends Framed {
  type: 'StartupMessage'
  majorVersion: 3
  /** 0 for 3.0; a client asking for more (3.2) must be told the highest minor Grey speaks (NegotiateProtocolVersion). */
  minorVersion: number
  /** In packet order; later duplicates win, as in PostgreSQL. Names starting with `_pq_.` are protocol options. */
  parameters: Map<string, string>
}

export interface Query extends Framed {
  type: 'Query'
  query: string
}

export interface Parse extends Framed {
  type: 'Parse'
  /** Prepared statement name; '' is the unnamed statement. */
  name: string
  query: string
  /** Type OIDs the client fixes in advance; 0 leaves a parameter's type unspecified. */
  paramTypes: number[]
}

export interface Bind extends Framed {
  type: 'Bind'
  portal: string
  statement: string
  /** Empty: all text; one code: it applies to every parameter; else one per parameter. */
  paramFormats: number[]
  /** Views into the message; null is SQL NULL (length -1). */
  params: (Buffer | null)[]
  resultFormats: number[]
}

/** 'S' prepared statement, 'P' portal. */
export type StatementOrPortal = 'S' | 'P'

export interface Describe extends Framed {
  type: 'Describe'
  kind: StatementOrPortal
  name: string
}

export interface Execute extends Framed {
  type: 'Execute'
  portal: string
  /** 0 (or less) means no limit. */
  maxRows: number
}

export interface Close extends Framed {
  type: 'Close'
  kind: StatementOrPortal
  name: string
}

export interface Sync extends Framed {
  type: 'Sync'
}

export interface Flush extends Framed {
  type: 'Flush'
}

export interface Terminate extends Framed {
  type: 'Terminate'
}

export interface CopyData extends Framed {
  type: 'CopyData'
  data: Buffer
}

export interface CopyDone extends Framed {
  type: 'CopyDone'
}

export interface CopyFail extends Framed {
  type: 'CopyFail'
  message: string
}

/** The legacy fast-path call; decoded only so that the proxy can refuse it with a proper error. */
export interface FunctionCall extends Framed {
  type: 'FunctionCall'
  functionOid: number
  argFormats: number[]
  args: (Buffer | null)[]
  resultFormat: number
}

/**
 * Type 'p'. Its body is a PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse depending on what the
 * server asked for: decode `data` with `parsePasswordMessage` or `parseSaslInitialResponse`, or use it as is
 * (SASLResponse).
 */
export interface AuthenticationResponse extends Framed {
  type: 'AuthenticationResponse'
  data: Buffer
}

export type StartupPhaseMessage = SSLRequest | GSSENCRequest | CancelRequest | StartupMessage

export type RegularMessage =
  | Query
  | Parse
  | Bind
  | Describe
  | Execute
  | Close
  | Sync
  | Flush
  | Terminate
  | CopyData
  | CopyDone
  | CopyFail
  | FunctionCall
  | AuthenticationResponse

export type FrontendMessage = StartupPhaseMessage | RegularMessage

export interface SaslInitialResponse {
  mechanism: string
  /** The client-first-message; null when the client sent none (length -1). */
  data: Buffer | null
}

/** PasswordMessage: the password (or `md5…` hash) as one NUL-terminated string filling the body. */
export function parsePasswordMessage(data: Buffer): string {
  const reader = new BufferReader(data, 0, data.length, 'password message')
  const password = reader.cstring()
  reader.expectEnd()
  return password
}

/** SASLInitialResponse: mechanism name, Int32 length (or -1), then that many bytes. */
export function parseSaslInitialResponse(data: Buffer): SaslInitialResponse {
  const reader = new BufferReader(data, 0, data.length, 'SASLInitialResponse message')
  const mechanism = reader.cstring()
  const length = reader.int32()
  if (length < -1) throw new ProtocolError(`SASLInitialResponse message declares an invalid response length (${length})`)
  const response = length === -1 ? null : reader.bytes(length)
  reader.expectEnd()
  return { mechanism, data: response }
}
