import { CqlBufferReader } from './cql-buffer-reader.js'
import { CqlProtocolError } from './cql-protocol-error.js'
import type { CqlValue } from './cql-value.js'
import { CqlOpcode, FrameFlag, opcodeName, type FrameHeader } from './frame-header.js'
import {
  QueryFlag,
  type BatchStatement,
  type CustomPayload,
  type DecodedBatchRequest,
  type DecodedExecuteRequest,
  type DecodedQueryRequest,
  type DecodedRequest,
  type ParameterOffsets,
  type PrepareRequest,
  type QueryParameters,
} from './request-messages.js'

const QUERY_FLAGS = 0x7f
const BATCH_FLAGS = QueryFlag.WithSerialConsistency | QueryFlag.WithDefaultTimestamp
const MIN_LONG = -(2n ** 63n)
const RESPONSE_OPCODES = new Set<number>([
  CqlOpcode.Error,
  CqlOpcode.Ready,
  CqlOpcode.Authenticate,
  CqlOpcode.Supported,
  CqlOpcode.Result,
  CqlOpcode.Event,
  CqlOpcode.AuthChallenge,
  CqlOpcode.AuthSuccess,
])
const PAYLOAD_OPCODES = new Set<number>([CqlOpcode.Query, CqlOpcode.Prepare, CqlOpcode.Execute, CqlOpcode.Batch])

/**
 * Decodes the body of a request frame (v4 spec §4.1). A malformed body throws CqlProtocolError on the frame's stream;
 * so does an opcode a client may not send. Bytes after the last field are an error: the proxy rewrites these bodies
 * and must understand all of them.
 */
export function decodeRequest(header: FrameHeader, body: Buffer): DecodedRequest {
  const name = opcodeName(header.opcode)
  const reader = new CqlBufferReader(body, 0, body.length, `${name} message`, header.stream)
  if (header.response) throw reader.error('has the response direction bit set; a client sends requests')
  if ((header.flags & FrameFlag.Compression) !== 0) throw reader.error('is compressed, but no compression was negotiated')
  let customPayload: CustomPayload | undefined
  if ((header.flags & FrameFlag.CustomPayload) !== 0) {
    if (!PAYLOAD_OPCODES.has(header.opcode))
      throw reader.error('has a custom payload; only QUERY, PREPARE, EXECUTE and BATCH may carry one')
    customPayload = reader.bytesMap()
  }
  const message = decodeMessage(header, reader, customPayload)
  reader.expectEnd()
  return message
}

function decodeMessage(header: FrameHeader, reader: CqlBufferReader, payload: CustomPayload | undefined): DecodedRequest {
  switch (header.opcode) {
    case CqlOpcode.Startup:
      return { type: 'STARTUP', options: reader.stringMap() }
    case CqlOpcode.AuthResponse:
      return { type: 'AUTH_RESPONSE', token: reader.bytes() }
    case CqlOpcode.Options:
      return { type: 'OPTIONS' }
    case CqlOpcode.Query: {
      const query = reader.longString()
      const { parameters, offsets } = readQueryParameters(reader)
      return withPayload<DecodedQueryRequest>({ type: 'QUERY', query, parameters, offsets }, payload)
    }
    case CqlOpcode.Prepare:
      return withPayload<PrepareRequest>({ type: 'PREPARE', query: reader.longString() }, payload)
    case CqlOpcode.Execute: {
      const id = reader.shortBytes()
      const { parameters, offsets } = readQueryParameters(reader)
      return withPayload<DecodedExecuteRequest>({ type: 'EXECUTE', id, parameters, offsets }, payload)
    }
    case CqlOpcode.Batch:
      return withPayload(readBatch(reader), payload)
    case CqlOpcode.Register:
      return { type: 'REGISTER', events: reader.stringList() }
    default:
      throw new CqlProtocolError(
        RESPONSE_OPCODES.has(header.opcode)
          ? `${opcodeName(header.opcode)} is a response; a client cannot send it`
          : `unknown ${opcodeName(header.opcode)} in a request`,
        header.stream,
      )
  }
}

function withPayload<T extends { customPayload?: CustomPayload }>(message: T, payload: CustomPayload | undefined): T {
  if (payload !== undefined) message.customPayload = payload
  return message
}

