import { CqlErrorCode } from './cql-error-code.js'
import type { CqlType } from './cql-type.js'
import type { InetAddress } from './inet-address.js'
import type { CustomPayload } from './request-messages.js'

// The messages a server sends (v4 spec §4.2). Byte fields of decoded messages are views into the frame.

/** The [int] kind that starts a RESULT body (v4 spec §4.2.5). */
export const ResultKind = {
  Void: 0x0001,
  Rows: 0x0002,
  SetKeyspace: 0x0003,
  Prepared: 0x0004,
  SchemaChange: 0x0005,
} as const

/** <flags> of Rows metadata (v4 spec §4.2.5.2). */
export const RowsFlag = {
  GlobalTablesSpec: 0x0001,
  HasMorePages: 0x0002,
  NoMetadata: 0x0004,
} as const

/** The fields that follow <code><message> for the error codes that have any (v4 spec §9). */
export type ErrorDetails =
  | { kind: 'unavailable'; consistency: number; required: number; alive: number }
  | { kind: 'write-timeout'; consistency: number; received: number; blockFor: number; writeType: string }
  | { kind: 'read-timeout'; consistency: number; received: number; blockFor: number; dataPresent: boolean }
  | { kind: 'read-failure'; consistency: number; received: number; blockFor: number; failures: number; dataPresent: boolean }
  | { kind: 'function-failure'; keyspace: string; functionName: string; argTypes: string[] }
  | { kind: 'write-failure'; consistency: number; received: number; blockFor: number; failures: number; writeType: string }
  | { kind: 'already-exists'; keyspace: string; table: string }
  | { kind: 'unprepared'; id: Buffer }

/** Which details an error code carries; codes not listed carry none. */
export const ERROR_DETAILS_KIND: ReadonlyMap<number, ErrorDetails['kind']> = new Map<number, ErrorDetails['kind']>([
  [CqlErrorCode.Unavailable, 'unavailable'],
  [CqlErrorCode.WriteTimeout, 'write-timeout'],
  [CqlErrorCode.ReadTimeout, 'read-timeout'],
  [CqlErrorCode.ReadFailure, 'read-failure'],
  [CqlErrorCode.FunctionFailure, 'function-failure'],
  [CqlErrorCode.WriteFailure, 'write-failure'],
  [CqlErrorCode.AlreadyExists, 'already-exists'],
  [CqlErrorCode.Unprepared, 'unprepared'],
])

export interface ErrorResponse {
  type: 'ERROR'
  code: number
  message: string
  /** Present exactly for the codes of ERROR_DETAILS_KIND. */
  details?: ErrorDetails
}

export interface ReadyResponse {
  type: 'READY'
}

export interface AuthenticateResponse {
  type: 'AUTHENTICATE'
  /** The IAuthenticator's class name, e.g. org.apache.cassandra.auth.PasswordAuthenticator. */
  authenticator: string
}

export interface SupportedResponse {
  type: 'SUPPORTED'
  /** Each STARTUP option and its values: CQL_VERSION, COMPRESSION, PROTOCOL_VERSIONS, … */
  options: Map<string, string[]>
}

export interface AuthChallengeResponse {
  type: 'AUTH_CHALLENGE'
  token: Buffer | null
}

export interface AuthSuccessResponse {
  type: 'AUTH_SUCCESS'
  token: Buffer | null
}

/** A column of a result, or a bind marker of a prepared statement. */
export interface ColumnSpec {
  keyspace: string
  table: string
  name: string
  type: CqlType
}

/**
 * <metadata> of a Rows result (and <result_metadata> of a Prepared one). When every column is of one table, the
 * encoder writes the Global_tables_spec form; the decoder fills each column's keyspace and table either way.
 */
export interface RowsMetadata {
  columnCount: number
  /** Absent when the No_metadata flag is set (the query asked to skip it). */
  columns?: ColumnSpec[]
  /** Present exactly when the Has_more_pages flag is set. */
  pagingState?: Buffer | null
}

/** <metadata> of a Prepared result: the bind markers. */
export interface PreparedMetadata {
  columns: ColumnSpec[]
  /** Bind marker index of each partition key column, in key order (v4; always empty in v3). */
  partitionKeyIndexes: number[]
}

/** <change_type><target><options> of a schema change, in RESULT and EVENT alike (v4 spec §4.2.6). */
export interface SchemaChange {
  /** CREATED, UPDATED or DROPPED. */
  change: string
  /** KEYSPACE, TABLE, TYPE, FUNCTION or AGGREGATE. */
  target: string
  keyspace: string
  /** The table, type, function or aggregate; absent for KEYSPACE. */
  name?: string
  /** Argument types (as CQL types) of a FUNCTION or AGGREGATE. */
  argTypes?: string[]
}

export interface VoidResult {
  type: 'RESULT'
  kind: 'Void'
}

export interface RowsResult {
  type: 'RESULT'
  kind: 'Rows'
  metadata: RowsMetadata
  /** columnCount [bytes] per row; null is a null cell. */
  rows: (Buffer | null)[][]
}

export interface SetKeyspaceResult {
  type: 'RESULT'
  kind: 'Set_keyspace'
  keyspace: string
}

export interface PreparedResult {
  type: 'RESULT'
  kind: 'Prepared'
  id: Buffer
  metadata: PreparedMetadata
  resultMetadata: RowsMetadata
}

export interface SchemaChangeResult extends SchemaChange {
  type: 'RESULT'
  kind: 'Schema_change'
}

export type ResultResponse = VoidResult | RowsResult | SetKeyspaceResult | PreparedResult | SchemaChangeResult

/** An event pushed to connections that REGISTERed for its kind, on stream -1. */
export type CqlEvent =
  | { kind: 'TOPOLOGY_CHANGE'; change: string; node: InetAddress }
  | { kind: 'STATUS_CHANGE'; change: string; node: InetAddress }
  | ({ kind: 'SCHEMA_CHANGE' } & SchemaChange)

export interface EventResponse {
  type: 'EVENT'
  event: CqlEvent
}

export type ResponseMessage =
  | ErrorResponse
  | ReadyResponse
  | AuthenticateResponse
  | SupportedResponse
  | ResultResponse
  | EventResponse
  | AuthChallengeResponse
  | AuthSuccessResponse

/** What a response body may carry before its message, in this order, each announced by a header flag. */
export interface ResponseExtras {
  /** Flag 0x02: a [uuid]. */
  tracingId?: Buffer
  /** Flag 0x08: a [string list] (v4). */
  warnings?: string[]
  /** Flag 0x04: a [bytes map] (v4). */
  customPayload?: CustomPayload
}

/** How many parts follow <target>: the keyspace; then the name; then the argument types. */
export const SCHEMA_TARGET_PARTS: ReadonlyMap<string, 1 | 2 | 3> = new Map<string, 1 | 2 | 3>([
  ['KEYSPACE', 1],
  ['TABLE', 2],
  ['TYPE', 2],
  ['FUNCTION', 3],
  ['AGGREGATE', 3],
])
