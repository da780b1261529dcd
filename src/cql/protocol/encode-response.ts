import { CqlBufferWriter } from './cql-buffer-writer.js'
import { writeCqlType } from './cql-type.js'
import { CqlOpcode, FrameFlag, RESPONSE_DIRECTION, type CqlVersion } from './frame-header.js'
import {
  ERROR_DETAILS_KIND,
  ResultKind,
  RowsFlag,
  SCHEMA_TARGET_PARTS,
  type ColumnSpec,
  type CqlEvent,
  type ErrorResponse,
  type PreparedMetadata,
  type ResponseExtras,
  type ResponseMessage,
  type ResultResponse,
  type RowsMetadata,
  type SchemaChange,
} from './response-messages.js'

const writer = new CqlBufferWriter(1024)

export interface ResponseFrameOptions extends ResponseExtras {
  /** The connection's version, 4 unless told. Warnings and custom payloads exist from v4 on. */
  version?: CqlVersion
}

/**
 * One response frame, for the answers Grey gives itself (v4 spec §4.2): errors, the handshake, system.local rows,
 * relayed events. Messages that do not fit their notation (a row with the wrong number of cells, ERROR details that do
 * not match the code) throw RangeError or TypeError: they are Grey's bugs, not the peer's.
 */
export function encodeResponse(message: ResponseMessage, stream: number, options: ResponseFrameOptions = {}): Buffer {
  const version = options.version ?? 4
  const { tracingId, warnings, customPayload } = options
  if (version < 4 && (warnings !== undefined || customPayload !== undefined)) {
    throw new RangeError('warnings and custom payloads do not exist before protocol v4')
  }
  const flags =
    (tracingId !== undefined ? FrameFlag.Tracing : 0) |
    (customPayload !== undefined ? FrameFlag.CustomPayload : 0) |
    (warnings !== undefined ? FrameFlag.Warning : 0)
  writer.reset()
  writer.startFrame(RESPONSE_DIRECTION | version, flags, stream, OPCODES[message.type])
  if (tracingId !== undefined) writer.uuid(tracingId)
  if (warnings !== undefined) writer.stringList(warnings)
  if (customPayload !== undefined) writer.bytesMap(customPayload)
  switch (message.type) {
    case 'ERROR':
      writeError(message)
      break
    case 'READY':
      break
    case 'AUTHENTICATE':
      writer.string(message.authenticator)
      break
    case 'SUPPORTED':
      writer.stringMultimap(message.options)
      break
    case 'RESULT':
      writeResult(message, version)
      break
    case 'EVENT':
      writeEvent(message.event)
      break
    case 'AUTH_CHALLENGE':
    case 'AUTH_SUCCESS':
      writer.bytes(message.token)
      break
  }
  return writer.endFrame().toBuffer()
}

const OPCODES: Record<ResponseMessage['type'], number> = {
  ERROR: CqlOpcode.Error,
  READY: CqlOpcode.Ready,
  AUTHENTICATE: CqlOpcode.Authenticate,
  SUPPORTED: CqlOpcode.Supported,
  RESULT: CqlOpcode.Result,
  EVENT: CqlOpcode.Event,
  AUTH_CHALLENGE: CqlOpcode.AuthChallenge,
  AUTH_SUCCESS: CqlOpcode.AuthSuccess,
}

function writeError(error: ErrorResponse): void {
  const expected = ERROR_DETAILS_KIND.get(error.code)
  const details = error.details
  if (details?.kind !== expected) {
    throw new TypeError(
      `ERROR 0x${error.code.toString(16).padStart(4, '0')} takes ${expected === undefined ? 'no details' : `'${expected}' details`}, not ${details === undefined ? 'none' : `'${details.kind}'`}`,
    )
  }
  writer.int(error.code).string(error.message)
  if (details === undefined) return
  switch (details.kind) {
    case 'unavailable':
      writer.consistency(details.consistency).int(details.required).int(details.alive)
      return
    case 'write-timeout':
      writer.consistency(details.consistency).int(details.received).int(details.blockFor).string(details.writeType)
      return
    case 'read-timeout':
      writer
        .consistency(details.consistency)
        .int(details.received)
        .int(details.blockFor)
        .byte(details.dataPresent ? 1 : 0)
      return
    case 'read-failure':
      writer.consistency(details.consistency).int(details.received).int(details.blockFor).int(details.failures)
      writer.byte(details.dataPresent ? 1 : 0)
      return
    case 'function-failure':
      writer.string(details.keyspace).string(details.functionName).stringList(details.argTypes)
      return
    case 'write-failure':
      writer.consistency(details.consistency).int(details.received).int(details.blockFor).int(details.failures)
      writer.string(details.writeType)
      return
    case 'already-exists':
      writer.string(details.keyspace).string(details.table)
      return
    case 'unprepared':
      writer.shortBytes(details.id)
      return
  }
}

