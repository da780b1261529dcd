// The Raft core's durable state in one directory (consensus.raft.data_dir):
//   raft.log    the entries after the snapshot (log-file.ts), appended and fsynced;
//   snapshot    the state machine's last snapshot with its index, term and membership, replaced atomically;
//   hardstate   term, vote and commit, replaced atomically (tmp, fsync, rename, fsync directory);
//   LOCK        the pid of the process that owns the directory.
// persist() writes a Ready in the order raft-node.ts requires: snapshot, entries, hard state; the caller sends the
// Ready's messages only after it returns.
import { readFileSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { readRecordFile, writeRecordFile } from './atomic-file.js'
import { LogFile, type LogFileRecovery } from './log-file.js'
import { decodeHardState, decodeSnapshot, encodeHardState, encodeSnapshot } from './raft-storage-codec.js'
import type { HardState, LogEntry, Snapshot } from './raft-message.js'
import type { Ready, StoredState } from './raft-node.js'

/** What recovery had to repair; all null when the directory was as the last run left it. */
export interface RaftStorageRecovery {
  /** A torn or damaged tail of raft.log, cut off. */
  readonly log: LogFileRecovery | null
  /** The stored commit index pointed past the entries that survived; it was lowered to the last of them. */
  readonly commitLoweredFrom: number | null
}

export interface OpenedRaftStorage {
  readonly storage: RaftStorage
  readonly stored: StoredState
  readonly recovery: RaftStorageRecovery
}

const ZERO_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 }
/** Directories owned by this process: a second RaftStorage on one of them would corrupt it. */
const openDirs = new Set<string>()

export class RaftStorage {
  readonly dir: string
  readonly #log: LogFile
  #closed = false

  private constructor(dir: string, log: LogFile) {
    this.dir = dir
    this.#log = log
  }

  /** Opens `dir` (created when missing) and reads back what the last run persisted. */
  static async open(dir: string): Promise<OpenedRaftStorage> {
    const path = resolve(dir)
    await mkdir(path, { recursive: true })
    await lockDirectory(path)
    try {
      return await RaftStorage.#load(path)
    } catch (error) {
      await unlockDirectory(path)
      throw error
    }
  }

  static async #load(dir: string): Promise<OpenedRaftStorage> {
    const hardPayload = await readRecordFile(join(dir, 'hardstate'))
    const hardState = hardPayload === null ? ZERO_HARD_STATE : decodeHardState(hardPayload)
    const snapshotPayload = await readRecordFile(join(dir, 'snapshot'))
    const stored = snapshotPayload === null ? null : decodeSnapshot(snapshotPayload)
    const snapshot: Snapshot | null = stored?.snapshot ?? null
    const after = snapshot?.index ?? 0
    const opened = await LogFile.open(join(dir, 'raft.log'))
    const log = opened.file
    let entries: LogEntry[]
    if (stored?.replacesLog === true && log.base <= after) {
      // The leader's snapshot was saved but the old log not yet discarded: finish that now.
      entries = []
      await log.reset(after + 1)
    } else {
      entries = opened.entries.filter((e) => e.index > after)
      if (log.base <= after) await log.compact(after + 1)
    }
    if (log.base > after + 1) {
      // Snapshots are saved before the log is cut, so a gap means files were lost or mixed up.
      await log.close()
      throw new Error(`grey: ${dir}/raft.log starts at entry ${log.base} but the snapshot ends at ${after}; the raft data_dir is damaged`)
    }
    const last = after + entries.length
    const commit = Math.min(hardState.commit, last)
    return {
      storage: new RaftStorage(dir, log),
      stored: { hardState: { ...hardState, commit }, snapshot, entries },
      recovery: { log: opened.recovery, commitLoweredFrom: commit < hardState.commit ? hardState.commit : null },
    }
  }

  /** Makes a Ready's snapshot, entries and hard state durable, in that order. */
  async persist(ready: Pick<Ready, 'snapshotToPersist' | 'snapshotToApply' | 'entriesToPersist' | 'hardState'>): Promise<void> {
    const snapshot = ready.snapshotToPersist
    if (snapshot !== null) {
      const replacesLog = ready.snapshotToApply === snapshot
      await writeRecordFile(join(this.dir, 'snapshot'), encodeSnapshot({ snapshot, replacesLog }))
      if (replacesLog) await this.#log.reset(snapshot.index + 1)
      else await this.#log.compact(snapshot.index + 1)
    }
    await this.#log.append(ready.entriesToPersist)
    if (ready.hardState !== null) await writeRecordFile(join(this.dir, 'hardstate'), encodeHardState(ready.hardState))
  }

  get logBytes(): number {
    return this.#log.sizeBytes
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#log.close()
    await unlockDirectory(this.dir)
  }
}

async function lockDirectory(dir: string): Promise<void> {
  const lockPath = join(dir, 'LOCK')
  const owner = await readFile(lockPath, 'utf8').then(
    (text) => Number(text.trim()),
    () => null,
  )
  const ownedHere = openDirs.has(dir)
  if (ownedHere || (owner !== null && owner !== process.pid && processIsAlive(owner))) {
    throw new Error(
      `grey: the raft data_dir ${dir} is in use by process ${ownedHere ? process.pid : owner}; ` +
        'give each Grey its own consensus.raft.data_dir (remove LOCK there if that process is gone)',
    )
  }
  await writeFile(lockPath, `${process.pid}\n`)
  openDirs.add(dir)
}

async function unlockDirectory(dir: string): Promise<void> {
  openDirs.delete(dir)
  await rm(join(dir, 'LOCK'), { force: true })
}

/** Running, and not a zombie: a Grey killed with -9 lingers as one where nobody reaps it (a container's PID 1). */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return true
  }
}
