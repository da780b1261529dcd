import { AuthenticationCode, BackendMessageType, type TransactionStatus } from './backend-message-type.js'
import { BufferWriter } from './buffer-writer.js'
import { NOTICE_FIELD_CODES, type NoticeFields } from './notice-fields.js'

// The backend messages Grey writes to clients itself, one function per message. Messages without variable parts are
// built once and shared: do not modify a returned Buffer. The others are built in one reused scratch writer and copied
// out at their exact size.

/** 0 text, 1 binary. */
export type FormatCode = 0 | 1

export interface FieldDescription {
  name: string
  /** OID of the table the column comes from, or 0. */
  tableOid?: number
  /** Attribute number of that column, or 0. */
  columnAttr?: number
  typeOid: number
  /** pg_type.typlen: negative for variable width (-1 varlena, -2 cstring). */
  typeSize: number
  /** pg_attribute.atttypmod; -1 when there is none. */
  typeModifier?: number
  format?: FormatCode
}

const writer = new BufferWriter(1024)

/** Every message starts from an empty writer, so that one that threw half-way (a NUL in a string) leaves no trace. */
function begin(type: number): BufferWriter {
  writer.reset()
  return writer.startMessage(type)
}

function empty(type: number): Buffer {
  return begin(type).endMessage().toBuffer()
}

function authentication(code: number): BufferWriter {
  return begin(BackendMessageType.Authentication).int32(code)
}

const AUTHENTICATION_OK = authentication(AuthenticationCode.Ok).endMessage().toBuffer()
const AUTHENTICATION_CLEARTEXT_PASSWORD = authentication(AuthenticationCode.CleartextPassword).endMessage().toBuffer()
const READY_FOR_QUERY = {
  I: begin(BackendMessageType.ReadyForQuery).byte(0x49).endMessage().toBuffer(),
  T: begin(BackendMessageType.ReadyForQuery).byte(0x54).endMessage().toBuffer(),
  E: begin(BackendMessageType.ReadyForQuery).byte(0x45).endMessage().toBuffer(),
} as const
const EMPTY_QUERY_RESPONSE = empty(BackendMessageType.EmptyQueryResponse)
const PARSE_COMPLETE = empty(BackendMessageType.ParseComplete)
const BIND_COMPLETE = empty(BackendMessageType.BindComplete)
const CLOSE_COMPLETE = empty(BackendMessageType.CloseComplete)
const NO_DATA = empty(BackendMessageType.NoData)
const PORTAL_SUSPENDED = empty(BackendMessageType.PortalSuspended)
const SSL_ACCEPTED = Buffer.from('S')
const SSL_REFUSED = Buffer.from('N')

export function authenticationOk(): Buffer {
  return AUTHENTICATION_OK
}

export function authenticationCleartextPassword(): Buffer {
  return AUTHENTICATION_CLEARTEXT_PASSWORD
}

/** The client answers with 'md5' + md5(md5(password + user) + salt) in hex. */
export function authenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw new RangeError(`an MD5 salt is 4 bytes, not ${salt.length}`)
  return authentication(AuthenticationCode.MD5Password).bytes(salt).endMessage().toBuffer()
}

/** The SASL mechanisms offered, most preferred first (SCRAM-SHA-256, and SCRAM-SHA-256-PLUS with TLS binding). */
export function authenticationSASL(mechanisms: readonly string[]): Buffer {
  authentication(AuthenticationCode.SASL)
  for (const mechanism of mechanisms) writer.cstring(mechanism)
  return writer.byte(0).endMessage().toBuffer()
}

/** The server-first-message of SCRAM. */
export function authenticationSASLContinue(data: Buffer | string): Buffer {
  return saslData(AuthenticationCode.SASLContinue, data)
}

/** The server-final-message of SCRAM (`v=…`); AuthenticationOk follows. */
export function authenticationSASLFinal(data: Buffer | string): Buffer {
  return saslData(AuthenticationCode.SASLFinal, data)
}

function saslData(code: number, data: Buffer | string): Buffer {
  authentication(code)
  if (typeof data === 'string') writer.string(data)
  else writer.bytes(data)
  return writer.endMessage().toBuffer()
}

export function parameterStatus(name: string, value: string): Buffer {
  return begin(BackendMessageType.ParameterStatus).cstring(name).cstring(value).endMessage().toBuffer()
}

/** A number is written as the 4-byte key of protocol 3.0; a Buffer as is (protocol 3.2 allows up to 256 bytes). */
export function backendKeyData(processId: number, secretKey: number | Buffer): Buffer {
  begin(BackendMessageType.BackendKeyData).int32(processId)
  if (typeof secretKey === 'number')
    writer.uint32(secretKey >>> 0) // signed or unsigned, the same 4 bytes
  else writer.bytes(secretKey)
  return writer.endMessage().toBuffer()
}

