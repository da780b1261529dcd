// Payloads of the Raft files, inside the records of log-record.ts: log entries (binary, as they are the bulk),
// the snapshot (a JSON header and the state machine's bytes) and the hard state (JSON).
import type { ClusterConfig, EntryKind, HardState, LogEntry, Snapshot } from './raft-message.js'

const ENTRY_KINDS: readonly EntryKind[] = ['command', 'conf-change', 'noop']
/** kind (1) + index (8) + term (8). */
const ENTRY_HEADER_BYTES = 17

/** [u8 kind][u64 index][u64 term][data]. */
export function encodeLogEntry(entry: LogEntry): Buffer {
  const payload = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + entry.data.length)
  payload.writeUInt8(ENTRY_KINDS.indexOf(entry.kind), 0)
  payload.writeBigUInt64BE(BigInt(entry.index), 1)
  payload.writeBigUInt64BE(BigInt(entry.term), 9)
  payload.set(entry.data, ENTRY_HEADER_BYTES)
  return payload
}

export function decodeLogEntry(payload: Buffer): LogEntry {
  const kind = payload.length >= ENTRY_HEADER_BYTES ? ENTRY_KINDS[payload.readUInt8(0)] : undefined
  if (kind === undefined) throw new RangeError(`not a log entry (${payload.length} bytes, kind byte ${payload[0] ?? 'missing'})`)
  // Copied out: the payload is a view of the whole file read at start-up.
  const data = Uint8Array.prototype.slice.call(payload, ENTRY_HEADER_BYTES)
  return { kind, index: Number(payload.readBigUInt64BE(1)), term: Number(payload.readBigUInt64BE(9)), data }
}

/** A snapshot on disk; `replacesLog` when it came from the leader and the log must not be used alongside it. */
export interface StoredSnapshot {
  readonly snapshot: Snapshot
  readonly replacesLog: boolean
}

interface SnapshotHeader {
  index: number
  term: number
  voters: number[]
  learners: number[]
  replacesLog: boolean
}

/** [u32 header length][header JSON][state machine bytes]. */
export function encodeSnapshot({ snapshot, replacesLog }: StoredSnapshot): Buffer {
  const header: SnapshotHeader = {
    index: snapshot.index,
    term: snapshot.term,
    voters: [...snapshot.config.voters],
    learners: [...snapshot.config.learners],
    replacesLog,
  }
  const json = Buffer.from(JSON.stringify(header))
  const payload = Buffer.allocUnsafe(4 + json.length + snapshot.data.length)
  payload.writeUInt32BE(json.length, 0)
  payload.set(json, 4)
  payload.set(snapshot.data, 4 + json.length)
  return payload
}

export function decodeSnapshot(payload: Buffer): StoredSnapshot {
  const length = payload.length >= 4 ? payload.readUInt32BE(0) : -1
  if (length < 0 || 4 + length > payload.length) throw new RangeError(`not a snapshot (${payload.length} bytes)`)
  const header = JSON.parse(payload.subarray(4, 4 + length).toString('utf8')) as Partial<SnapshotHeader>
  const { index, term, voters, learners, replacesLog } = header
  if (!isCount(index) || !isCount(term) || !isIdList(voters) || !isIdList(learners) || typeof replacesLog !== 'boolean') {
    throw new RangeError('not a snapshot header')
  }
  const config: ClusterConfig = { voters, learners }
  const data = Uint8Array.prototype.slice.call(payload, 4 + length)
  return { snapshot: { index, term, config, data }, replacesLog }
}

export function encodeHardState(state: HardState): Buffer {
  return Buffer.from(JSON.stringify({ term: state.term, vote: state.vote, commit: state.commit }))
}

export function decodeHardState(payload: Buffer): HardState {
  const { term, vote, commit } = JSON.parse(payload.toString('utf8')) as Partial<HardState>
  if (!isCount(term) || !isCount(commit) || !(vote === null || (isCount(vote) && vote > 0))) throw new RangeError('not a hard state')
  return { term, vote, commit }
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function isIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((id) => isCount(id) && id > 0)
}
