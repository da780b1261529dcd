import { CqlBufferReader } from './cql-buffer-reader.js'
import { CqlProtocolError } from './cql-protocol-error.js'
import { readCqlType } from './cql-type.js'
import { CqlOpcode, FrameFlag, opcodeName, type FrameHeader } from './frame-header.js'
import {
  ERROR_DETAILS_KIND,
  ResultKind,
  RowsFlag,
  SCHEMA_TARGET_PARTS,
  type ColumnSpec,
  type CqlEvent,
  type ErrorDetails,
  type ErrorResponse,
  type PreparedMetadata,
  type ResponseExtras,
  type ResponseMessage,
  type ResultResponse,
  type RowsMetadata,
  type SchemaChange,
} from './response-messages.js'

/** A response's extras and message; the message starts at body offset `messageOffset`. */
export interface DecodedResponse extends ResponseExtras {
  messageOffset: number
  message: ResponseMessage
}

/**
 * Reads only the extras a response body starts with (tracing id, warnings, custom payload, in that order) and returns
 * where the message begins: enough to relay a response whose message the proxy does not need.
 */
export function decodeResponseExtras(header: FrameHeader, body: Buffer): ResponseExtras & { messageOffset: number } {
  const reader = responseReader(header, body)
  return { ...readExtras(header, reader), messageOffset: reader.offset }
}

/**
 * Decodes a response body (v4 spec §4.2) from a backend: the proxy calls it only for the frames it must act on (ERROR
 * codes such as Unprepared, Prepared ids, system.local rows, schema changes), and relays the others untouched. Row
 * cells are views, not copies. Bytes after the message are ignored, as the spec asks of clients.
 */
export function decodeResponse(header: FrameHeader, body: Buffer): DecodedResponse {
  const reader = responseReader(header, body)
  const extras = readExtras(header, reader)
  const messageOffset = reader.offset
  return { ...extras, messageOffset, message: readMessage(header, reader) }
}

function responseReader(header: FrameHeader, body: Buffer): CqlBufferReader {
  const reader = new CqlBufferReader(body, 0, body.length, `${opcodeName(header.opcode)} message`, header.stream)
  if (!header.response) throw reader.error('lacks the response direction bit; a server sends responses')
  if ((header.flags & FrameFlag.Compression) !== 0) throw reader.error('is compressed, but no compression was negotiated')
  return reader
}

function readExtras(header: FrameHeader, reader: CqlBufferReader): ResponseExtras {
  const extras: ResponseExtras = {}
  if ((header.flags & FrameFlag.Tracing) !== 0) extras.tracingId = reader.uuid()
  if ((header.flags & FrameFlag.Warning) !== 0) extras.warnings = reader.stringList()
  if ((header.flags & FrameFlag.CustomPayload) !== 0) extras.customPayload = reader.bytesMap()
  return extras
}

function readMessage(header: FrameHeader, reader: CqlBufferReader): ResponseMessage {
  switch (header.opcode) {
    case CqlOpcode.Error:
      return readError(reader)
    case CqlOpcode.Ready:
      return { type: 'READY' }
    case CqlOpcode.Authenticate:
      return { type: 'AUTHENTICATE', authenticator: reader.string() }
    case CqlOpcode.Supported:
      return { type: 'SUPPORTED', options: reader.stringMultimap() }
    case CqlOpcode.Result:
      return readResult(reader, header.version)
    case CqlOpcode.Event:
      return { type: 'EVENT', event: readEvent(reader) }
    case CqlOpcode.AuthChallenge:
      return { type: 'AUTH_CHALLENGE', token: reader.bytes() }
    case CqlOpcode.AuthSuccess:
      return { type: 'AUTH_SUCCESS', token: reader.bytes() }
    default:
      throw new CqlProtocolError(`${opcodeName(header.opcode)} is not a response opcode`, header.stream)
  }
}

function readError(reader: CqlBufferReader): ErrorResponse {
  const code = reader.int()
  const message = reader.string()
  const kind = ERROR_DETAILS_KIND.get(code)
  const error: ErrorResponse = { type: 'ERROR', code, message }
  if (kind !== undefined) error.details = readErrorDetails(reader, kind)
  return error
}

function readErrorDetails(reader: CqlBufferReader, kind: ErrorDetails['kind']): ErrorDetails {
  switch (kind) {
    case 'unavailable':
      return { kind, consistency: reader.consistency(), required: reader.int(), alive: reader.int() }
    case 'write-timeout':
      return { kind, consistency: reader.consistency(), received: reader.int(), blockFor: reader.int(), writeType: reader.string() }
    case 'read-timeout':
      return { kind, consistency: reader.consistency(), received: reader.int(), blockFor: reader.int(), dataPresent: reader.byte() !== 0 }
    case 'read-failure':
      return {
        kind,
        consistency: reader.consistency(),
        received: reader.int(),
        blockFor: reader.int(),
        failures: reader.int(),
        dataPresent: reader.byte() !== 0,
      }
    case 'function-failure':
      return { kind, keyspace: reader.string(), functionName: reader.string(), argTypes: reader.stringList() }
    case 'write-failure':
      return {
        kind,
        consistency: reader.consistency(),
        received: reader.int(),
        blockFor: reader.int(),
        failures: reader.int(),
        writeType: reader.string(),
      }
    case 'already-exists':
      return { kind, keyspace: reader.string(), table: reader.string() }
    case 'unprepared':
      return { kind, id: reader.shortBytes() }
  }
}

