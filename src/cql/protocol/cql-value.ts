/** A bound value left unset: [value] length -2, "not resulting in any change to the existing value" (v4 spec §3). */
export const NOT_SET: unique symbol = Symbol('cql.not-set')

/** A [value]: bytes, null (length -1) or not set (length -2). Bytes are views into the frame they came from. */
export type CqlValue = Buffer | null | typeof NOT_SET
