// The bodies of transport frames (raft-frame.ts): JSON, with byte fields in base64. Raft traffic is a few messages
// per heartbeat interval, so readability wins over a binary encoding here. Every body carries the sender's
// per-connection sequence number (replays and reordering are refused) and its HLC stamp (merged by the receiver).
import { z } from 'zod'
import { formatHlc, parseHlc, HlcParseError, type HlcTimestamp } from '../clock/hlc.js'
import type { EntryKind, LogEntry, NodeId, RaftMessage, Snapshot } from './raft-message.js'
import type { SubmitOutcome } from './submit-outcome.js'

/** The first frame of a connection: who is calling, and a fresh connection id so that old streams cannot be replayed. */
export interface Hello {
  readonly kind: 'hello'
  readonly from: string
  readonly nodeId: NodeId
  readonly connection: string
  readonly sentAtMs: number
}

/** An entry a follower asks the leader to propose on its behalf. */
export interface ForwardedEntry {
  readonly kind: Exclude<EntryKind, 'noop'>
  readonly data: Uint8Array
}

export type PeerPayload =
  | { readonly kind: 'raft'; readonly message: RaftMessage }
  /** Sent on a link idle for a heartbeat interval, so that every member's last contact with every other is fresh. */
  | { readonly kind: 'ping' }
  | { readonly kind: 'forward'; readonly requestId: number; readonly entry: ForwardedEntry; readonly timeoutMs: number }
  | { readonly kind: 'forward-result'; readonly requestId: number; readonly outcome: SubmitOutcome }
  /** A Grey's view of the PostgreSQL primary it routes to, for the leader's failover decision; never logged. */
  | { readonly kind: 'report'; readonly report: HealthReport }

/** What a Grey says about the primary it checks (src/failover/primary-watch.ts). */
export interface HealthReport {
  readonly region: string
  /** The failover epoch of the primary it checked. */
  readonly epoch: number
  /** How long its checks have failed in a row, at sending; null when the last one succeeded (a duration: clocks differ). */
  readonly downForMs: number | null
}

/** What the transport hands on to its user: everything but its own pings. */
export type DeliveredPayload = Exclude<PeerPayload, { readonly kind: 'ping' }>

export interface WireFrame {
  readonly seq: number
  readonly hlc: HlcTimestamp
  readonly body: Hello | PeerPayload
}

const count = z.int().min(0)
const nodeId = z.int().min(1).max(0xffffffff)
const bytes = z.base64().transform((text) => new Uint8Array(Buffer.from(text, 'base64')))
const entryKind = z.enum(['command', 'conf-change', 'noop'])
const entry = z.strictObject({ index: count, term: count, kind: entryKind, data: bytes })
const snapshot = z.strictObject({
  index: count,
  term: count,
  config: z.strictObject({ voters: z.array(nodeId), learners: z.array(nodeId) }),
  data: bytes,
})
const envelope = { from: nodeId, to: nodeId, term: count }
const message = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal(['vote', 'pre-vote']),
    ...envelope,
    lastIndex: count,
    lastTerm: count,
    transfer: z.literal(true).optional(),
  }),
  z.strictObject({ type: z.literal(['vote-response', 'pre-vote-response']), ...envelope, reject: z.boolean() }),
  z.strictObject({ type: z.literal('append'), ...envelope, prevIndex: count, prevTerm: count, entries: z.array(entry), commit: count }),
  z.strictObject({
    type: z.literal('append-response'),
    ...envelope,
    index: count,
    reject: z.boolean(),
    rejectHint: count,
    hintTerm: count,
  }),
  z.strictObject({ type: z.literal('heartbeat'), ...envelope, commit: count, round: count }),
  z.strictObject({ type: z.literal('heartbeat-response'), ...envelope, round: count }),
  z.strictObject({ type: z.literal('snapshot'), ...envelope, snapshot }),
  z.strictObject({ type: z.literal('timeout-now'), ...envelope }),
])
const outcome = z.discriminatedUnion('status', [
  z.strictObject({ status: z.literal('applied'), index: count, error: z.string().nullable() }),
  z.strictObject({ status: z.literal(['refused', 'unavailable', 'unknown']), error: z.string() }),
  z.strictObject({ status: z.literal('not-leader'), leaderId: nodeId.nullable() }),
])
const body = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('hello'), from: z.string().min(1), nodeId, connection: z.string().min(16), sentAtMs: count }),
  z.strictObject({ kind: z.literal('raft'), message }),
  z.strictObject({ kind: z.literal('ping') }),
  z.strictObject({
    kind: z.literal('forward'),
    requestId: count,
    entry: z.strictObject({ kind: z.enum(['command', 'conf-change']), data: bytes }),
    timeoutMs: count,
  }),
  z.strictObject({ kind: z.literal('forward-result'), requestId: count, outcome }),
  z.strictObject({
    kind: z.literal('report'),
    report: z.strictObject({ region: z.string().min(1), epoch: count, downForMs: count.nullable() }),
  }),
])
const frame = z.strictObject({ seq: z.int().min(1), hlc: z.string(), body })

export function encodeWireFrame(frame: WireFrame): Buffer {
  return Buffer.from(JSON.stringify({ seq: frame.seq, hlc: formatHlc(frame.hlc), body: toJson(frame.body) }))
}

/** The frame in `bytes`, or why it is not one (a peer on another version of Grey, or a bug). */
export function decodeWireFrame(bytes: Buffer): WireFrame | Error {
  let json: unknown
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    return new Error(`grey: a raft frame that is not JSON (${(error as Error).message})`)
  }
  const parsed = frame.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return new Error(`grey: a raft frame of unknown shape (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`)
  }
  const hlc = parseHlc(parsed.data.hlc)
  if (hlc instanceof HlcParseError) return hlc
  return { seq: parsed.data.seq, hlc, body: parsed.data.body }
}

function toJson(body: Hello | PeerPayload): unknown {
  switch (body.kind) {
    case 'raft':
      return { kind: 'raft', message: messageToJson(body.message) }
    case 'forward':
      return { ...body, entry: { kind: body.entry.kind, data: base64(body.entry.data) } }
    default:
      return body
  }
}

function messageToJson(m: RaftMessage): unknown {
  if (m.type === 'append') return { ...m, entries: m.entries.map(entryToJson) }
  if (m.type === 'snapshot') return { ...m, snapshot: snapshotToJson(m.snapshot) }
  return m
}

function entryToJson(e: LogEntry): unknown {
  return { index: e.index, term: e.term, kind: e.kind, data: base64(e.data) }
}

function snapshotToJson(s: Snapshot): unknown {
  return { index: s.index, term: s.term, config: { voters: s.config.voters, learners: s.config.learners }, data: base64(s.data) }
}

function base64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')
}
