// One write a cut-off region queued for replay on heal: what it runs, with what, as whom, stamped when. Stored as one
// JSON text (a line of the file store, a field of the Redis stream), so a restarted Grey replays what the last one queued.
import { parseHlc, HlcParseError } from '../clock/hlc.js'
import { NOT_SET, type CqlValue } from '../cql/protocol/cql-value.js'

/** A bound parameter as the client sent it: text (UTF-8) or binary (base64), or SQL NULL. */
export type QueuedParam = { readonly text: string } | { readonly binary: string } | null

/** What every queued write has, whatever its protocol. */
export interface QueuedWriteBase {
  /** Unique across Greys: the instance id and the HLC stamp. The marker table keys replays by it. */
  readonly id: string
  /** The HLC stamp taken when the write was queued, 16 hex digits (formatHlc): replay order and grey.hlc. */
  readonly hlc: string
  readonly region: string
  /** Wall-clock time it was queued, ISO 8601, for people reading the queue. */
  readonly queuedAt: string
}

export interface PgQueuedWrite extends QueuedWriteBase {
  readonly protocol: 'pg'
  readonly user: string
  readonly database: string
  readonly sql: string
  /** simple: the client's Query, replayed as a simple query; extended: Parse/Bind/Execute with `paramTypes` and `params`. */
  readonly mode: 'simple' | 'extended'
  /** The Parse's parameter type OIDs (0: left to the server). */
  readonly paramTypes: readonly number[]
  readonly params: readonly QueuedParam[]
  /** The session's SET statements in force when it was queued, replayed as SET LOCAL. */
  readonly settings: readonly string[]
}

/**
 * A CQL [value] as the client sent it: its bytes (base64), null, or not set (v4 spec §3). Replayed as these same bytes,
 * the node decodes them by the statement's bind markers, as it did the client's: no type is needed to re-bind them.
 */
export type QueuedCqlValue = { readonly bytes: string } | null | { readonly unset: true }

export interface CqlQueuedWrite extends QueuedWriteBase {
  readonly protocol: 'cql'
  /** The keyspace it runs in: the one it names, else the session's (QUERY) or the one it was prepared in (EXECUTE). */
  readonly keyspace: string
  /** The QUERY's text, or the text of the prepared statement an EXECUTE named; replayed as a QUERY. */
  readonly query: string
  readonly values: readonly QueuedCqlValue[]
  /** The bind marker of each value (flag 0x40), or null for positional values. */
  readonly names: readonly string[] | null
  /** The consistency the client asked for; the replay is routed with it as the request would be now. */
  readonly consistency: number
  /**
   * The write timestamp, microseconds since the epoch (decimal: 64 bits do not fit a JS number), from the HLC stamp
   * (wall_ms * 1000 + logical, ARCHITECTURE §6); the replay sends it as the default timestamp (v4 spec §4.1.4, 0x20).
   */
  readonly timestampMicros: string
}

/** A queued write of either front end; `protocol` says which. */
export type QueuedWrite = PgQueuedWrite | CqlQueuedWrite

export function encodeQueuedWrite(write: QueuedWrite): string {
  return JSON.stringify(write)
}

/** The bound value as Grey replays it: a string for text, the bytes for binary (pg-protocol's Bind sends those as format 1). */
export function paramValue(param: QueuedParam): string | Buffer | null {
  if (param === null) return null
  return 'text' in param ? param.text : Buffer.from(param.binary, 'base64')
}

/** The client's Bind values with their format codes (none: all text; one: for all; else one each). */
export function queuedParams(values: readonly (Buffer | null)[], formats: readonly number[]): QueuedParam[] {
  return values.map((value, i) => {
    if (value === null) return null
    const format = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i]
    return format === 1 ? { binary: value.toString('base64') } : { text: value.toString('utf8') }
  })
}

/** The client's bound CQL values, copied out of the frame they are views into. */
export function queuedCqlValues(values: readonly CqlValue[]): QueuedCqlValue[] {
  return values.map((v) => (v === null ? null : v === NOT_SET ? { unset: true } : { bytes: v.toString('base64') }))
}

/** The inverse of queuedCqlValues, for the replayed QUERY. */
export function cqlValue(value: QueuedCqlValue): CqlValue {
  if (value === null) return null
  return 'unset' in value ? NOT_SET : Buffer.from(value.bytes, 'base64')
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every(isString)

function isParam(v: unknown): v is QueuedParam {
  if (v === null) return true
  if (typeof v !== 'object') return false
  const keys = Object.keys(v)
  return keys.length === 1 && (isString((v as { text?: unknown }).text) || isString((v as { binary?: unknown }).binary))
}

function isCqlValue(v: unknown): v is QueuedCqlValue {
  if (v === null) return true
  if (typeof v !== 'object' || Object.keys(v).length !== 1) return false
  const { bytes, unset } = v as { bytes?: unknown; unset?: unknown }
  return (isString(bytes) && /^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) || unset === true
}

/** The inverse of encodeQueuedWrite; a sentence naming what is wrong for text that is not a queued write. */
export function decodeQueuedWrite(text: string): QueuedWrite | Error {
  let v: Record<string, unknown>
  try {
    v = JSON.parse(text) as Record<string, unknown>
  } catch (error) {
    return new Error(`grey: a queued write is not JSON: ${(error as Error).message}`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return new Error('grey: a queued write is not a JSON object')
  const bad = (key: string): Error => new Error(`grey: queued write ${String(v.id)}: ${key} is missing or malformed`)
  for (const key of ['id', 'hlc', 'region', 'queuedAt'] as const) if (!isString(v[key])) return bad(key)
  if (parseHlc(v.hlc as string) instanceof HlcParseError) return bad('hlc')
  if (v.protocol === 'cql') return checkCql(v, bad)
  if (v.protocol !== 'pg') return bad('protocol')
  for (const key of ['user', 'database', 'sql'] as const) if (!isString(v[key])) return bad(key)
  if (v.mode !== 'simple' && v.mode !== 'extended') return bad('mode')
  if (!Array.isArray(v.paramTypes) || !v.paramTypes.every((t) => Number.isInteger(t) && t >= 0)) return bad('paramTypes')
  if (!Array.isArray(v.params) || !v.params.every(isParam)) return bad('params')
  if (!isStringList(v.settings)) return bad('settings')
  return v as unknown as PgQueuedWrite
}

function checkCql(v: Record<string, unknown>, bad: (key: string) => Error): CqlQueuedWrite | Error {
  for (const key of ['keyspace', 'query'] as const) if (!isString(v[key])) return bad(key)
  if (!Array.isArray(v.values) || !v.values.every(isCqlValue)) return bad('values')
  if (v.names !== null && (!isStringList(v.names) || (v.names as unknown[]).length !== v.values.length)) return bad('names')
  // Consistency levels are [short]s 0x0000-0x000A (v4 spec §3).
  if (!Number.isInteger(v.consistency) || (v.consistency as number) < 0 || (v.consistency as number) > 0x0a) return bad('consistency')
  if (!isString(v.timestampMicros) || !/^-?\d{1,19}$/.test(v.timestampMicros)) return bad('timestampMicros')
  return v as unknown as CqlQueuedWrite
}
