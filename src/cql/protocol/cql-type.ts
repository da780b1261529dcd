import type { CqlBufferReader } from './cql-buffer-reader.js'
import type { CqlBufferWriter } from './cql-buffer-writer.js'

/** Option ids of the types without parameters (v4 spec §4.2.5.2); duration (0x15) is v5's, listed for tolerance. */
export const NATIVE_TYPE_IDS = {
  ascii: 0x0001,
  bigint: 0x0002,
  blob: 0x0003,
  boolean: 0x0004,
  counter: 0x0005,
  decimal: 0x0006,
  double: 0x0007,
  float: 0x0008,
  int: 0x0009,
  timestamp: 0x000b,
  uuid: 0x000c,
  varchar: 0x000d,
  varint: 0x000e,
  timeuuid: 0x000f,
  inet: 0x0010,
  date: 0x0011,
  time: 0x0012,
  smallint: 0x0013,
  tinyint: 0x0014,
  duration: 0x0015,
} as const

export type NativeTypeName = keyof typeof NATIVE_TYPE_IDS

const CUSTOM = 0x0000
const LIST = 0x0020
const MAP = 0x0021
const SET = 0x0022
const UDT = 0x0030
const TUPLE = 0x0031

/** Deeper nesting than this is refused when reading, so that a hostile frame cannot exhaust the stack. */
export const MAX_TYPE_NESTING = 64

/** A column's type, the [option] of a column spec. */
export type CqlType =
  | { kind: NativeTypeName }
  | { kind: 'custom'; className: string }
  | { kind: 'list'; element: CqlType }
  | { kind: 'set'; element: CqlType }
  | { kind: 'map'; key: CqlType; value: CqlType }
  | { kind: 'udt'; keyspace: string; name: string; fields: { name: string; type: CqlType }[] }
  | { kind: 'tuple'; elements: CqlType[] }

const NATIVE_BY_ID = new Map<number, { kind: NativeTypeName }>(
  Object.entries(NATIVE_TYPE_IDS).map(([name, id]) => [id, Object.freeze({ kind: name as NativeTypeName })]),
)

/** Reads an [option] type. Native types come back as shared frozen objects. */
export function readCqlType(reader: CqlBufferReader, depth = 0): CqlType {
  if (depth >= MAX_TYPE_NESTING) throw reader.error(`nests column types more than ${MAX_TYPE_NESTING} deep`)
  const id = reader.short()
  const native = NATIVE_BY_ID.get(id)
  if (native !== undefined) return native
  switch (id) {
    case CUSTOM:
      return { kind: 'custom', className: reader.string() }
    case LIST:
      return { kind: 'list', element: readCqlType(reader, depth + 1) }
    case SET:
      return { kind: 'set', element: readCqlType(reader, depth + 1) }
    case MAP: {
      const key = readCqlType(reader, depth + 1)
      return { kind: 'map', key, value: readCqlType(reader, depth + 1) }
    }
    case UDT: {
      const keyspace = reader.string()
      const name = reader.string()
      const count = reader.short()
      const fields: { name: string; type: CqlType }[] = []
      for (let i = 0; i < count; i++) {
        const fieldName = reader.string()
        fields.push({ name: fieldName, type: readCqlType(reader, depth + 1) })
      }
      return { kind: 'udt', keyspace, name, fields }
    }
    case TUPLE: {
      const count = reader.short()
      const elements: CqlType[] = []
      for (let i = 0; i < count; i++) elements.push(readCqlType(reader, depth + 1))
      return { kind: 'tuple', elements }
    }
    default:
      throw reader.error(`has an unknown column type id 0x${id.toString(16).padStart(4, '0')}`)
  }
}

export function writeCqlType(writer: CqlBufferWriter, type: CqlType): void {
  switch (type.kind) {
    case 'custom':
      writer.short(CUSTOM).string(type.className)
      return
    case 'list':
      writer.short(LIST)
      writeCqlType(writer, type.element)
      return
    case 'set':
      writer.short(SET)
      writeCqlType(writer, type.element)
      return
    case 'map':
      writer.short(MAP)
      writeCqlType(writer, type.key)
      writeCqlType(writer, type.value)
      return
    case 'udt':
      writer.short(UDT).string(type.keyspace).string(type.name).short(type.fields.length)
      for (const field of type.fields) {
        writer.string(field.name)
        writeCqlType(writer, field.type)
      }
      return
    case 'tuple':
      writer.short(TUPLE).short(type.elements.length)
      for (const element of type.elements) writeCqlType(writer, element)
      return
    default:
      writer.short(NATIVE_TYPE_IDS[type.kind])
  }
}
