// The Raft log on disk: one append-only file, a 16-byte header ("GREYLOG1" and the index of its first entry) and
// then one record (log-record.ts) per entry, in index order without gaps. Appends are fsynced before the caller
// acknowledges anything; a suffix the leader overwrites is cut off with ftruncate, made durable before the new
// entries are written, so that a crash never leaves old entries after new ones.
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { writeFileAtomic } from './atomic-file.js'
import { encodeRecord, readRecord } from './log-record.js'
import { decodeLogEntry, encodeLogEntry } from './raft-storage-codec.js'
import type { LogEntry } from './raft-message.js'

const MAGIC = 'GREYLOG1'
const HEADER_BYTES = 16

/** A damaged tail that recovery cut off: a torn last append, or a record whose CRC or contents failed. */
export interface LogFileRecovery {
  readonly offset: number
  readonly droppedBytes: number
  readonly reason: string
}

export interface OpenedLogFile {
  readonly file: LogFile
  readonly entries: LogEntry[]
  readonly recovery: LogFileRecovery | null
}

export class LogFile {
  readonly path: string
  #handle: FileHandle
  #base: number
  /** #offsets[i]: where the record of entry #base + i starts. */
  #offsets: number[]
  #size: number

  private constructor(path: string, handle: FileHandle, base: number, offsets: number[], size: number) {
    this.path = path
    this.#handle = handle
    this.#base = base
    this.#offsets = offsets
    this.#size = size
  }

  /** Opens (or creates, empty from index 1) the log at `path`, cutting off a damaged tail. */
  static async open(path: string): Promise<OpenedLogFile> {
    let bytes: Buffer
    try {
      bytes = await readFile(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      bytes = header(1)
      await writeFileAtomic(path, bytes)
    }
    if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) {
      throw new Error(`grey: ${path} is not a Grey raft log (bad header); remove the raft data_dir and rejoin the node`)
    }
    const base = Number(bytes.readBigUInt64BE(MAGIC.length))
    const entries: LogEntry[] = []
    const offsets: number[] = []
    let offset = HEADER_BYTES
    let damage: string | null = null
    for (;;) {
      const record = readRecord(bytes, offset)
      if (record.kind === 'end') break
      if (record.kind === 'damaged') {
        damage = record.reason
        break
      }
      const expected = base + entries.length
      let entry: LogEntry
      try {
        entry = decodeLogEntry(record.payload)
      } catch (error) {
        damage = `a record that is not an entry (${(error as Error).message})`
        break
      }
      if (entry.index !== expected) {
        damage = `entry ${entry.index} where ${expected} was expected`
        break
      }
      entries.push(entry)
      offsets.push(offset)
      offset = record.end
    }
    const handle = await open(path, 'r+')
    let recovery: LogFileRecovery | null = null
    if (damage !== null) {
      recovery = { offset, droppedBytes: bytes.length - offset, reason: damage }
      await handle.truncate(offset)
      await handle.sync()
    }
    return { file: new LogFile(path, handle, base, offsets, offset), entries, recovery }
  }

  /** Index of the first entry this file holds or will hold. */
  get base(): number {
    return this.#base
  }

  /** Index of the last entry on disk; base - 1 when there is none. */
  get lastIndex(): number {
    return this.#base + this.#offsets.length - 1
  }

  get sizeBytes(): number {
    return this.#size
  }

  /** Appends `entries`, first dropping every stored entry from the first one's index on; durable on return. */
  async append(entries: readonly LogEntry[]): Promise<void> {
    const first = entries[0]
    if (first === undefined) return
    if (first.index < this.#base || first.index > this.lastIndex + 1) {
      throw new RangeError(`grey: cannot append entry ${first.index} to ${this.path}, which holds ${this.#base}..${this.lastIndex}`)
    }
    if (first.index <= this.lastIndex) {
      const cut = this.#offsets[first.index - this.#base] as number
      await this.#handle.truncate(cut)
      await this.#handle.sync()
      this.#offsets.length = first.index - this.#base
      this.#size = cut
    }
    const records = entries.map((entry) => encodeRecord(encodeLogEntry(entry)))
    let offset = this.#size
    for (const record of records) {
      this.#offsets.push(offset)
      offset += record.length
    }
    const bytes = Buffer.concat(records, offset - this.#size)
    await this.#handle.write(bytes, 0, bytes.length, this.#size)
    this.#size = offset
    await this.#handle.datasync()
  }

  /** Rewrites the file without the entries before `firstKept` (a snapshot holds them now). */
  async compact(firstKept: number): Promise<void> {
    if (firstKept <= this.#base) return
    const from = firstKept <= this.lastIndex ? (this.#offsets[firstKept - this.#base] as number) : this.#size
    const kept = Buffer.alloc(this.#size - from)
    if (kept.length > 0) await this.#handle.read(kept, 0, kept.length, from)
    const offsets = this.#offsets.slice(firstKept - this.#base).map((offset) => offset - from + HEADER_BYTES)
    await this.#replace(firstKept, kept, offsets)
  }

  /** Rewrites the file empty, its next entry being `base` (the leader sent a snapshot that replaces the log). */
  async reset(base: number): Promise<void> {
    await this.#replace(base, Buffer.alloc(0), [])
  }

  async close(): Promise<void> {
    await this.#handle.close()
  }

  async #replace(base: number, records: Buffer, offsets: number[]): Promise<void> {
    await writeFileAtomic(this.path, Buffer.concat([header(base), records]))
    await this.#handle.close()
    this.#handle = await open(this.path, 'r+')
    this.#base = base
    this.#offsets = offsets
    this.#size = HEADER_BYTES + records.length
  }
}

function header(base: number): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES)
  bytes.write(MAGIC, 0, 'latin1')
  bytes.writeBigUInt64BE(BigInt(base), MAGIC.length)
  return bytes
}