function writeResult(result: ResultResponse, version: CqlVersion): void {
  switch (result.kind) {
    case 'Void':
      writer.int(ResultKind.Void)
      return
    case 'Rows': {
      writer.int(ResultKind.Rows)
      const { columnCount } = result.metadata
      writeRowsMetadata(result.metadata)
      writer.int(result.rows.length)
      for (const row of result.rows) {
        if (row.length !== columnCount) throw new RangeError(`a row has ${row.length} cells but the result has ${columnCount} columns`)
        for (const cell of row) writer.bytes(cell)
      }
      return
    }
    case 'Set_keyspace':
      writer.int(ResultKind.SetKeyspace).string(result.keyspace)
      return
    case 'Prepared':
      writer.int(ResultKind.Prepared).shortBytes(result.id)
      writePreparedMetadata(result.metadata, version)
      writeRowsMetadata(result.resultMetadata)
      return
    case 'Schema_change':
      writer.int(ResultKind.SchemaChange)
      writeSchemaChange(result)
  }
}

function writeRowsMetadata(metadata: RowsMetadata): void {
  const { columns, pagingState } = metadata
  if (columns !== undefined && columns.length !== metadata.columnCount) {
    throw new RangeError(`columnCount is ${metadata.columnCount} but ${columns.length} column specs are given`)
  }
  const global = columns === undefined ? undefined : sharedTable(columns)
  const flags =
    (global !== undefined ? RowsFlag.GlobalTablesSpec : 0) |
    (pagingState !== undefined ? RowsFlag.HasMorePages : 0) |
    (columns === undefined ? RowsFlag.NoMetadata : 0)
  writer.int(flags).int(metadata.columnCount)
  if (pagingState !== undefined) writer.bytes(pagingState)
  if (columns !== undefined) writeColumns(columns, global)
}

function writePreparedMetadata(metadata: PreparedMetadata, version: CqlVersion): void {
  const global = sharedTable(metadata.columns)
  writer.int(global !== undefined ? RowsFlag.GlobalTablesSpec : 0).int(metadata.columns.length)
  if (version >= 4) {
    writer.int(metadata.partitionKeyIndexes.length)
    for (const index of metadata.partitionKeyIndexes) writer.short(index)
  }
  writeColumns(metadata.columns, global)
}

/** The one keyspace and table of every column, or undefined when they differ (or there are no columns). */
function sharedTable(columns: readonly ColumnSpec[]): ColumnSpec | undefined {
  const first = columns[0]
  if (first === undefined) return undefined
  return columns.every((c) => c.keyspace === first.keyspace && c.table === first.table) ? first : undefined
}

function writeColumns(columns: readonly ColumnSpec[], global: ColumnSpec | undefined): void {
  if (global !== undefined) writer.string(global.keyspace).string(global.table)
  for (const column of columns) {
    if (global === undefined) writer.string(column.keyspace).string(column.table)
    writer.string(column.name)
    writeCqlType(writer, column.type)
  }
}

function writeSchemaChange(change: SchemaChange): void {
  writer.string(change.change).string(change.target).string(change.keyspace)
  const parts = SCHEMA_TARGET_PARTS.get(change.target)
  if (parts === undefined) throw new RangeError(`unknown schema change target ${JSON.stringify(change.target)}`)
  if (parts >= 2) {
    if (change.name === undefined) throw new RangeError(`a ${change.target} schema change names its ${change.target.toLowerCase()}`)
    writer.string(change.name)
  }
  if (parts === 3) writer.stringList(change.argTypes ?? [])
}

function writeEvent(event: CqlEvent): void {
  writer.string(event.kind)
  if (event.kind === 'SCHEMA_CHANGE') writeSchemaChange(event)
  else writer.string(event.change).inet(event.node)
}
