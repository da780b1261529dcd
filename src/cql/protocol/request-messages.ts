import type { CqlValue } from './cql-value.js'

// The messages a driver sends (v4 spec §4.1). Byte fields are views into the frame they were decoded from: copy them
// (`Buffer.from(id)`) before keeping them past the frame, as the prepared-statement registry does.

/** The <flags> byte of QUERY and EXECUTE parameters (v4 spec §4.1.4); BATCH allows only the 0x10 and 0x20 bits. */
export const QueryFlag = {
  Values: 0x01,
  SkipMetadata: 0x02,
  PageSize: 0x04,
  WithPagingState: 0x08,
  WithSerialConsistency: 0x10,
  WithDefaultTimestamp: 0x20,
  WithNamesForValues: 0x40,
} as const

/** BATCH <type> (v4 spec §4.1.7). */
export const BatchType = {
  Logged: 0,
  Unlogged: 1,
  Counter: 2,
} as const

/** A [bytes map] carried before the message when the header's 0x04 flag is set (QUERY, PREPARE, EXECUTE, BATCH). */
export type CustomPayload = Map<string, Buffer | null>

/** <query_parameters> of QUERY and EXECUTE; an optional field is present exactly when its flag is set. */
export interface QueryParameters {
  consistency: number
  /** Bound values (flag 0x01), positional unless `names` is given. */
  values?: CqlValue[]
  /** The bind marker of each value, in order (flag 0x40 with 0x01). */
  names?: string[]
  /** Flag 0x02: the Rows result comes without column specs. */
  skipMetadata: boolean
  pageSize?: number
  pagingState?: Buffer | null
  serialConsistency?: number
  /** Default write timestamp in microseconds since the epoch (flag 0x20). */
  timestamp?: bigint
}

/**
 * Where the fields a proxy rewrites lie in the body (offsets from its first byte, custom payload included), for
 * `rewriteQueryParameters`.
 */
export interface ParameterOffsets {
  consistency: number
  flags: number
  /** The default timestamp [long] when flag 0x20 is set; else where it goes (after the serial consistency). */
  timestamp: number
}

export interface StartupRequest {
  type: 'STARTUP'
  /** CQL_VERSION (mandatory), COMPRESSION, DRIVER_NAME, DRIVER_VERSION, … */
  options: Map<string, string>
}

export interface AuthResponseRequest {
  type: 'AUTH_RESPONSE'
  token: Buffer | null
}

export interface OptionsRequest {
  type: 'OPTIONS'
}

export interface QueryRequest {
  type: 'QUERY'
  query: string
  parameters: QueryParameters
  customPayload?: CustomPayload
}

export interface PrepareRequest {
  type: 'PREPARE'
  query: string
  customPayload?: CustomPayload
}

export interface ExecuteRequest {
  type: 'EXECUTE'
  /** The prepared statement's id, from a Prepared result. */
  id: Buffer
  parameters: QueryParameters
  customPayload?: CustomPayload
}

/** One statement of a BATCH: <kind> 0 is a query string, 1 a prepared id; values are always positional. */
export type BatchStatement = { kind: 'query'; query: string; values: CqlValue[] } | { kind: 'prepared'; id: Buffer; values: CqlValue[] }

export interface BatchRequest {
  type: 'BATCH'
  /** 0 logged, 1 unlogged, 2 counter. */
  batchType: number
  statements: BatchStatement[]
  consistency: number
  serialConsistency?: number
  /** Default write timestamp in microseconds since the epoch (flag 0x20). */
  timestamp?: bigint
  customPayload?: CustomPayload
}

export interface RegisterRequest {
  type: 'REGISTER'
  /** TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE. */
  events: string[]
}

export type RequestMessage =
  StartupRequest | AuthResponseRequest | OptionsRequest | QueryRequest | PrepareRequest | ExecuteRequest | BatchRequest | RegisterRequest

export interface DecodedQueryRequest extends QueryRequest {
  offsets: ParameterOffsets
}

export interface DecodedExecuteRequest extends ExecuteRequest {
  offsets: ParameterOffsets
}

export interface DecodedBatchRequest extends BatchRequest {
  offsets: ParameterOffsets
}

/** What `decodeRequest` returns: the messages a proxy may rewrite carry the offsets to do it. */
export type DecodedRequest =
  | StartupRequest
  | AuthResponseRequest
  | OptionsRequest
  | DecodedQueryRequest
  | PrepareRequest
  | DecodedExecuteRequest
  | DecodedBatchRequest
  | RegisterRequest