function readResult(reader: CqlBufferReader, version: number): ResultResponse {
  const kind = reader.int()
  switch (kind) {
    case ResultKind.Void:
      return { type: 'RESULT', kind: 'Void' }
    case ResultKind.Rows: {
      const metadata = readRowsMetadata(reader)
      return { type: 'RESULT', kind: 'Rows', metadata, rows: readRows(reader, metadata.columnCount) }
    }
    case ResultKind.SetKeyspace:
      return { type: 'RESULT', kind: 'Set_keyspace', keyspace: reader.string() }
    case ResultKind.Prepared: {
      const id = reader.shortBytes()
      const metadata = readPreparedMetadata(reader, version)
      return { type: 'RESULT', kind: 'Prepared', id, metadata, resultMetadata: readRowsMetadata(reader) }
    }
    case ResultKind.SchemaChange:
      return { type: 'RESULT', kind: 'Schema_change', ...readSchemaChange(reader) }
    default:
      throw reader.error(`has an unknown result kind 0x${kind.toString(16).padStart(4, '0')}`)
  }
}

/** <flags><columns_count>[<paging_state>][<global_table_spec>?<col_spec_1>…<col_spec_n>] */
function readRowsMetadata(reader: CqlBufferReader): RowsMetadata {
  const flags = reader.int()
  const columnCount = reader.int()
  if (columnCount < 0) throw reader.error(`declares ${columnCount} columns`)
  const metadata: RowsMetadata = { columnCount }
  if ((flags & RowsFlag.HasMorePages) !== 0) metadata.pagingState = reader.bytes()
  // Without metadata the count is all there is; readRows checks it against the cells.
  if ((flags & RowsFlag.NoMetadata) === 0) metadata.columns = readColumns(reader, flags, count(reader, columnCount, 'columns'))
  return metadata
}

/** <flags><columns_count><pk_count>[<pk_index_1>…<pk_index_n>][<global_table_spec>?<col_spec_1>…<col_spec_n>]; v3 has no pk part. */
function readPreparedMetadata(reader: CqlBufferReader, version: number): PreparedMetadata {
  const flags = reader.int()
  const columnCount = count(reader, reader.int(), 'bind markers')
  const partitionKeyIndexes: number[] = []
  if (version >= 4) {
    const keyCount = count(reader, reader.int(), 'partition key indexes', 2)
    for (let i = 0; i < keyCount; i++) partitionKeyIndexes.push(reader.short())
  }
  return { columns: readColumns(reader, flags, columnCount), partitionKeyIndexes }
}

function readColumns(reader: CqlBufferReader, flags: number, columnCount: number): ColumnSpec[] {
  let keyspace = ''
  let table = ''
  const global = (flags & RowsFlag.GlobalTablesSpec) !== 0
  if (global) {
    keyspace = reader.string()
    table = reader.string()
  }
  const columns: ColumnSpec[] = []
  for (let i = 0; i < columnCount; i++) {
    if (!global) {
      keyspace = reader.string()
      table = reader.string()
    }
    const name = reader.string()
    columns.push({ keyspace, table, name, type: readCqlType(reader) })
  }
  return columns
}

/** <rows_count> then rows_count × columns_count [bytes]. */
function readRows(reader: CqlBufferReader, columnCount: number): (Buffer | null)[][] {
  const rowCount = reader.int()
  if (rowCount < 0) throw reader.error(`declares ${rowCount} rows`)
  if (rowCount > 0 && columnCount === 0) throw reader.error(`declares ${rowCount} rows of no columns`)
  count(reader, rowCount * columnCount, 'cells')
  const rows: (Buffer | null)[][] = []
  for (let i = 0; i < rowCount; i++) {
    const row: (Buffer | null)[] = []
    for (let j = 0; j < columnCount; j++) row.push(reader.bytes())
    rows.push(row)
  }
  return rows
}

/**
 * Checks an [int] count against the bytes left, each item taking at least `minBytes`, so that a hostile count cannot
 * make the decoder loop or allocate far beyond the frame's size.
 */
function count(reader: CqlBufferReader, n: number, what: string, minBytes = 4): number {
  if (n < 0 || n * minBytes > reader.remaining) {
    throw reader.error(`declares ${n} ${what}, more than its ${reader.remaining} remaining bytes can hold`)
  }
  return n
}

function readSchemaChange(reader: CqlBufferReader): SchemaChange {
  const change = reader.string()
  const target = reader.string()
  const parts = SCHEMA_TARGET_PARTS.get(target)
  if (parts === undefined) throw reader.error(`has an unknown schema change target ${JSON.stringify(target)}`)
  const schemaChange: SchemaChange = { change, target, keyspace: reader.string() }
  if (parts >= 2) schemaChange.name = reader.string()
  if (parts === 3) schemaChange.argTypes = reader.stringList()
  return schemaChange
}

function readEvent(reader: CqlBufferReader): CqlEvent {
  const kind = reader.string()
  switch (kind) {
    case 'TOPOLOGY_CHANGE':
    case 'STATUS_CHANGE':
      return { kind, change: reader.string(), node: reader.inet() }
    case 'SCHEMA_CHANGE':
      return { kind, ...readSchemaChange(reader) }
    default:
      throw reader.error(`has an unknown event type ${JSON.stringify(kind)}`)
  }
}