/** <consistency><flags>[<n>[name_1]<value_1>…][<result_page_size>][<paging_state>][<serial_consistency>][<timestamp>] */
function readQueryParameters(reader: CqlBufferReader): { parameters: QueryParameters; offsets: ParameterOffsets } {
  const consistencyAt = reader.offset
  const consistency = reader.consistency()
  const flagsAt = reader.offset
  const flags = reader.byte()
  // v5 and DSE use more bits (keyspace 0x80, …) with fields this decoder would not know how to skip.
  if ((flags & ~QUERY_FLAGS) !== 0) throw reader.error(`has query flags 0x${hex(flags)}; protocol v4 defines only 0x01 to 0x40`)
  const parameters: QueryParameters = { consistency, skipMetadata: (flags & QueryFlag.SkipMetadata) !== 0 }
  if ((flags & QueryFlag.Values) !== 0) {
    const named = (flags & QueryFlag.WithNamesForValues) !== 0
    const count = reader.short()
    const values: CqlValue[] = []
    const names: string[] = []
    for (let i = 0; i < count; i++) {
      if (named) names.push(reader.string())
      values.push(reader.value())
    }
    parameters.values = values
    if (named) parameters.names = names
  }
  if ((flags & QueryFlag.PageSize) !== 0) parameters.pageSize = reader.int()
  if ((flags & QueryFlag.WithPagingState) !== 0) parameters.pagingState = reader.bytes()
  if ((flags & QueryFlag.WithSerialConsistency) !== 0) parameters.serialConsistency = reader.consistency()
  const timestampAt = reader.offset
  if ((flags & QueryFlag.WithDefaultTimestamp) !== 0) parameters.timestamp = readTimestamp(reader)
  return { parameters, offsets: { consistency: consistencyAt, flags: flagsAt, timestamp: timestampAt } }
}

/** <type><n><query_1>…<query_n><consistency><flags>[<serial_consistency>][<timestamp>] */
function readBatch(reader: CqlBufferReader): DecodedBatchRequest {
  const batchType = reader.byte()
  if (batchType > 2) throw reader.error(`has batch type ${batchType}; only 0 (logged), 1 (unlogged) and 2 (counter) exist`)
  const count = reader.short()
  const statements: BatchStatement[] = []
  for (let i = 0; i < count; i++) {
    const kind = reader.byte()
    let statement: BatchStatement
    if (kind === 0) statement = { kind: 'query', query: reader.longString(), values: [] }
    else if (kind === 1) statement = { kind: 'prepared', id: reader.shortBytes(), values: [] }
    else throw reader.error(`has statement kind ${kind}; only 0 (query string) and 1 (prepared id) exist`)
    const valueCount = reader.short()
    for (let j = 0; j < valueCount; j++) statement.values.push(reader.value())
    statements.push(statement)
  }
  const consistencyAt = reader.offset
  const consistency = reader.consistency()
  const flagsAt = reader.offset
  const flags = reader.byte()
  if ((flags & QueryFlag.WithNamesForValues) !== 0) {
    // v4 spec §4.1.7: names for values in BATCH "does not work and should not be used" (CASSANDRA-10246).
    throw reader.error('sets flag 0x40 (names for values), which BATCH does not support')
  }
  if ((flags & ~BATCH_FLAGS) !== 0) throw reader.error(`has batch flags 0x${hex(flags)}; only 0x10 and 0x20 are allowed`)
  const batch: DecodedBatchRequest = {
    type: 'BATCH',
    batchType,
    statements,
    consistency,
    offsets: { consistency: consistencyAt, flags: flagsAt, timestamp: 0 },
  }
  if ((flags & QueryFlag.WithSerialConsistency) !== 0) batch.serialConsistency = reader.consistency()
  batch.offsets.timestamp = reader.offset
  if ((flags & QueryFlag.WithDefaultTimestamp) !== 0) batch.timestamp = readTimestamp(reader)
  return batch
}

/** Cassandra refuses only Long.MIN_VALUE, its "no timestamp" marker. */
function readTimestamp(reader: CqlBufferReader): bigint {
  const timestamp = reader.long()
  if (timestamp === MIN_LONG) throw reader.error(`has default timestamp ${timestamp}, which is out of bounds`)
  return timestamp
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}
