import { CqlBufferWriter } from './cql-buffer-writer.js'
import { CqlOpcode, FrameFlag, type CqlVersion } from './frame-header.js'
import { QueryFlag, type QueryParameters, type RequestMessage } from './request-messages.js'

const writer = new CqlBufferWriter(1024)

export interface RequestFrameOptions {
  /** 4 unless told. */
  version?: CqlVersion
  /** Sets the tracing flag (0x02): the response carries a tracing id. */
  tracing?: boolean
}

/**
 * One request frame, for the proxy's own connections to Cassandra (v4 spec §4.1). Frames relayed from a client are
 * not re-encoded: they keep their bytes and get a new stream id with `restampStreamId`.
 */
export function encodeRequest(message: RequestMessage, stream: number, options: RequestFrameOptions = {}): Buffer {
  const payload = 'customPayload' in message ? message.customPayload : undefined
  const flags = (options.tracing === true ? FrameFlag.Tracing : 0) | (payload !== undefined ? FrameFlag.CustomPayload : 0)
  writer.reset()
  writer.startFrame(options.version ?? 4, flags, stream, OPCODES[message.type])
  if (payload !== undefined) writer.bytesMap(payload)
  switch (message.type) {
    case 'STARTUP':
      writer.stringMap(message.options)
      break
    case 'AUTH_RESPONSE':
      writer.bytes(message.token)
      break
    case 'OPTIONS':
      break
    case 'QUERY':
      writer.longString(message.query)
      writeQueryParameters(message.parameters)
      break
    case 'PREPARE':
      writer.longString(message.query)
      break
    case 'EXECUTE':
      writer.shortBytes(message.id)
      writeQueryParameters(message.parameters)
      break
    case 'BATCH': {
      writer.byte(message.batchType).short(message.statements.length)
      for (const statement of message.statements) {
        if (statement.kind === 'query') writer.byte(0).longString(statement.query)
        else writer.byte(1).shortBytes(statement.id)
        writer.short(statement.values.length)
        for (const value of statement.values) writer.value(value)
      }
      const batchFlags =
        (message.serialConsistency !== undefined ? QueryFlag.WithSerialConsistency : 0) |
        (message.timestamp !== undefined ? QueryFlag.WithDefaultTimestamp : 0)
      writer.consistency(message.consistency).byte(batchFlags)
      if (message.serialConsistency !== undefined) writer.consistency(message.serialConsistency)
      if (message.timestamp !== undefined) writer.long(message.timestamp)
      break
    }
    case 'REGISTER':
      writer.stringList(message.events)
      break
  }
  return writer.endFrame().toBuffer()
}

const OPCODES: Record<RequestMessage['type'], number> = {
  STARTUP: CqlOpcode.Startup,
  AUTH_RESPONSE: CqlOpcode.AuthResponse,
  OPTIONS: CqlOpcode.Options,
  QUERY: CqlOpcode.Query,
  PREPARE: CqlOpcode.Prepare,
  EXECUTE: CqlOpcode.Execute,
  BATCH: CqlOpcode.Batch,
  REGISTER: CqlOpcode.Register,
}

function writeQueryParameters(parameters: QueryParameters): void {
  const { values, names } = parameters
  if (names !== undefined && (values === undefined || names.length !== values.length)) {
    throw new RangeError(`${names.length} value names for ${values?.length ?? 0} values`)
  }
  const flags =
    (values !== undefined ? QueryFlag.Values : 0) |
    (parameters.skipMetadata ? QueryFlag.SkipMetadata : 0) |
    (parameters.pageSize !== undefined ? QueryFlag.PageSize : 0) |
    (parameters.pagingState !== undefined ? QueryFlag.WithPagingState : 0) |
    (parameters.serialConsistency !== undefined ? QueryFlag.WithSerialConsistency : 0) |
    (parameters.timestamp !== undefined ? QueryFlag.WithDefaultTimestamp : 0) |
    (names !== undefined ? QueryFlag.WithNamesForValues : 0)
  writer.consistency(parameters.consistency).byte(flags)
  if (values !== undefined) {
    writer.short(values.length)
    values.forEach((value, i) => {
      if (names !== undefined) writer.string(names[i]!)
      writer.value(value)
    })
  }
  if (parameters.pageSize !== undefined) writer.int(parameters.pageSize)
  if (parameters.pagingState !== undefined) writer.bytes(parameters.pagingState)
  if (parameters.serialConsistency !== undefined) writer.consistency(parameters.serialConsistency)
  if (parameters.timestamp !== undefined) writer.long(parameters.timestamp)
}
