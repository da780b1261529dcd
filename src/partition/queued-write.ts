// One write a cut-off region queued for replay on heal: what it runs, with what, as whom, stamped when. Stored as one
// JSON text (a line of the file store, a field of the Redis stream), so a restarted Grey replays what the last one queued.
import { parseHlc, HlcParseError } from '../clock/hlc.js'

/** A bound parameter as the client sent it: text (UTF-8) or binary (base64), or SQL NULL. */
export type QueuedParam = { readonly text: string } | { readonly binary: string } | null

export interface QueuedWrite {
  /** Unique across Greys: the instance id and the HLC stamp. The marker table keys replays by it. */
  readonly id: string
  /** The HLC stamp taken when the write was queued, 16 hex digits (formatHlc): replay order and grey.hlc. */
  readonly hlc: string
  readonly protocol: 'pg'
  readonly region: string
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
  /** Wall-clock time it was queued, ISO 8601, for people reading the queue. */
  readonly queuedAt: string
}

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

const isString = (v: unknown): v is string => typeof v === 'string'

function isParam(v: unknown): v is QueuedParam {
  if (v === null) return true
  if (typeof v !== 'object') return false
  const keys = Object.keys(v)
  return keys.length === 1 && (isString((v as { text?: unknown }).text) || isString((v as { binary?: unknown }).binary))
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
  for (const key of ['id', 'hlc', 'region', 'user', 'database', 'sql', 'queuedAt'] as const) if (!isString(v[key])) return bad(key)
  if (parseHlc(v.hlc as string) instanceof HlcParseError) return bad('hlc')
  if (v.protocol !== 'pg') return bad('protocol')
  if (v.mode !== 'simple' && v.mode !== 'extended') return bad('mode')
  if (!Array.isArray(v.paramTypes) || !v.paramTypes.every((t) => Number.isInteger(t) && t >= 0)) return bad('paramTypes')
  if (!Array.isArray(v.params) || !v.params.every(isParam)) return bad('params')
  if (!Array.isArray(v.settings) || !v.settings.every(isString)) return bad('settings')
  return v as unknown as QueuedWrite
}