export function readyForQuery(status: TransactionStatus): Buffer {
  return READY_FOR_QUERY[status]
}

export function errorResponse(fields: NoticeFields): Buffer {
  return noticeOrError(BackendMessageType.ErrorResponse, fields)
}

/** Also the carrier of Grey's stale-read flag (severity WARNING). */
export function noticeResponse(fields: NoticeFields): Buffer {
  return noticeOrError(BackendMessageType.NoticeResponse, fields)
}

function noticeOrError(type: number, fields: NoticeFields): Buffer {
  begin(type)
  for (const [key, code] of NOTICE_FIELD_CODES) {
    const value = key === 'severityNonLocalized' ? (fields.severityNonLocalized ?? fields.severity) : fields[key]
    if (value !== undefined) writer.byte(code).cstring(value)
  }
  return writer.byte(0).endMessage().toBuffer()
}

/** The command tag: 'SELECT 1', 'INSERT 0 1', 'SET', 'BEGIN', … */
export function commandComplete(tag: string): Buffer {
  return begin(BackendMessageType.CommandComplete).cstring(tag).endMessage().toBuffer()
}

/** The answer to an empty query string, in place of CommandComplete. */
export function emptyQueryResponse(): Buffer {
  return EMPTY_QUERY_RESPONSE
}

export function rowDescription(fields: readonly FieldDescription[]): Buffer {
  begin(BackendMessageType.RowDescription).int16(fields.length)
  for (const field of fields) {
    writer
      .cstring(field.name)
      .uint32(field.tableOid ?? 0)
      .int16(field.columnAttr ?? 0)
      .uint32(field.typeOid)
      .int16(field.typeSize)
      .int32(field.typeModifier ?? -1)
      .int16(field.format ?? 0)
  }
  return writer.endMessage().toBuffer()
}

/** One row; a string is written as UTF-8 text, null as SQL NULL (length -1). */
export function dataRow(columns: readonly (Buffer | string | null)[]): Buffer {
  begin(BackendMessageType.DataRow).int16(columns.length)
  for (const column of columns) {
    if (column === null) {
      writer.int32(-1)
    } else if (typeof column === 'string') {
      const at = writer.reserveInt32()
      const before = writer.length
      writer.string(column)
      writer.patchInt32(at, writer.length - before)
    } else {
      writer.int32(column.length).bytes(column)
    }
  }
  return writer.endMessage().toBuffer()
}

export function parseComplete(): Buffer {
  return PARSE_COMPLETE
}

export function bindComplete(): Buffer {
  return BIND_COMPLETE
}

export function closeComplete(): Buffer {
  return CLOSE_COMPLETE
}

/** The answer to Describe of a statement or portal that returns no rows. */
export function noData(): Buffer {
  return NO_DATA
}

/** Execute stopped at its row limit; the portal can be executed again. */
export function portalSuspended(): Buffer {
  return PORTAL_SUSPENDED
}

export function parameterDescription(typeOids: readonly number[]): Buffer {
  begin(BackendMessageType.ParameterDescription).int16(typeOids.length)
  for (const oid of typeOids) writer.uint32(oid)
  return writer.endMessage().toBuffer()
}

/** Overall format (0 text, 1 binary), then one format code per column; all 0 when the overall format is text. */
export function copyInResponse(format: FormatCode, columnFormats: readonly FormatCode[]): Buffer {
  return copyResponse(BackendMessageType.CopyInResponse, format, columnFormats)
}

export function copyOutResponse(format: FormatCode, columnFormats: readonly FormatCode[]): Buffer {
  return copyResponse(BackendMessageType.CopyOutResponse, format, columnFormats)
}

function copyResponse(type: number, format: FormatCode, columnFormats: readonly FormatCode[]): Buffer {
  begin(type).int8(format).int16(columnFormats.length)
  for (const columnFormat of columnFormats) writer.int16(columnFormat)
  return writer.endMessage().toBuffer()
}

/**
 * The newest minor version Grey speaks for the requested major, and the `_pq_.` options it did not recognise. Sent
 * after a StartupMessage asking for a newer minor (3.2) or carrying `_pq_.` options, before authentication.
 */
export function negotiateProtocolVersion(newestMinorVersion: number, unrecognizedOptions: readonly string[]): Buffer {
  begin(BackendMessageType.NegotiateProtocolVersion).int32(newestMinorVersion).int32(unrecognizedOptions.length)
  for (const option of unrecognizedOptions) writer.cstring(option)
  return writer.endMessage().toBuffer()
}

/**
 * The one unframed byte that answers SSLRequest: 'S' (the TLS handshake follows) or 'N' (go on in plaintext).
 * GSSENCRequest is answered 'N' the same way: Grey does not offer GSSAPI encryption.
 */
export function sslResponse(accept: boolean): Buffer {
  return accept ? SSL_ACCEPTED : SSL_REFUSED
}
