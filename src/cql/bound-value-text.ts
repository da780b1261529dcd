import type { CqlType } from './protocol/cql-type.js'
import type { CqlValue } from './protocol/cql-value.js'

/**
 * A bound value as the text a CQL literal of it would be, for affinity keys: `user_id = ?` bound to the int 123 gives
 * "123", as `user_id = 123` does. Text, integers and UUIDs are read by their type; null for anything else (and for
 * null or unset values), so the key is then not known.
 */
export function boundValueText(value: CqlValue | undefined, type: CqlType | undefined): string | null {
  if (!Buffer.isBuffer(value) || type === undefined) return null
  switch (type.kind) {
    case 'varchar':
    case 'ascii':
      return value.toString('utf8')
    case 'int':
      return value.length === 4 ? String(value.readInt32BE(0)) : null
    case 'bigint':
      return value.length === 8 ? String(value.readBigInt64BE(0)) : null
    case 'smallint':
      return value.length === 2 ? String(value.readInt16BE(0)) : null
    case 'tinyint':
      return value.length === 1 ? String(value.readInt8(0)) : null
    case 'uuid':
    case 'timeuuid': {
      if (value.length !== 16) return null
      const hex = value.toString('hex')
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    }
    default:
      return null
  }
}
